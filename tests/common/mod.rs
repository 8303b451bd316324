//! Helpers shared by the integration tests.

#![allow(dead_code)]

use pooling_lab::guest::synthetic;
use pooling_lab::settings::{ByteSize, GuestSettings};
use wasmtime::{Config, Engine, InstancePre, Linker, Module};

/// A synthetic guest with an `image` data image that dirties `dirty` bytes per call.
pub fn guest(image: u64, dirty: u64) -> GuestSettings {
    GuestSettings {
        image_size: ByteSize(image),
        dirty_per_call: ByteSize(dirty),
        ..GuestSettings::default()
    }
}

/// An on-demand engine and the linked synthetic guest.
pub fn engine_and_pre(g: &GuestSettings) -> (Engine, InstancePre<()>) {
    let engine = Engine::new(&Config::new()).unwrap();
    let module = Module::new(&engine, synthetic::module_bytes(g)).unwrap();
    let pre = Linker::new(&engine).instantiate_pre(&module).unwrap();
    (engine, pre)
}

/// Calls the guest's workload.
pub fn call(store: &mut wasmtime::Store<()>, instance: wasmtime::Instance) {
    instance
        .get_typed_func::<(), ()>(&mut *store, synthetic::ENTRY)
        .unwrap()
        .call(&mut *store, ())
        .unwrap();
}
