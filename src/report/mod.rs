//! Result output, one module per format: JSON (the contract) and Markdown
//! (the side-by-side table people read, also printed on stdout).

pub mod compare;
pub mod json;
pub mod markdown;
pub mod plot;
pub mod vs_baseline;
pub mod warnings;

pub use crate::units::{duration, gib, mib};
