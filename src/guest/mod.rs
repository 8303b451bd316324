//! Guest workloads: every kind of sandbox pooling-lab can measure, behind one
//! interface ([`Guest`]).
//!
//! A kind is loaded and linked once per variant ([`prepare`]), then each
//! sandbox is instantiated ([`Guest::instantiate`]), initialised on its
//! first call ([`Guest::initialise`]), called any number of times
//! ([`Guest::call`], which checks the result: a wrong result is a fault) and
//! torn down by dropping its store. The host plumbing (stores, WASI
//! contexts, limits, deadlines, output pipes) is in [`crate::host`], beneath
//! this module; scenarios sit above it.
//!
//! | kind | what it is | one call |
//! |---|---|---|
//! | `synthetic` | a generated core module | `run()` |
//! | `synthetic-component` | a generated component | `run()` |
//! | `synthetic-http` | a generated `wasi:http/proxy` component | one HTTP request |
//! | `wasi-reactor` | a WASI p1 reactor driven through an argv export (QuickJS) | `argv_export(argc, argv)` |
//! | `python` | CPython for wasm32-wasip1 | one `turn` |
//! | `wasi-command` | a WASI p1 command module | `_start` (once per instance) |
//! | `core` | a core module with its own ABI | the `[guest] calls` plan |
//! | `cli-component` | a `wasi:cli/run` component | `run` (once per instance) |
//! | `http-component` | a `wasi:http/proxy` component | one HTTP request |

pub mod artifact;
pub mod check;
pub mod command;
pub mod component;
pub mod fetched;
pub mod http;
mod init;
mod loaded;
pub mod plan;
pub mod preflight;
mod prepared;
pub mod python;
pub mod reactor;
mod sandbox;
pub mod shape;
pub mod snapshot;
pub mod synthetic;
pub mod synthetic_component;
pub mod wasm_file;

pub use artifact::{
    PreinitSnapshot, VaryingOutput, artifact_path, ensure_artifact, guest_wasm, write_cached,
};
pub use fetched::FETCH_COMMAND;
pub use prepared::{Prepared, engine, guest_for, needs_artifact, prepare};
pub use sandbox::{Guest, Sandbox, grants, instantiate_core, memory_export};
pub use snapshot::resolve_preinit;
