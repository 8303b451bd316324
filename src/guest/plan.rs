//! `core`: a core module with its own small ABI, driven by a call plan
//! written in the config (`[guest] init`, `calls`, `alloc_export`,
//! `free_export`): no Rust needed from its user.
//!
//! Byte and string arguments are written into guest memory through the
//! guest's own allocator export and released through its free export (when
//! it has one); results are read as integers, as a packed `ptr << 32 | len`
//! u64, as a pointer whose length the guest wrote to an out-pointer the plan
//! allocated, or as a NUL-terminated string; returned bytes are checked like
//! stdout. Every export the plan names is looked up and type-checked when
//! the guest is prepared, so a mismatch is an error before any sandbox runs.

use super::check;
use super::init::initialize_once;
use super::sandbox::{Guest, Sandbox, grants, instantiate_core};
use crate::WasmtimeContext;
use crate::host::guest_faults::check_failed;
use crate::host::wasi::WasiSpec;
use crate::host::{Host, WasiLevel};
use crate::settings::{GuestSettings, PlanArg, PlanCall, PlanResult};
use anyhow::{Result, bail};
use wasmtime::{
    Extern, Func, Instance, InstancePre, Linker, Memory, Module, ModuleExport, Store, TypedFunc,
    Val, ValType, format_err,
};

/// `i32`, for signature checks.
pub const I32: ValType = ValType::I32;
/// `i64`, for signature checks.
pub const I64: ValType = ValType::I64;

/// A type-check failure of an export a config names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportMismatch {
    /// The `[guest]` key that names the export.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ExportMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[guest] {}: {}", self.key, self.message)
    }
}

impl std::error::Error for ExportMismatch {}

fn sig(params: &[ValType], results: &[ValType]) -> String {
    let list = |v: &[ValType]| {
        v.iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", list(params), list(results))
}

/// The exported functions of `module`, with signatures, for messages.
fn exported_funcs(module: &Module) -> Vec<String> {
    module
        .exports()
        .filter_map(|e| {
            let f = e.ty().func()?.clone();
            let (p, r): (Vec<_>, Vec<_>) = (f.params().collect(), f.results().collect());
            Some(format!("{} {}", e.name(), sig(&p, &r)))
        })
        .collect()
}

/// Checks that `module` exports a function `name` of exactly this
/// signature; otherwise an [`ExportMismatch`] naming `key`, the export's
/// actual signature (or the exports there are) and what was expected.
pub fn expect_func(
    module: &Module,
    key: &'static str,
    name: &str,
    params: &[ValType],
    results: &[ValType],
) -> Result<()> {
    let actual = func_type(module, key, name)?;
    let (p, r): (Vec<_>, Vec<_>) = (actual.params().collect(), actual.results().collect());
    let same = |a: &[ValType], b: &[ValType]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| ValType::eq(x, y))
    };
    if !same(&p, params) || !same(&r, results) {
        return Err(ExportMismatch {
            key,
            message: format!(
                "the export `{name}` has the signature {}, but {} expected",
                sig(&p, &r),
                sig(params, results)
            ),
        }
        .into());
    }
    Ok(())
}

/// The type of the exported function `name`, or an [`ExportMismatch`].
pub fn func_type(module: &Module, key: &'static str, name: &str) -> Result<wasmtime::FuncType> {
    match module.get_export(name) {
        Some(wasmtime::ExternType::Func(f)) => Ok(f),
        Some(other) => Err(ExportMismatch {
            key,
            message: format!("the export `{name}` is not a function but {other:?}"),
        }
        .into()),
        None => Err(ExportMismatch {
            key,
            message: format!(
                "the guest has no export `{name}`; its functions are: {}",
                exported_funcs(module).join(", ")
            ),
        }
        .into()),
    }
}

/// Whether `module` imports WASI preview1.
pub fn imports_wasi_p1(module: &Module) -> bool {
    module
        .imports()
        .any(|i| i.module() == "wasi_snapshot_preview1" || i.module() == "wasi_unstable")
}

/// The guest's allocator export, resolved once per module.
#[derive(Clone)]
enum AllocExport {
    /// The plan writes nothing into guest memory.
    None,
    /// `malloc(size) -> ptr`-shaped.
    Malloc(ModuleExport),
    /// `cabi_realloc(old, old_size, align, new_size) -> ptr`.
    Realloc(ModuleExport),
}

/// A free export, resolved once per module.
#[derive(Clone)]
enum FreeExport {
    /// Nothing is freed.
    None,
    /// `free(ptr)`, with its name for messages.
    Ptr(ModuleExport, String),
    /// `dealloc(ptr, len)`, with its name for messages.
    PtrLen(ModuleExport, String),
}

impl FreeExport {
    /// Checks `name` in `module` as a free export of either shape.
    fn check(module: &Module, key: &'static str, name: &str) -> Result<FreeExport> {
        let f = func_type(module, key, name)?;
        let export = || {
            module
                .get_export_index(name)
                .ok_or_else(|| anyhow::anyhow!("the export `{name}` vanished"))
        };
        let shape = (f.params().collect::<Vec<_>>(), f.results().len());
        match shape {
            (p, 0) if p.len() == 1 && p[0].is_i32() => {
                Ok(FreeExport::Ptr(export()?, name.to_string()))
            }
            (p, 0) if p.len() == 2 && p.iter().all(ValType::is_i32) => {
                Ok(FreeExport::PtrLen(export()?, name.to_string()))
            }
            (p, _) => Err(ExportMismatch {
                key,
                message: format!(
                    "the export `{name}` has the signature {}, but a free export is (i32) -> () or (i32, i32) -> ()",
                    sig(&p, &f.results().collect::<Vec<_>>())
                ),
            }
            .into()),
        }
    }

    /// The export's name ("" for none).
    fn name(&self) -> &str {
        match self {
            FreeExport::None => "",
            FreeExport::Ptr(_, n) | FreeExport::PtrLen(_, n) => n,
        }
    }

    /// The typed function in `instance`.
    fn resolve(&self, store: &mut Store<Host>, instance: &Instance) -> wasmtime::Result<FreeFn> {
        Ok(match self {
            FreeExport::None => FreeFn::None,
            FreeExport::Ptr(e, _) => FreeFn::Ptr(resolve_func(store, instance, e)?.typed(&*store)?),
            FreeExport::PtrLen(e, _) => {
                FreeFn::PtrLen(resolve_func(store, instance, e)?.typed(&*store)?)
            }
        })
    }
}

/// A free function of one store.
#[derive(Clone)]
enum FreeFn {
    None,
    Ptr(TypedFunc<i32, ()>),
    PtrLen(TypedFunc<(i32, i32), ()>),
}

impl FreeFn {
    fn call(&self, store: &mut Store<Host>, ptr: i32, len: i32) -> wasmtime::Result<()> {
        match self {
            FreeFn::None => Ok(()),
            FreeFn::Ptr(f) => f.call(&mut *store, ptr),
            FreeFn::PtrLen(f) => f.call(&mut *store, (ptr, len)),
        }
    }
}

/// The allocator of one store.
#[derive(Clone)]
enum AllocFn {
    None,
    Malloc(TypedFunc<i32, i32>),
    Realloc(TypedFunc<(i32, i32, i32, i32), i32>),
}

/// The function `export` names in `instance` (resolved by index: no name lookup).
fn resolve_func(
    store: &mut Store<Host>,
    instance: &Instance,
    export: &ModuleExport,
) -> wasmtime::Result<Func> {
    instance
        .get_module_export(&mut *store, export)
        .and_then(Extern::into_func)
        .ok_or_else(|| format_err!("an export resolved when the guest was prepared is missing"))
}

/// One argument, made once when the guest is prepared.
#[derive(Debug, Clone)]
enum Arg {
    /// An integer, already in the parameter's type.
    Int(Val),
    /// Bytes passed as (ptr, len).
    Bytes(Vec<u8>),
    /// A NUL-terminated string passed as one pointer (the NUL included here).
    CString(Vec<u8>),
    /// 8 zeroed bytes passed as one pointer.
    Out,
}

/// One planned call, prepared: its export resolved to an index, its
/// arguments made, its expected integers parsed.
#[derive(Clone)]
struct Step {
    call: PlanCall,
    export: ModuleExport,
    args: Vec<Arg>,
    results: usize,
    /// What releases the call's result: the call's own `free_export`, else
    /// the guest's.
    result_free: FreeExport,
    expect_int: Option<i64>,
    not_expect_int: Option<i64>,
}

/// The core-module guest with its plan.
pub struct PlanGuest {
    pre: InstancePre<Host>,
    wasi: Option<WasiSpec>,
    alloc: AllocExport,
    free: FreeExport,
    memory: Option<ModuleExport>,
    /// The `init` steps, then the `calls` steps.
    steps: Vec<Step>,
    init_len: usize,
    /// Tells this plan's [`PlanState`] from another plan's on the same
    /// store (a snapshot's warm-up plan runs on the instance it measures).
    id: u64,
}

/// The next [`PlanGuest::id`].
static NEXT_PLAN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl PlanGuest {
    /// Links the module (WASI preview1 if it imports it), type-checks the
    /// plan and resolves every export it names to an index, so that a
    /// measured call looks nothing up by name.
    pub fn new(module: Module, g: &GuestSettings) -> Result<PlanGuest> {
        if g.calls.is_empty() {
            bail!(ExportMismatch {
                key: "calls",
                message: "kind = \"core\" needs a plan: at least one call, e.g. calls = [{ export = \"render\", args = [{ bytes = \"# hi\" }], result = \"packed\" }]".into(),
            });
        }
        let needs_memory = g.init.iter().chain(&g.calls).any(|c| {
            c.args.iter().any(|a| !matches!(a, PlanArg::Int(_))) || c.result.reads_memory()
        });
        let index = |name: &str| {
            module
                .get_export_index(name)
                .ok_or_else(|| anyhow::anyhow!("the export `{name}` vanished"))
        };
        let alloc = if !needs_memory {
            AllocExport::None
        } else if g.alloc_export.is_empty() {
            bail!(ExportMismatch {
                key: "alloc_export",
                message: "the plan passes bytes or reads results from memory, so it needs the guest's allocator export (e.g. alloc_export = \"malloc\")".into(),
            })
        } else if g.alloc_export == "cabi_realloc" {
            expect_func(
                &module,
                "alloc_export",
                &g.alloc_export,
                &[I32, I32, I32, I32],
                &[I32],
            )?;
            AllocExport::Realloc(index(&g.alloc_export)?)
        } else {
            expect_func(&module, "alloc_export", &g.alloc_export, &[I32], &[I32])?;
            AllocExport::Malloc(index(&g.alloc_export)?)
        };
        let free = if g.free_export.is_empty() || !needs_memory {
            FreeExport::None
        } else {
            FreeExport::check(&module, "free_export", &g.free_export)?
        };
        let memory = match module.get_export("memory") {
            Some(wasmtime::ExternType::Memory(_)) => Some(index("memory")?),
            _ if needs_memory => bail!(ExportMismatch {
                key: "kind",
                message: "the plan writes or reads guest memory, but the guest exports no `memory`"
                    .into(),
            }),
            _ => None,
        };
        let mut steps = Vec::with_capacity(g.init.len() + g.calls.len());
        for (key, list) in [("init", &g.init), ("calls", &g.calls)] {
            for c in list {
                steps.push(prepare_step(&module, key, c, &free)?);
            }
        }
        let wasi = imports_wasi_p1(&module).then(|| grants(g));
        let mut linker = Linker::new(module.engine());
        if wasi.is_some() {
            crate::host::add_wasi_p1(&mut linker).wt_context(|| "adding WASI to the linker")?;
        }
        let pre = linker.instantiate_pre(&module).wt_context(
            || "linking the guest (kind = \"core\" offers WASI preview1 and nothing else)",
        )?;
        Ok(PlanGuest {
            pre,
            wasi,
            alloc,
            free,
            memory,
            steps,
            init_len: g.init.len(),
            id: NEXT_PLAN.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// The exports of `instance`, typed, for its store's [`PlanState`].
    fn resolve(&self, store: &mut Store<Host>, instance: &Instance) -> wasmtime::Result<PlanState> {
        let memory = match &self.memory {
            Some(e) => Some(
                instance
                    .get_module_export(&mut *store, e)
                    .and_then(Extern::into_memory)
                    .ok_or_else(|| format_err!("the guest's `memory` is missing"))?,
            ),
            None => None,
        };
        let alloc = match &self.alloc {
            AllocExport::None => AllocFn::None,
            AllocExport::Malloc(e) => {
                AllocFn::Malloc(resolve_func(store, instance, e)?.typed(&*store)?)
            }
            AllocExport::Realloc(e) => {
                AllocFn::Realloc(resolve_func(store, instance, e)?.typed(&*store)?)
            }
        };
        let free = self.free.resolve(store, instance)?;
        let mut funcs = Vec::with_capacity(self.steps.len());
        let mut result_frees = Vec::with_capacity(self.steps.len());
        for s in &self.steps {
            funcs.push(resolve_func(store, instance, &s.export)?);
            result_frees.push(s.result_free.resolve(store, instance)?);
        }
        let most_params = self.steps.iter().map(|s| s.args.len() * 2).max();
        let most_results = self.steps.iter().map(|s| s.results).max();
        Ok(PlanState {
            owner: self.id,
            memory,
            alloc,
            free,
            funcs,
            result_frees,
            params: Vec::with_capacity(most_params.unwrap_or(0)),
            results: Vec::with_capacity(most_results.unwrap_or(0)),
            owned: Vec::with_capacity(most_params.unwrap_or(0)),
        })
    }

    /// Runs step `i` on the store whose state is `st` (taken out of the
    /// store for the call).
    fn run_step(
        &self,
        store: &mut Store<Host>,
        st: &mut PlanState,
        i: usize,
    ) -> wasmtime::Result<()> {
        let step = &self.steps[i];
        let c = &step.call;
        st.params.clear();
        st.owned.clear();
        let mut out_slot = None;
        for a in &step.args {
            match a {
                Arg::Int(v) => st.params.push(*v),
                Arg::Bytes(b) => {
                    let p = st.write(store, b)?;
                    st.owned.push((p, b.len() as i32));
                    st.params.push(Val::I32(p));
                    st.params.push(Val::I32(b.len() as i32));
                }
                Arg::CString(b) => {
                    let p = st.write(store, b)?;
                    st.owned.push((p, b.len() as i32));
                    st.params.push(Val::I32(p));
                }
                Arg::Out => {
                    let p = st.write(store, &[0u8; 8])?;
                    st.owned.push((p, 8));
                    out_slot.get_or_insert(p);
                    st.params.push(Val::I32(p));
                }
            }
        }
        st.results.clear();
        st.results.resize(step.results, Val::I32(0));
        st.funcs[i].call(&mut *store, &st.params, &mut st.results)?;
        let what = || format!("the result of `{}`", c.export);
        let outcome = match c.result {
            PlanResult::None => Ok(()),
            PlanResult::I32 | PlanResult::I64 => {
                let v = match st.results.first() {
                    Some(Val::I32(v)) => i64::from(*v),
                    Some(Val::I64(v)) => *v,
                    _ => 0,
                };
                check::record(store, what, || v.to_string().into_bytes());
                if step.expect_int.is_some_and(|want| want != v) {
                    Err(check_failed(format!(
                        "{} is {v}, expected {}",
                        what(),
                        c.expect
                    )))
                } else if step.not_expect_int == Some(v) {
                    Err(check_failed(format!(
                        "{} is {v}, which not_expect rules out",
                        what()
                    )))
                } else {
                    Ok(())
                }
            }
            PlanResult::Packed | PlanResult::PtrOutLen | PlanResult::Cstring => {
                self.read_result(store, st, i, out_slot)
            }
        };
        for k in 0..st.owned.len() {
            let (p, len) = st.owned[k];
            st.free.call(store, p, len)?;
        }
        outcome?;
        // A WASI guest's stderr output fails the call too.
        check::output(store, 0, &c.export, &check::Outputs::NONE)
    }

    /// Reads, checks and (with `free_result`) releases step `i`'s result in
    /// guest memory.
    fn read_result(
        &self,
        store: &mut Store<Host>,
        st: &PlanState,
        i: usize,
        out_slot: Option<i32>,
    ) -> wasmtime::Result<()> {
        let step = &self.steps[i];
        let c = &step.call;
        let what = || format!("the result of `{}`", c.export);
        let mem = st
            .memory
            .ok_or_else(|| format_err!("the guest exports no `memory`"))?;
        let (ptr, len) = match (c.result, st.results.first()) {
            (PlanResult::Packed, Some(Val::I64(v))) => (
                (*v as u64 >> 32) as usize,
                (*v as u64 & 0xffff_ffff) as usize,
            ),
            (PlanResult::PtrOutLen, Some(Val::I32(p))) => {
                let slot = out_slot.ok_or_else(|| {
                    format_err!("result = \"ptr-out-len\" needs an `{{ out = \"len\" }}` argument")
                })?;
                let mut b = [0u8; 4];
                mem.read(&*store, slot as u32 as usize, &mut b)?;
                (*p as u32 as usize, u32::from_le_bytes(b) as usize)
            }
            (PlanResult::Cstring, Some(Val::I32(p))) => {
                let start = *p as u32 as usize;
                let len = mem
                    .data(&*store)
                    .get(start..)
                    .and_then(|d| d.iter().position(|&b| b == 0))
                    .ok_or_else(|| {
                        format_err!("{}: no NUL-terminated string at {start:#x}", what())
                    })?;
                (start, len)
            }
            _ => return Err(format_err!("{} has an unexpected type", what())),
        };
        if ptr == 0 && len != 0 {
            return Err(check_failed(format!("{} is a NULL pointer", what())));
        }
        let checked = match mem.data(&*store).get(ptr..ptr.saturating_add(len)) {
            Some(got) => check::bytes(what, got, &c.expect, &c.not_expect, c.equals.as_deref()),
            None => Err(format_err!(
                "{} ({len} bytes at {ptr:#x}) lies outside the guest's memory",
                what()
            )),
        };
        if store.data().transcript.is_some() {
            let got = mem
                .data(&*store)
                .get(ptr..ptr.saturating_add(len))
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            check::record(store, what, || got);
        }
        if c.free_result && ptr != 0 {
            let len = if c.result == PlanResult::Cstring {
                len + 1
            } else {
                len
            };
            st.result_frees[i]
                .call(store, ptr as i32, len as i32)
                .map_err(|e| free_failed(e, c, &step.result_free))?;
        }
        checked
    }

    /// Runs `_initialize` and the plan's `init` once per store, leaving the
    /// store's [`PlanState`] in place.
    fn init_once(&self, store: &mut Store<Host>, instance: &Instance) -> wasmtime::Result<()> {
        let owner = store.data().state.get::<PlanState>().map(|s| s.owner);
        match owner {
            Some(id) if id == self.id => return Ok(()),
            Some(_) => {
                // Another plan initialised this instance (a snapshot's
                // warm-up): only the exports are this plan's to resolve.
                let state = self.resolve(store, instance)?;
                store.data_mut().state.insert(state);
                return Ok(());
            }
            None => {}
        }
        initialize_once(store, instance)?;
        let state = self.resolve(store, instance)?;
        store.data_mut().state.insert(state);
        for i in 0..self.init_len {
            use wasmtime::error::Context as _;
            self.with_state(store, |st, store| self.run_step(store, st, i))
                .with_context(|| format!("the init call `{}`", self.steps[i].call.export))?;
        }
        Ok(())
    }

    /// Runs `f` with the store's [`PlanState`] taken out of the store (so
    /// both can be borrowed), and puts it back whatever `f` returns.
    fn with_state(
        &self,
        store: &mut Store<Host>,
        f: impl FnOnce(&mut PlanState, &mut Store<Host>) -> wasmtime::Result<()>,
    ) -> wasmtime::Result<()> {
        let Some(mut state) = store.data_mut().state.take::<PlanState>() else {
            return Err(format_err!("the plan's state is missing"));
        };
        let out = f(&mut state, store);
        store.data_mut().state.insert(state);
        out
    }
}

/// The error of a result's free that trapped: names the call, the free and
/// the fixes (built only on that error).
fn free_failed(e: wasmtime::Error, c: &PlanCall, free: &FreeExport) -> wasmtime::Error {
    let own = if c.free_export.is_empty() {
        "the guest's free_export"
    } else {
        "this call's free_export"
    };
    format_err!(
        "freeing the result of `{}` with `{}` ({own}; free_result = true is the default) failed: {e:#}. \
         If `{}` returns memory the caller must not free (static data such as a `*_version()` string), \
         set free_result = false on this call; if the library frees its results with its own function, \
         name it on the call: free_export = \"<lib>_free\"",
        c.export,
        free.name(),
        c.export
    )
}

/// Per-store state: the plan's `init` has run on this instance, and its
/// exports are resolved and typed.
struct PlanState {
    /// The [`PlanGuest::id`] these exports were resolved for.
    owner: u64,
    memory: Option<Memory>,
    alloc: AllocFn,
    free: FreeFn,
    /// One per step, in [`PlanGuest::steps`] order.
    funcs: Vec<Func>,
    /// One per step: what releases its result.
    result_frees: Vec<FreeFn>,
    /// Reused buffers: a call allocates nothing of its own.
    params: Vec<Val>,
    results: Vec<Val>,
    owned: Vec<(i32, i32)>,
}

impl PlanState {
    /// Writes `bytes` into guest memory through the guest's allocator.
    fn write(&self, store: &mut Store<Host>, bytes: &[u8]) -> wasmtime::Result<i32> {
        let memory = self
            .memory
            .ok_or_else(|| format_err!("the guest exports no `memory`"))?;
        let len = bytes.len().max(1) as i32;
        let p = match &self.alloc {
            AllocFn::None => return Err(format_err!("the plan has no allocator")),
            AllocFn::Malloc(f) => f.call(&mut *store, len)?,
            AllocFn::Realloc(f) => f.call(&mut *store, (0, 0, 8, len))?,
        };
        if p == 0 {
            return Err(format_err!("the guest's allocator returned NULL"));
        }
        memory.write(&mut *store, p as u32 as usize, bytes)?;
        Ok(p)
    }
}

/// Type-checks one planned call and prepares it.
fn prepare_step(
    module: &Module,
    key: &'static str,
    c: &PlanCall,
    free: &FreeExport,
) -> Result<Step> {
    let params = check_call(module, key, c)?;
    let results = func_type(module, key, &c.export)?.results().len();
    let mut types = params.iter();
    let mut args = Vec::with_capacity(c.args.len());
    for a in &c.args {
        args.push(match a {
            PlanArg::Int(v) => match types.next() {
                Some(ValType::I64) => Arg::Int(Val::I64(*v)),
                _ => Arg::Int(Val::I32(*v as i32)),
            },
            PlanArg::Bytes { bytes } => {
                types.next();
                types.next();
                Arg::Bytes(bytes.as_bytes().to_vec())
            }
            PlanArg::CString { cstring } => {
                types.next();
                Arg::CString([cstring.as_bytes(), &[0]].concat())
            }
            PlanArg::Out { .. } => {
                types.next();
                Arg::Out
            }
        });
    }
    let result_free = if !c.free_export.is_empty() {
        if !c.result.reads_memory() {
            bail!(ExportMismatch {
                key,
                message: format!(
                    "`{}`: free_export = \"{}\" releases a result in guest memory, but result = \"{}\" returns none: remove free_export or read the result",
                    c.export,
                    c.free_export,
                    serde_json::to_value(c.result)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                ),
            });
        }
        FreeExport::check(module, key, &c.free_export).map_err(|e| {
            match e.downcast::<ExportMismatch>() {
                Ok(mut m) => {
                    m.message =
                        format!("{} (the free_export of the call `{}`)", m.message, c.export);
                    anyhow::Error::from(m)
                }
                Err(e) => e,
            }
        })?
    } else {
        free.clone()
    };
    let int = |what: &str, text: &str| -> Result<Option<i64>> {
        if text.is_empty() || !matches!(c.result, PlanResult::I32 | PlanResult::I64) {
            return Ok(None);
        }
        text.trim().parse().map(Some).map_err(|_| {
            ExportMismatch {
                key,
                message: format!(
                    "`{}`: {what} = \"{text}\" is not an integer, but the call's result is one: write the decimal value",
                    c.export
                ),
            }
            .into()
        })
    };
    Ok(Step {
        call: c.clone(),
        export: module
            .get_export_index(&c.export)
            .ok_or_else(|| anyhow::anyhow!("the export `{}` vanished", c.export))?,
        args,
        results,
        result_free,
        expect_int: int("expect", &c.expect)?,
        not_expect_int: int("not_expect", &c.not_expect)?,
    })
}

/// Checks one planned call against the export's type; returns its params.
fn check_call(module: &Module, key: &'static str, c: &PlanCall) -> Result<Vec<ValType>> {
    let f = func_type(module, key, &c.export)?;
    let params: Vec<ValType> = f.params().collect();
    let results: Vec<ValType> = f.results().collect();
    let mut want = Vec::new();
    for a in &c.args {
        match a {
            PlanArg::Int(_) => {
                want.push(
                    params
                        .get(want.len())
                        .cloned()
                        .filter(|t| t.is_i64())
                        .unwrap_or(I32),
                );
            }
            PlanArg::Bytes { .. } => want.extend([I32, I32]),
            PlanArg::CString { .. } | PlanArg::Out { .. } => want.push(I32),
        }
    }
    let want_results: Vec<ValType> = match c.result {
        // `result = "none"` accepts and ignores whatever the export returns.
        PlanResult::None => results.clone(),
        PlanResult::I32 | PlanResult::PtrOutLen | PlanResult::Cstring => vec![I32],
        PlanResult::I64 | PlanResult::Packed => vec![I64],
    };
    if c.result == PlanResult::PtrOutLen && !c.args.iter().any(|a| matches!(a, PlanArg::Out { .. }))
    {
        bail!(ExportMismatch {
            key,
            message: format!(
                "`{}`: result = \"ptr-out-len\" reads the length from an out-pointer: add an argument {{ out = \"len\" }} where the export takes it",
                c.export
            ),
        });
    }
    expect_func(module, key, &c.export, &want, &want_results).map_err(|e| {
        match e.downcast::<ExportMismatch>() {
            Ok(mut m) => {
                m.message = format!(
                    "{} (the plan's args {} give ({}): a `bytes` argument is a (ptr, len) pair, `cstring` and `out` are one pointer, integers are i32 or i64)",
                    m.message,
                    serde_json::to_string(&c.args).unwrap_or_default(),
                    want.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
                );
                anyhow::Error::from(m)
            }
            Err(e) => e,
        }
    })?;
    Ok(params)
}

impl Guest for PlanGuest {
    fn wasi(&self) -> (WasiLevel, WasiSpec) {
        match &self.wasi {
            Some(spec) => (WasiLevel::P1, spec.clone()),
            None => (WasiLevel::None, WasiSpec::default()),
        }
    }

    fn instantiate(&self, store: &mut Store<Host>) -> Result<Sandbox> {
        instantiate_core(&self.pre, store)
    }

    fn initialise(&self, store: &mut Store<Host>, sandbox: &mut Sandbox) -> wasmtime::Result<()> {
        self.init_once(store, sandbox.core()?)
    }

    fn call(&self, store: &mut Store<Host>, sandbox: &mut Sandbox) -> wasmtime::Result<()> {
        let instance = *sandbox.core()?;
        self.init_once(store, &instance)?;
        self.with_state(store, |st, store| {
            for i in self.init_len..self.steps.len() {
                self.run_step(store, st, i)?;
            }
            Ok(())
        })
    }
}
