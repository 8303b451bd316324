//! Synthetic WebAssembly *components* generated in-process (no download, no
//! wasm toolchain), the component-model counterparts of the synthetic core
//! module in `synthetic.rs`.
//!
//! Two generators:
//!
//! * [`run_component`]: a component with no imports whose only export is the
//!   root-level function `run: func()` (world [`RUN_WORLD`] of the package in
//!   [`WORLD_WIT`]). It is assembled directly with wasm-encoder's component
//!   encoding and contains exactly [`ComponentSpec::core_instances`] core
//!   instances, each with its own linear memory holding the data image.
//! * [`http_component`]: a `wasi:http/proxy`-compatible component (world
//!   [`HTTP_WORLD`]) that imports only `wasi:*@0.2.12` interfaces and exports
//!   `wasi:http/incoming-handler@0.2.12`. Its core module is written as WAT
//!   text, has the image appended as a data segment, gets the world embedded
//!   with [`wit_component::embed_component_metadata`] and is turned into a
//!   component by [`wit_component::ComponentEncoder`].
//!
//! Memory layout of every core memory: bytes `[0, image_len)` are an active
//! data segment of non-zero bytes ([`image_byte`]), `image_len` being
//! `image_size` rounded up to whole 64 KiB wasm pages; a call writes byte
//! `k + 1` (wrapping) at `dirty_offset + k * dirty_stride` for
//! `k in 0..ceil(dirty_per_call / 4096)`. The memory's minimum size covers
//! both the image and the dirtied range (and, in the HTTP module, a small
//! scratch area, the body bytes and a bump heap placed after them).

use anyhow::{Context, Result, bail, ensure};
use wasm_encoder::{
    BlockType, CodeSection, ComponentBuilder, ComponentExportKind, ComponentValType, ConstExpr,
    DataSection, ExportKind, ExportSection, Function, FunctionSection, ImportSection, MemArg,
    MemorySection, MemoryType, Module, ModuleArg, Section, TypeSection,
};

/// Host page size: a call writes one byte per host page of the dirtied range.
pub const HOST_PAGE: u64 = 4096;
/// WebAssembly page size; the image is rounded up to a multiple of it.
pub const WASM_PAGE: u64 = 64 << 10;

/// Name of the function export of [`run_component`]: a root-level export
/// `run: func()` (not inside an exported interface). The host looks it up with
/// `instance.get_typed_func::<(), ()>(&mut store, RUN_EXPORT)`.
pub const RUN_EXPORT: &str = "run";

/// Fully qualified name of the world [`run_component`] conforms to.
pub const RUN_WORLD: &str = "pooling-lab:synthetic/run-world";

/// Fully qualified name of the world [`http_component`] targets.
pub const HTTP_WORLD: &str = "pooling-lab:synthetic/proxy";

/// Interface [`http_component`] exports; its function is `handle`.
pub const HTTP_HANDLER_INTERFACE: &str = "wasi:http/incoming-handler@0.2.12";

/// WIT text of the package `pooling-lab:synthetic` (file `wit/world.wit`),
/// which defines the worlds `proxy` (used by [`http_component`]) and
/// `run-world` (which [`run_component`] conforms to).
pub const WORLD_WIT: &str = include_str!("../../wit/world.wit");

/// The WASI 0.2.12 dependency packages (copied from wasmtime-wasi-http 48.0.8,
/// `wit/deps/*.wit`), as `(file name, text)` in dependency order.
pub const WASI_DEPS_WIT: &[(&str, &str)] = &[
    ("io.wit", include_str!("../../wit/deps/io.wit")),
    ("clocks.wit", include_str!("../../wit/deps/clocks.wit")),
    ("random.wit", include_str!("../../wit/deps/random.wit")),
    (
        "filesystem.wit",
        include_str!("../../wit/deps/filesystem.wit"),
    ),
    ("sockets.wit", include_str!("../../wit/deps/sockets.wit")),
    ("cli.wit", include_str!("../../wit/deps/cli.wit")),
    ("http.wit", include_str!("../../wit/deps/http.wit")),
];

/// Parameters of a synthetic component (mirrors the synthetic core module's
/// knobs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentSpec {
    /// Bytes of non-zero initialised data at the start of each core instance's
    /// memory, rounded up to whole 64 KiB wasm pages (0: no image).
    pub image_size: u64,
    /// Bytes dirtied per call: one byte per 4 KiB page of
    /// `[dirty_offset, dirty_offset + dirty_per_call)` (page count rounded up).
    pub dirty_per_call: u64,
    /// Address of the first byte dirtied per call.
    pub dirty_offset: u64,
    /// Bytes between the starts of two dirtied pages (4096 = contiguous).
    pub dirty_stride: u64,
    /// Number of core module instances in [`run_component`] (must be >= 1).
    /// Instance `core_instances - 1` (the last one instantiated) is the main
    /// one whose memory `run` dirties; every other one is a worker with its
    /// own memory and image whose first dirtied page `run` touches.
    /// [`http_component`] only supports 1 (wit-component adds its own small
    /// shim instances, which have no memory).
    pub core_instances: u32,
    /// Response body written by [`http_component`] (ignored by
    /// [`run_component`]).
    pub body: String,
    /// What [`http_component`]'s handler does before answering: `None`
    /// answers, `Trap` executes `unreachable`, `Loop` loops until the
    /// store's epoch deadline (a server's failure paths, measured on
    /// purpose). Ignored by [`run_component`].
    pub fault: crate::settings::GuestFault,
}

impl Default for ComponentSpec {
    fn default() -> Self {
        ComponentSpec {
            image_size: 0,
            dirty_per_call: 0,
            dirty_offset: 0,
            dirty_stride: HOST_PAGE,
            core_instances: 1,
            body: String::new(),
            fault: crate::settings::GuestFault::None,
        }
    }
}

pub use super::synthetic::image_byte;

/// Derived sizes shared by both generators.
struct Layout {
    /// Image length in bytes (multiple of [`WASM_PAGE`]).
    image_len: u64,
    /// Number of host pages dirtied per call.
    dirty_pages: u64,
    /// First byte after everything the image and the dirty loop touch
    /// (a touch writes at least one page at `dirty_offset`).
    end: u64,
}

impl Layout {
    fn new(spec: &ComponentSpec) -> Result<Self> {
        let image_len = spec
            .image_size
            .checked_next_multiple_of(WASM_PAGE)
            .context("image_size too large")?;
        let dirty_pages = spec.dirty_per_call.div_ceil(HOST_PAGE);
        let dirty_end = (dirty_pages.max(1) - 1)
            .checked_mul(spec.dirty_stride.max(HOST_PAGE))
            .and_then(|n| n.checked_add(HOST_PAGE))
            .and_then(|n| n.checked_add(spec.dirty_offset))
            .context("dirty_offset + dirty_per_call overflows")?;
        let end = image_len.max(dirty_end);
        ensure!(
            end <= (4 << 30) - 2 * WASM_PAGE,
            "image ({image_len} B) or dirtied range (ends at {dirty_end} B) does not fit a 32-bit memory"
        );
        Ok(Layout {
            image_len,
            dirty_pages,
            end,
        })
    }

    fn image(&self) -> Vec<u8> {
        (0..self.image_len).map(image_byte).collect()
    }
}

fn memarg() -> MemArg {
    MemArg {
        offset: 0,
        align: 0,
        memory_index: 0,
    }
}

/// Emits the dirty loop (uses local 0 as an i32 counter) into `f`.
fn emit_dirty_loop(f: &mut Function, spec: &ComponentSpec, layout: &Layout) {
    // Address arithmetic wraps as u32, which is what the wasm i32 ops do; the
    // Layout check guarantees it does not actually wrap.
    f.instructions()
        .block(BlockType::Empty)
        .loop_(BlockType::Empty)
        .local_get(0)
        .i32_const(layout.dirty_pages as u32 as i32)
        .i32_ge_u()
        .br_if(1)
        .local_get(0)
        .i32_const(spec.dirty_stride.max(HOST_PAGE) as u32 as i32)
        .i32_mul()
        .i32_const(spec.dirty_offset as u32 as i32)
        .i32_add()
        .local_get(0)
        .i32_const(1)
        .i32_add()
        .i32_store8(memarg())
        .local_get(0)
        .i32_const(1)
        .i32_add()
        .local_set(0)
        .br(0)
        .end()
        .end();
}

/// A core module with one memory holding the image. `imports` is the number of
/// `() -> ()` functions it imports, from modules `w1`, `w2`, … (name `touch`).
/// `main`: exports `run` (dirty loop then call every import); otherwise
/// exports `touch` (one byte written at `dirty_offset`).
fn core_module(spec: &ComponentSpec, layout: &Layout, imports: u32, main: bool) -> Module {
    let mut types = TypeSection::new();
    types.ty().function([], []);

    let mut import_sec = ImportSection::new();
    for i in 1..=imports {
        import_sec.import(
            &format!("w{i}"),
            "touch",
            wasm_encoder::EntityType::Function(0),
        );
    }

    let mut funcs = FunctionSection::new();
    funcs.function(0);

    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: layout.end.div_ceil(WASM_PAGE).max(1),
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });

    let own_func = imports; // defined functions come after the imported ones
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export(
        if main { RUN_EXPORT } else { "touch" },
        ExportKind::Func,
        own_func,
    );

    let mut code = CodeSection::new();
    let mut f = Function::new([(1, wasm_encoder::ValType::I32)]);
    if main {
        emit_dirty_loop(&mut f, spec, layout);
        for i in 0..imports {
            f.instructions().call(i);
        }
    } else {
        f.instructions()
            .i32_const(spec.dirty_offset as u32 as i32)
            .i32_const(1)
            .i32_store8(memarg());
    }
    f.instructions().end();
    code.function(&f);

    let mut data = DataSection::new();
    if layout.image_len > 0 {
        data.active(0, &ConstExpr::i32_const(0), layout.image());
    }

    let mut module = Module::new();
    module.section(&types);
    if imports > 0 {
        module.section(&import_sec);
    }
    module
        .section(&funcs)
        .section(&memories)
        .section(&exports)
        .section(&code);
    if layout.image_len > 0 {
        module.section(&data);
    }
    module
}

/// Builds a component exporting the root-level function `run: func()`
/// ([`RUN_EXPORT`]; the component conforms to world [`RUN_WORLD`]), with no
/// imports at all (no WASI).
///
/// It embeds at most two core modules — a "worker" (instantiated
/// `core_instances - 1` times) and a "main" one (instantiated once, last,
/// importing each worker's `touch`) — so it has exactly `core_instances` core
/// instances and as many memories, each initialised with the image. Calling
/// `run` dirties the pages of the main instance's memory, then calls each
/// worker's `touch`, which writes one byte at `dirty_offset` in its memory so
/// that every instance is really live.
///
/// Errors if `core_instances == 0` or the memory layout does not fit 4 GiB.
pub fn run_component(spec: &ComponentSpec) -> Result<Vec<u8>> {
    ensure!(spec.core_instances >= 1, "core_instances must be >= 1");
    let layout = Layout::new(spec)?;
    let workers = spec.core_instances - 1;

    let mut b = ComponentBuilder::default();
    let worker_module =
        (workers > 0).then(|| b.core_module(Some("worker"), &core_module(spec, &layout, 0, false)));
    let main_module = b.core_module(Some("main"), &core_module(spec, &layout, workers, true));

    let mut worker_instances = Vec::with_capacity(workers as usize);
    for i in 1..=workers {
        let module = worker_module.context("worker module missing")?;
        let args: [(&str, ModuleArg); 0] = [];
        worker_instances.push(b.core_instantiate(Some(&format!("worker{i}")), module, args));
    }
    let names: Vec<String> = (1..=workers).map(|i| format!("w{i}")).collect();
    let args: Vec<(&str, ModuleArg)> = names
        .iter()
        .zip(&worker_instances)
        .map(|(n, &inst)| (n.as_str(), ModuleArg::Instance(inst)))
        .collect();
    let main_instance = b.core_instantiate(Some("main"), main_module, args);

    let core_run = b.core_alias_export(
        Some(RUN_EXPORT),
        main_instance,
        RUN_EXPORT,
        ExportKind::Func,
    );
    let (ty, mut enc) = b.type_function(Some("run-type"));
    enc.params(std::iter::empty::<(&str, ComponentValType)>())
        .result(None);
    let func = b.lift_func(Some(RUN_EXPORT), core_run, ty, []);
    b.export(RUN_EXPORT, ComponentExportKind::Func, func, None);
    Ok(b.finish())
}

/// Parses the WASI deps and [`WORLD_WIT`] into a [`wit_parser::Resolve`] and
/// returns it with the id of `world` (a world name of package
/// `pooling-lab:synthetic`, e.g. `"proxy"`).
pub fn resolve_world(world: &str) -> Result<(wit_parser::Resolve, wit_parser::WorldId)> {
    let mut resolve = wit_parser::Resolve::default();
    for (name, text) in WASI_DEPS_WIT {
        resolve
            .push_source(&format!("wit/deps/{name}"), text)
            .with_context(|| format!("parsing wit/deps/{name}"))?;
    }
    let pkg = resolve
        .push_source("wit/world.wit", WORLD_WIT)
        .context("parsing wit/world.wit")?;
    let id = resolve.select_world(&[pkg], Some(world))?;
    Ok((resolve, id))
}

/// Byte offsets inside the HTTP module's memory (after the image/dirty range).
struct HttpLayout {
    /// 256-byte, 8-aligned return area for imports returning through a pointer.
    scratch: u64,
    /// Start of the body bytes.
    body: u64,
    /// First byte of the bump heap used by `cabi_realloc`.
    heap: u64,
    /// Minimum memory size in wasm pages.
    min_pages: u64,
}

/// WAT of the HTTP core module, without data segments (appended afterwards).
///
/// Core signatures (canonical ABI, `wit_component::dummy_module` with
/// `ManglingAndAbi::Legacy(Sync)` for world `proxy`):
/// * `[constructor]fields: () -> i32`
/// * `[constructor]outgoing-response: (headers i32) -> i32`
/// * `[method]outgoing-response.body: (self i32, retptr i32)`, result<own<outgoing-body>>: u8 tag @0, handle @4
/// * `[method]outgoing-body.write: (self i32, retptr i32)`, result<own<output-stream>>: same layout
/// * `[static]response-outparam.set: (param i32, tag i32, i32, i32, i64, i32, i32, i32, i32)`
///   (flattened result<own<outgoing-response>, error-code>; ok: tag 0, handle in the first i32 slot)
/// * `[method]output-stream.blocking-write-and-flush: (self i32, ptr i32, len i32, retptr i32)`, u8 tag @0
/// * `[static]outgoing-body.finish: (body i32, trailers-tag i32, trailers i32, retptr i32)`, u8 tag @0
/// * `[resource-drop]output-stream`, `[resource-drop]incoming-request: (i32)`
/// * export `wasi:http/incoming-handler@0.2.12#handle: (request i32, response-out i32)`
/// * export `cabi_realloc: (old i32, old_size i32, align i32, new_size i32) -> i32`
fn http_wat(spec: &ComponentSpec, layout: &Layout, h: &HttpLayout, body_len: u64) -> String {
    let dirty_pages = layout.dirty_pages as u32 as i32;
    let dirty_offset = spec.dirty_offset as u32 as i32;
    let dirty_stride = spec.dirty_stride.max(HOST_PAGE) as u32 as i32;
    let scratch = h.scratch as u32 as i32;
    let body = h.body as u32 as i32;
    let body_len = body_len as u32 as i32;
    let heap = h.heap as u32 as i32;
    let min_pages = h.min_pages;
    let fault = match spec.fault {
        crate::settings::GuestFault::Trap => "    ;; 0. fault = \"trap\"\n    unreachable\n",
        crate::settings::GuestFault::Loop => {
            "    ;; 0. fault = \"loop\"\n    loop $forever\n      br $forever\n    end\n"
        }
        _ => "",
    };
    format!(
        r#"(module
  (import "wasi:http/types@0.2.12" "[constructor]fields" (func $fields_new (result i32)))
  (import "wasi:http/types@0.2.12" "[constructor]outgoing-response" (func $response_new (param i32) (result i32)))
  (import "wasi:http/types@0.2.12" "[method]outgoing-response.body" (func $response_body (param i32 i32)))
  (import "wasi:http/types@0.2.12" "[method]outgoing-body.write" (func $body_write (param i32 i32)))
  (import "wasi:http/types@0.2.12" "[static]outgoing-body.finish" (func $body_finish (param i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.12" "[static]response-outparam.set" (func $outparam_set (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.12" "[resource-drop]incoming-request" (func $drop_request (param i32)))
  (import "wasi:io/streams@0.2.12" "[method]output-stream.blocking-write-and-flush" (func $write_flush (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.12" "[resource-drop]output-stream" (func $drop_stream (param i32)))

  (memory (export "memory") {min_pages})
  (global $heap (mut i32) (i32.const {heap}))

  ;; Traps if the result written at the scratch area is an error (tag != 0).
  (func $check
    i32.const {scratch}
    i32.load8_u
    if
      unreachable
    end)

  (func $handle (export "wasi:http/incoming-handler@0.2.12#handle") (param $request i32) (param $out i32)
    (local $i i32) (local $response i32) (local $body i32) (local $stream i32) (local $off i32) (local $n i32)
{fault}    ;; 1. dirty one byte per host page: byte i+1 at dirty_offset + i*dirty_stride
    block $dirty_done
      loop $dirty
        local.get $i
        i32.const {dirty_pages}
        i32.ge_u
        br_if $dirty_done
        local.get $i
        i32.const {dirty_stride}
        i32.mul
        i32.const {dirty_offset}
        i32.add
        local.get $i
        i32.const 1
        i32.add
        i32.store8
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br $dirty
      end
    end
    ;; 2. the request is not used
    local.get $request
    call $drop_request
    ;; 3. response = outgoing-response(fields()) (status 200 by default)
    call $fields_new
    call $response_new
    local.set $response
    ;; 4. body = response.body()
    local.get $response
    i32.const {scratch}
    call $response_body
    call $check
    i32.const {scratch}
    i32.load offset=4
    local.set $body
    ;; 5. hand the response over before writing, so the host consumes the
    ;;    body while we write (its body channel holds only a couple of chunks)
    local.get $out
    i32.const 0
    local.get $response
    i32.const 0
    i64.const 0
    i32.const 0
    i32.const 0
    i32.const 0
    i32.const 0
    call $outparam_set
    ;; 6. stream = body.write()
    local.get $body
    i32.const {scratch}
    call $body_write
    call $check
    i32.const {scratch}
    i32.load offset=4
    local.set $stream
    ;; 7. blocking-write-and-flush the body, at most 4096 bytes per call
    block $write_done
      loop $write
        local.get $off
        i32.const {body_len}
        i32.ge_u
        br_if $write_done
        i32.const {body_len}
        local.get $off
        i32.sub
        local.tee $n
        i32.const 4096
        i32.gt_u
        if
          i32.const 4096
          local.set $n
        end
        local.get $stream
        i32.const {body}
        local.get $off
        i32.add
        local.get $n
        i32.const {scratch}
        call $write_flush
        call $check
        local.get $off
        local.get $n
        i32.add
        local.set $off
        br $write
      end
    end
    ;; 8. drop the stream, then finish the body without trailers
    local.get $stream
    call $drop_stream
    local.get $body
    i32.const 0
    i32.const 0
    i32.const {scratch}
    call $body_finish
    call $check)

  ;; Bump allocator: never frees, grows memory when needed, traps on failure.
  (func $cabi_realloc (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32) (result i32)
    (local $ptr i32) (local $end i32)
    global.get $heap
    local.get $align
    i32.add
    i32.const 1
    i32.sub
    i32.const 0
    local.get $align
    i32.sub
    i32.and
    local.tee $ptr
    local.get $new_size
    i32.add
    local.tee $end
    memory.size
    i32.const 16
    i32.shl
    i32.gt_u
    if
      local.get $end
      memory.size
      i32.const 16
      i32.shl
      i32.sub
      i32.const 65535
      i32.add
      i32.const 16
      i32.shr_u
      memory.grow
      i32.const -1
      i32.eq
      if
        unreachable
      end
    end
    local.get $end
    global.set $heap
    local.get $old
    if
      local.get $ptr
      local.get $old
      local.get $old_size
      local.get $new_size
      local.get $old_size
      local.get $new_size
      i32.lt_u
      select
      memory.copy
    end
    local.get $ptr)
)
"#
    )
}

/// Builds a `wasi:http/proxy`-compatible component (world [`HTTP_WORLD`]): it
/// imports only `wasi:http/types@0.2.12` and the `wasi:io` / `wasi:clocks`
/// interfaces that pulls in, and exports [`HTTP_HANDLER_INTERFACE`].
///
/// On each `handle(request, response-out)` it: dirties the pages (as
/// [`run_component`] does, in its single memory); drops the request; creates
/// `fields` and an `outgoing-response` (status 200 by default); gets its
/// body; calls `response-outparam.set(out, ok(response))`; gets the body's
/// output stream; `blocking-write-and-flush`es the body bytes (from a data
/// segment) in chunks of at most 4096 bytes (the host's limit per call); drops
/// the stream; and calls `outgoing-body.finish(body, none)`. Any error result
/// from the host traps (`unreachable`).
///
/// Errors if `core_instances != 1` or the memory layout does not fit 4 GiB.
pub fn http_component(spec: &ComponentSpec) -> Result<Vec<u8>> {
    if spec.core_instances != 1 {
        bail!(
            "http_component supports core_instances = 1 only (got {})",
            spec.core_instances
        );
    }
    let layout = Layout::new(spec)?;
    let body_bytes = spec.body.as_bytes();
    let body_len = body_bytes.len() as u64;
    let base = layout.end.next_multiple_of(WASM_PAGE);
    let scratch = base;
    let body = scratch + 256;
    let heap = (body + body_len).next_multiple_of(16);
    let min_pages = (heap + WASM_PAGE).div_ceil(WASM_PAGE);
    ensure!(
        min_pages <= 65536,
        "image, dirtied range and body ({body_len} B) do not fit a 32-bit memory"
    );
    let h = HttpLayout {
        scratch,
        body,
        heap,
        min_pages,
    };

    let wat = http_wat(spec, &layout, &h, body_len);
    let mut module = wat::parse_str(&wat).context("assembling the HTTP core module")?;

    // Data segments are appended as a data section at the end (allowed: only
    // custom sections may follow, and the module uses no `memory.init`, so it
    // has no data-count section to keep in sync).
    let mut data = DataSection::new();
    if layout.image_len > 0 {
        data.active(0, &ConstExpr::i32_const(0), layout.image());
    }
    if body_len > 0 {
        data.active(
            0,
            &ConstExpr::i32_const(body as u32 as i32),
            body_bytes.iter().copied(),
        );
    }
    if !data.is_empty() {
        data.append_to(&mut module);
    }

    let (resolve, world) = resolve_world("proxy")?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
        // The names WASI 0.2's WIT declares, as wasmtime-wasi-http links them
        // (not the canonical-ABI names of the component-model proposal).
        false,
    )
    .context("embedding component metadata")?;
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .context("preparing the HTTP component")?
        .encode()
        .context("encoding the HTTP component")
}
/// The component spec `[guest]` describes (synthetic-component, synthetic-http).
pub fn spec(g: &crate::settings::GuestSettings) -> ComponentSpec {
    ComponentSpec {
        image_size: g.image_size.0,
        dirty_per_call: g.dirty_per_call.0,
        dirty_stride: g.dirty_stride.0,
        dirty_offset: g.dirty_offset.0,
        core_instances: g.core_instances,
        body: g.response_body.clone(),
        fault: g.fault,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The HTTP handler's dirty loop steps by `dirty_stride`, as the core
    /// generator's does: 8 KiB leaves a clean page between dirty ones.
    #[test]
    fn the_http_handler_writes_one_page_per_stride() {
        for stride in [HOST_PAGE, 2 * HOST_PAGE, 16 * HOST_PAGE] {
            let spec = ComponentSpec {
                image_size: 1 << 20,
                dirty_per_call: 64 << 10,
                dirty_stride: stride,
                ..ComponentSpec::default()
            };
            let layout = Layout::new(&spec).unwrap();
            let h = HttpLayout {
                scratch: layout.end,
                body: layout.end + 256,
                heap: layout.end + 512,
                min_pages: (layout.end + 512 + WASM_PAGE).div_ceil(WASM_PAGE),
            };
            let wat = http_wat(&spec, &layout, &h, 0);
            let step = format!("local.get $i\n        i32.const {stride}\n        i32.mul");
            assert!(
                wat.contains(&step),
                "stride {stride}: no `{step}` in\n{wat}"
            );
            // The layout leaves room for the strided range.
            assert!(layout.end >= 15 * stride + HOST_PAGE);
        }
    }
}
