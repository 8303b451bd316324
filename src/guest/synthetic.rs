//! A core module generated from `[guest]` parameters: no download needed.
//!
//! Layout: one linear memory whose first `image_size` bytes are an active data
//! segment of non-zero bytes (so the CoW image cannot be sparse), an exported
//! `run` function that writes one byte into each of `dirty_per_call / 4KiB`
//! pages starting at `dirty_offset`, optional filler functions (code size) and
//! an optional funcref table.

use super::sandbox::{Guest, Sandbox, instantiate_core};
use crate::WasmtimeContext;
use crate::host::wasi::WasiSpec;
use crate::host::{Host, WasiLevel};
use crate::settings::{GuestFault, GuestSettings};
use std::borrow::Cow;
use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, ElementSection, Elements, ExportKind, ExportSection,
    Function, FunctionSection, MemArg, MemorySection, MemoryType, Module, RefType, TableSection,
    TableType, TypeSection, ValType,
};

/// Host page size the workload dirties one byte of.
pub const HOST_PAGE: u64 = 4096;
const WASM_PAGE: u64 = 64 << 10;

/// Name of the exported workload function (`() -> ()`).
pub const ENTRY: &str = "run";

/// The byte stored at `i` in the data image: never zero, not constant.
pub fn image_byte(i: u64) -> u8 {
    image_byte_seeded(i, 0)
}

/// The byte stored at `i` in the data image of the module generated with
/// `seed`: never zero; seed 0 is [`image_byte`], every other seed a
/// pseudo-random image of its own (no two seeds share a page).
pub fn image_byte_seeded(i: u64, seed: u64) -> u8 {
    if seed == 0 {
        return ((i.wrapping_mul(31).wrapping_add(7)) % 255) as u8 + 1;
    }
    let word = splitmix64(seed.rotate_left(40) ^ (i / 8));
    match (word >> ((i % 8) * 8)) as u8 {
        0 => 1,
        b => b,
    }
}

/// SplitMix64: a fast, well-mixed 64-bit hash of `x`.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Generates the module's bytes for `g`.
pub fn module_bytes(g: &GuestSettings) -> Vec<u8> {
    module_bytes_seeded(g, 0)
}

/// Generates the module's bytes for `g` with its data image made from
/// `seed` ([`image_byte_seeded`]): modules of different seeds are distinct
/// modules with distinct images (the tenants scenario's tenants).
pub fn module_bytes_seeded(g: &GuestSettings, seed: u64) -> Vec<u8> {
    let min_bytes = crate::settings::synthetic_min_memory(g);
    let image_len = g.image_size.0.div_ceil(WASM_PAGE) * WASM_PAGE;
    let dirty_pages = g.dirty_per_call.0.div_ceil(HOST_PAGE);

    let mut types = TypeSection::new();
    types.ty().function([], []);
    types.ty().function([], [ValType::I32]);

    let mut funcs = FunctionSection::new();
    funcs.function(0);
    for _ in 0..g.functions {
        funcs.function(1);
    }

    let mut tables = TableSection::new();
    if g.table_elements > 0 {
        tables.table(TableType {
            element_type: RefType::FUNCREF,
            table64: false,
            minimum: u64::from(g.table_elements),
            maximum: Some(u64::from(g.table_elements)),
            shared: false,
        });
    }

    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: min_bytes / WASM_PAGE,
        maximum: (g.memory_max.0 != 0).then(|| g.memory_max.0.div_ceil(WASM_PAGE)),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });

    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export(ENTRY, ExportKind::Func, 0);

    let mut elements = ElementSection::new();
    if g.table_elements > 0 {
        let refs = vec![0u32; g.table_elements as usize];
        elements.active(
            None,
            &ConstExpr::i32_const(0),
            Elements::Functions(Cow::Owned(refs)),
        );
    }

    let mut code = CodeSection::new();
    let mut run = Function::new([(1, ValType::I32)]);
    let store = MemArg {
        offset: 0,
        align: 0,
        memory_index: 0,
    };
    // Address arithmetic wraps as u32, which is what the wasm i32 ops do.
    run.instructions()
        .block(wasm_encoder::BlockType::Empty)
        .loop_(wasm_encoder::BlockType::Empty)
        .local_get(0)
        .i32_const(dirty_pages as u32 as i32)
        .i32_ge_u()
        .br_if(1)
        .local_get(0)
        .i32_const(g.dirty_stride.0.max(HOST_PAGE) as u32 as i32)
        .i32_mul()
        .i32_const(g.dirty_offset.0 as u32 as i32)
        .i32_add()
        .local_get(0)
        .i32_const(1)
        .i32_add()
        .i32_store8(store)
        .local_get(0)
        .i32_const(1)
        .i32_add()
        .local_set(0)
        .br(0)
        .end()
        .end();
    match g.fault {
        GuestFault::None => {}
        GuestFault::Trap => {
            run.instructions().unreachable();
        }
        GuestFault::Loop => {
            // Epoch interruption checks at loop headers stop this.
            run.instructions()
                .loop_(wasm_encoder::BlockType::Empty)
                .br(0)
                .end();
        }
        GuestFault::Leak => {
            // Grow by one wasm page and write to it: memory.grow returns the
            // old size in pages, whose first byte is the new page's.
            run.instructions()
                .i32_const(1)
                .memory_grow(0)
                .i32_const(16)
                .i32_shl()
                .i32_const(1)
                .i32_store8(store);
        }
        GuestFault::Grow => {
            // Grow 1 MiB at a time until memory.grow refuses (-1), then trap.
            // A StoreLimits limit with trap_on_grow_failure traps first.
            run.instructions()
                .block(wasm_encoder::BlockType::Empty)
                .loop_(wasm_encoder::BlockType::Empty)
                .i32_const(16)
                .memory_grow(0)
                .i32_const(-1)
                .i32_eq()
                .br_if(1)
                .br(0)
                .end()
                .end()
                .unreachable();
        }
    }
    run.instructions().end();
    code.function(&run);
    for i in 0..g.functions {
        // A few dozen instructions each, so that code size grows with `functions`.
        let mut f = Function::new([]);
        let mut ins = f.instructions();
        ins.i32_const(i as i32);
        for k in 0..16 {
            ins.i32_const(k * 7 + 1).i32_mul().i32_const(k).i32_add();
        }
        ins.end();
        code.function(&f);
    }

    let mut data = DataSection::new();
    if image_len > 0 {
        data.active(
            0,
            &ConstExpr::i32_const(0),
            (0..image_len)
                .map(|i| image_byte_seeded(i, seed))
                .collect::<Vec<u8>>(),
        );
    }

    let mut module = Module::new();
    module.section(&types).section(&funcs);
    if g.table_elements > 0 {
        module.section(&tables);
    }
    module.section(&memories).section(&exports);
    if g.table_elements > 0 {
        module.section(&elements);
    }
    module.section(&code).section(&data);
    module.finish()
}

/// The synthetic module as a guest kind: one call is `run()`.
pub struct SyntheticGuest {
    pre: wasmtime::InstancePre<Host>,
}

/// Per-store state: `run`, looked up on the store's first call (a reused
/// sandbox does not look it up again).
struct Entry(wasmtime::TypedFunc<(), ()>);

impl SyntheticGuest {
    /// Links the generated module (it imports nothing).
    pub fn new(module: wasmtime::Module) -> anyhow::Result<SyntheticGuest> {
        let linker = wasmtime::Linker::new(module.engine());
        let pre = linker
            .instantiate_pre(&module)
            .wt_context(|| "linking the guest")?;
        Ok(SyntheticGuest { pre })
    }
}

impl Guest for SyntheticGuest {
    fn wasi(&self) -> (WasiLevel, WasiSpec) {
        (WasiLevel::None, WasiSpec::default())
    }

    fn instantiate(&self, store: &mut wasmtime::Store<Host>) -> anyhow::Result<Sandbox> {
        instantiate_core(&self.pre, store)
    }

    fn call(
        &self,
        store: &mut wasmtime::Store<Host>,
        sandbox: &mut Sandbox,
    ) -> wasmtime::Result<()> {
        let run = match store.data().state.get::<Entry>() {
            Some(Entry(run)) => run.clone(),
            None => {
                let run = sandbox
                    .core()?
                    .get_typed_func::<(), ()>(&mut *store, ENTRY)?;
                store.data_mut().state.insert(Entry(run.clone()));
                run
            }
        };
        run.call(&mut *store, ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::ByteSize;

    fn small() -> GuestSettings {
        GuestSettings {
            image_size: ByteSize(128 << 10),
            dirty_per_call: ByteSize(64 << 10),
            functions: 3,
            table_elements: 5,
            ..GuestSettings::default()
        }
    }

    #[test]
    fn generated_module_validates_and_dirties_what_it_says() {
        let g = small();
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, module_bytes(&g)).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let mem = instance.get_memory(&mut store, "memory").unwrap();
        assert_eq!(mem.data_size(&store) as u64, 128 << 10);
        // The image is there and has no zero byte.
        assert!(mem.data(&store)[..128 << 10].iter().all(|&b| b != 0));
        assert_eq!(mem.data(&store)[1000], image_byte(1000));
        instance
            .get_typed_func::<(), ()>(&mut store, ENTRY)
            .unwrap()
            .call(&mut store, ())
            .unwrap();
        // 16 pages dirtied, page k holds k + 1 at its first byte.
        let d = mem.data(&store);
        for k in 0..16u64 {
            assert_eq!(d[(k * HOST_PAGE) as usize], (k + 1) as u8);
        }
        assert_eq!(d[(16 * HOST_PAGE) as usize], image_byte(16 * HOST_PAGE));
    }
}
