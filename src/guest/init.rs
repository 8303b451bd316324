//! A WASI reactor's `_initialize`, run once per store.

use crate::host::Host;
use wasmtime::{Instance, Store};

/// Per-store marker: the instance's `_initialize` has run.
struct Initialised;

/// Calls a WASI reactor's `_initialize` (if it has one) the first time a
/// store's instance is used; later calls find the store initialised.
pub(crate) fn initialize_once(
    store: &mut Store<Host>,
    instance: &Instance,
) -> wasmtime::Result<()> {
    if !store.data().state.contains::<Initialised>() {
        // `get_func`, not `get_typed_func`: a module without `_initialize`
        // (a wizer snapshot) is the common case of a fresh Python sandbox,
        // and a failed typed lookup builds an error message every time.
        if let Some(init) = instance.get_func(&mut *store, "_initialize") {
            init.typed::<(), ()>(&*store)?.call(&mut *store, ())?;
        }
        store.data_mut().state.insert(Initialised);
    }
    Ok(())
}
