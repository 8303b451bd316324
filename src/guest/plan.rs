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

use super::reactor::{guest_memory, initialize_once};
use super::{Guest, Sandbox, check, grants};
use crate::WasmtimeContext;
use crate::host::faults::check_failed;
use crate::host::wasi::WasiSpec;
use crate::host::{Host, WasiLevel};
use crate::settings::{GuestSettings, PlanArg, PlanCall, PlanResult};
use anyhow::{Result, bail};
use wasmtime::{Instance, InstancePre, Linker, Memory, Module, Store, Val, ValType, format_err};

/// `i32`, for signature checks.
pub const I32: ValType = ValType::I32;
/// `i64`, for signature checks.
pub const I64: ValType = ValType::I64;

/// A type-check failure of an export a config names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportMismatch {
    /// The `[guest]` key that names the export.
    pub key: String,
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
    key: &str,
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
            key: key.to_string(),
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
pub fn func_type(module: &Module, key: &str, name: &str) -> Result<wasmtime::FuncType> {
    match module.get_export(name) {
        Some(wasmtime::ExternType::Func(f)) => Ok(f),
        Some(other) => Err(ExportMismatch {
            key: key.to_string(),
            message: format!("the export `{name}` is not a function but {other:?}"),
        }
        .into()),
        None => Err(ExportMismatch {
            key: key.to_string(),
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

/// How the guest allocates and frees.
#[derive(Debug, Clone)]
enum Alloc {
    /// `malloc(size) -> ptr`-shaped.
    Malloc(String),
    /// `cabi_realloc(old, old_size, align, new_size) -> ptr`.
    Realloc(String),
}

#[derive(Debug, Clone)]
enum Free {
    None,
    /// `free(ptr)`.
    Ptr(String),
    /// `dealloc(ptr, len)`.
    PtrLen(String),
}

/// The core-module guest with its plan.
pub struct PlanGuest {
    pre: InstancePre<Host>,
    wasi: Option<WasiSpec>,
    alloc: Alloc,
    free: Free,
    init: Vec<(PlanCall, Vec<ValType>)>,
    calls: Vec<(PlanCall, Vec<ValType>)>,
}

impl PlanGuest {
    /// Links the module (WASI preview1 if it imports it) and type-checks the plan.
    pub fn new(module: Module, g: &GuestSettings) -> Result<PlanGuest> {
        if g.calls.is_empty() {
            bail!(ExportMismatch {
                key: "calls".into(),
                message: "kind = \"core\" needs a plan: at least one call, e.g. calls = [{ export = \"render\", args = [{ bytes = \"# hi\" }], result = \"packed\" }]".into(),
            });
        }
        let needs_memory = g.init.iter().chain(&g.calls).any(|c| {
            c.args.iter().any(|a| !matches!(a, PlanArg::Int(_))) || c.result.reads_memory()
        });
        let alloc = if !needs_memory || g.alloc_export.is_empty() {
            None
        } else if g.alloc_export == "cabi_realloc" {
            expect_func(
                &module,
                "alloc_export",
                &g.alloc_export,
                &[I32, I32, I32, I32],
                &[I32],
            )?;
            Some(Alloc::Realloc(g.alloc_export.clone()))
        } else {
            expect_func(&module, "alloc_export", &g.alloc_export, &[I32], &[I32])?;
            Some(Alloc::Malloc(g.alloc_export.clone()))
        };
        let alloc = match alloc {
            Some(a) => a,
            None if needs_memory => bail!(ExportMismatch {
                key: "alloc_export".into(),
                message: "the plan passes bytes or reads results from memory, so it needs the guest's allocator export (e.g. alloc_export = \"malloc\")".into(),
            }),
            None => Alloc::Malloc(String::new()),
        };
        let free = if g.free_export.is_empty() || !needs_memory {
            Free::None
        } else {
            let f = func_type(&module, "free_export", &g.free_export)?;
            match (f.params().len(), f.results().len()) {
                (1, 0) => {
                    expect_func(&module, "free_export", &g.free_export, &[I32], &[])?;
                    Free::Ptr(g.free_export.clone())
                }
                _ => {
                    expect_func(&module, "free_export", &g.free_export, &[I32, I32], &[])?;
                    Free::PtrLen(g.free_export.clone())
                }
            }
        };
        if needs_memory
            && !matches!(
                module.get_export("memory"),
                Some(wasmtime::ExternType::Memory(_))
            )
        {
            bail!(ExportMismatch {
                key: "kind".into(),
                message: "the plan writes or reads guest memory, but the guest exports no `memory`"
                    .into(),
            });
        }
        let check_all = |key: &str, list: &[PlanCall]| -> Result<Vec<(PlanCall, Vec<ValType>)>> {
            list.iter()
                .map(|c| Ok((c.clone(), check_call(&module, key, c)?)))
                .collect()
        };
        let init = check_all("init", &g.init)?;
        let calls = check_all("calls", &g.calls)?;
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
            init,
            calls,
        })
    }

    fn run_call(
        &self,
        store: &mut Store<Host>,
        instance: &Instance,
        c: &PlanCall,
        param_types: &[ValType],
    ) -> wasmtime::Result<()> {
        let func = instance
            .get_func(&mut *store, &c.export)
            .ok_or_else(|| format_err!("no export `{}`", c.export))?;
        let memory = if param_types.is_empty() && !c.result.reads_memory() {
            None
        } else {
            guest_memory(store, instance).ok()
        };
        let mut params = Vec::with_capacity(param_types.len());
        let mut owned: Vec<(i32, i32)> = Vec::new();
        let mut out_slot = None;
        let mut types = param_types.iter();
        for a in &c.args {
            match a {
                PlanArg::Int(v) => match types.next() {
                    Some(ValType::I64) => params.push(Val::I64(*v)),
                    _ => params.push(Val::I32(*v as i32)),
                },
                PlanArg::Bytes { bytes } => {
                    let p = self.write(store, memory, bytes.as_bytes())?;
                    owned.push((p, bytes.len() as i32));
                    params.push(Val::I32(p));
                    params.push(Val::I32(bytes.len() as i32));
                    types.next();
                    types.next();
                }
                PlanArg::CString { cstring } => {
                    let b = [cstring.as_bytes(), &[0]].concat();
                    let p = self.write(store, memory, &b)?;
                    owned.push((p, b.len() as i32));
                    params.push(Val::I32(p));
                    types.next();
                }
                PlanArg::Out { .. } => {
                    let p = self.write(store, memory, &[0u8; 8])?;
                    owned.push((p, 8));
                    out_slot.get_or_insert(p);
                    params.push(Val::I32(p));
                    types.next();
                }
            }
        }
        let mut results = vec![Val::I32(0); func.ty(&*store).results().len()];
        func.call(&mut *store, &params, &mut results)?;
        let what = format!("the result of `{}`", c.export);
        let outcome = match c.result {
            PlanResult::None => Ok(()),
            PlanResult::I32 | PlanResult::I64 => {
                let v = match results.first() {
                    Some(Val::I32(v)) => i64::from(*v),
                    Some(Val::I64(v)) => *v,
                    _ => 0,
                };
                check::record(
                    store,
                    || format!("the result of `{}`", c.export),
                    || v.to_string().into_bytes(),
                );
                if !c.expect.is_empty() && c.expect != v.to_string() {
                    Err(check_failed(format!(
                        "{what} is {v}, expected {}",
                        c.expect
                    )))
                } else {
                    Ok(())
                }
            }
            PlanResult::Packed | PlanResult::PtrOutLen | PlanResult::Cstring => {
                let mem = memory.ok_or_else(|| format_err!("the guest exports no `memory`"))?;
                let (ptr, len) = match (c.result, results.first()) {
                    (PlanResult::Packed, Some(Val::I64(v))) => {
                        ((*v as u64 >> 32) as u32, (*v as u64 & 0xffff_ffff) as u32)
                    }
                    (PlanResult::PtrOutLen, Some(Val::I32(p))) => {
                        let slot = out_slot.ok_or_else(|| {
                            format_err!(
                                "result = \"ptr-out-len\" needs an `{{ out = \"len\" }}` argument"
                            )
                        })?;
                        let mut b = [0u8; 4];
                        mem.read(&*store, slot as u32 as usize, &mut b)?;
                        (*p as u32, u32::from_le_bytes(b))
                    }
                    (PlanResult::Cstring, Some(Val::I32(p))) => {
                        let data = mem.data(&*store);
                        let start = *p as u32 as usize;
                        let len = data
                            .get(start..)
                            .and_then(|d| d.iter().position(|&b| b == 0))
                            .ok_or_else(|| {
                                format_err!("{what}: no NUL-terminated string at {start:#x}")
                            })?;
                        (*p as u32, len as u32)
                    }
                    _ => return Err(format_err!("{what} has an unexpected type")),
                };
                if ptr == 0 && len != 0 {
                    return Err(check_failed(format!("{what} is a NULL pointer")));
                }
                let mut got = vec![0u8; len as usize];
                mem.read(&*store, ptr as usize, &mut got)?;
                check::record(store, || what.clone(), || got.clone());
                let checked = check::bytes(&what, &got, &c.expect, c.equals.as_deref());
                if c.free_result && ptr != 0 {
                    let len = if c.result == PlanResult::Cstring {
                        len + 1
                    } else {
                        len
                    };
                    self.release(store, ptr as i32, len as i32)?;
                }
                checked
            }
        };
        for (p, len) in owned {
            self.release(store, p, len)?;
        }
        outcome?;
        // A WASI guest's stderr output fails the call too.
        check::output(store, 0, &c.export, "")
    }

    fn write(
        &self,
        store: &mut Store<Host>,
        memory: Option<Memory>,
        bytes: &[u8],
    ) -> wasmtime::Result<i32> {
        let memory = memory.ok_or_else(|| format_err!("the guest exports no `memory`"))?;
        let instance_alloc = |store: &mut Store<Host>| -> wasmtime::Result<i32> {
            let data = store
                .data_mut()
                .guest
                .as_ref()
                .and_then(|g| g.downcast_ref::<PlanState>())
                .map(|s| s.instance);
            let instance = data.ok_or_else(|| format_err!("plan state missing"))?;
            let len = bytes.len().max(1) as i32;
            match &self.alloc {
                Alloc::Malloc(name) => instance
                    .get_typed_func::<i32, i32>(&mut *store, name)?
                    .call(&mut *store, len),
                Alloc::Realloc(name) => instance
                    .get_typed_func::<(i32, i32, i32, i32), i32>(&mut *store, name)?
                    .call(&mut *store, (0, 0, 8, len)),
            }
        };
        let p = instance_alloc(store)?;
        if p == 0 {
            return Err(format_err!("the guest's allocator returned NULL"));
        }
        memory.write(&mut *store, p as u32 as usize, bytes)?;
        Ok(p)
    }

    fn release(&self, store: &mut Store<Host>, ptr: i32, len: i32) -> wasmtime::Result<()> {
        let Some(instance) = store
            .data()
            .guest
            .as_ref()
            .and_then(|g| g.downcast_ref::<PlanState>())
            .map(|s| s.instance)
        else {
            return Ok(());
        };
        match &self.free {
            Free::None => Ok(()),
            Free::Ptr(name) => instance
                .get_typed_func::<i32, ()>(&mut *store, name)?
                .call(&mut *store, ptr),
            Free::PtrLen(name) => instance
                .get_typed_func::<(i32, i32), ()>(&mut *store, name)?
                .call(&mut *store, (ptr, len)),
        }
    }

    fn init_once(&self, store: &mut Store<Host>, instance: &Instance) -> wasmtime::Result<()> {
        let done = store
            .data()
            .guest
            .as_ref()
            .is_some_and(|g| g.is::<PlanState>());
        if done {
            return Ok(());
        }
        initialize_once(store, instance)?;
        store.data_mut().guest = Some(Box::new(PlanState {
            instance: *instance,
        }));
        for (c, types) in &self.init {
            use wasmtime::error::Context as _;
            self.run_call(store, instance, c, types)
                .with_context(|| format!("the init call `{}`", c.export))?;
        }
        Ok(())
    }
}

/// Per-store state: the plan's `init` has run on this instance.
struct PlanState {
    instance: Instance,
}

/// Checks one planned call against the export's type; returns its params.
fn check_call(module: &Module, key: &str, c: &PlanCall) -> Result<Vec<ValType>> {
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
            key: key.into(),
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
        super::instantiate_core(&self.pre, store)
    }

    fn initialise(&self, store: &mut Store<Host>, sandbox: &mut Sandbox) -> wasmtime::Result<()> {
        self.init_once(store, sandbox.core()?)
    }

    fn call(&self, store: &mut Store<Host>, sandbox: &mut Sandbox) -> wasmtime::Result<()> {
        let instance = *sandbox.core()?;
        self.init_once(store, &instance)?;
        for (c, types) in &self.calls {
            self.run_call(store, &instance, c, types)?;
        }
        Ok(())
    }
}
