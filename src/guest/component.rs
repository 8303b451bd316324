//! Components called through a function export: `cli-component`
//! (`wasi:cli/run`, run the way `wasmtime run` runs a component: once per
//! instance, exit status checked) and `synthetic-component` (the generated
//! component's `run: func()`, which imports nothing).

use super::sandbox::{Guest, Sandbox, grants};
use crate::WasmtimeContext;
use crate::host::wasi::WasiSpec;
use crate::host::{Host, WasiLevel};
use crate::settings::{GuestKind, GuestSettings};
use anyhow::{Result, bail};
use wasmtime::Store;
use wasmtime::component::{Component, InstancePre, Linker, TypedFunc};

/// A component's function-export guest.
pub struct ComponentGuest {
    pre: InstancePre<Host>,
    cli: bool,
    wasi: Option<WasiSpec>,
    expect: super::check::Outputs,
}

/// Per-store state: `run` looked up once, and whether a command already ran.
struct State {
    run: Option<TypedFunc<(), ()>>,
    ran: bool,
}

/// The names a component exports at top level, for messages.
pub fn export_names(component: &Component) -> Vec<String> {
    let engine = component.engine();
    component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

impl ComponentGuest {
    /// Links the component (WASI preview2 when it imports anything) and checks its export.
    pub fn new(component: Component, g: &GuestSettings) -> Result<ComponentGuest> {
        let engine = component.engine().clone();
        let ty = component.component_type();
        let imports = ty.imports(&engine).count() > 0;
        let cli = g.kind == GuestKind::CliComponent;
        let want = if cli {
            "wasi:cli/run@0.2"
        } else {
            super::synthetic_component::RUN_EXPORT
        };
        let names = export_names(&component);
        if !names.iter().any(|n| n.starts_with(want)) {
            bail!(super::plan::ExportMismatch {
                key: "kind",
                message: format!(
                    "kind = \"{}\" calls the export `{want}`, which this component does not have; it exports: {}{}",
                    if cli {
                        "cli-component"
                    } else {
                        "synthetic-component"
                    },
                    if names.is_empty() {
                        "nothing".to_string()
                    } else {
                        names.join(", ")
                    },
                    if names
                        .iter()
                        .any(|n| n.starts_with("wasi:http/incoming-handler"))
                    {
                        " (a wasi:http proxy: use kind = \"http-component\")"
                    } else {
                        ""
                    }
                ),
            });
        }
        let mut linker = Linker::new(&engine);
        if imports {
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
                .wt_context(|| "adding WASI preview2 to the linker")?;
        }
        let pre = linker.instantiate_pre(&component).wt_context(|| {
            "linking the component (pooling-lab offers WASI preview2 for wasi:cli components and nothing else)"
        })?;
        let wasi = imports.then(|| {
            let mut spec = grants(g);
            spec.args = g.argv.clone();
            spec.stdin = g.stdin.as_bytes().to_vec();
            spec
        });
        Ok(ComponentGuest {
            pre,
            cli,
            wasi,
            expect: super::check::Outputs::from_settings(g)?,
        })
    }
}

impl Guest for ComponentGuest {
    fn wasi(&self) -> (WasiLevel, WasiSpec) {
        match &self.wasi {
            Some(spec) => (WasiLevel::P2, spec.clone()),
            None => (WasiLevel::None, WasiSpec::default()),
        }
    }

    fn instantiate(&self, store: &mut Store<Host>) -> Result<Sandbox> {
        self.pre
            .instantiate(store)
            .map(Sandbox::Component)
            .wt_context(|| "instantiating")
    }

    fn reusable(&self) -> bool {
        !self.cli
    }

    fn call(&self, store: &mut Store<Host>, sandbox: &mut Sandbox) -> wasmtime::Result<()> {
        let Sandbox::Component(instance) = sandbox else {
            return Err(wasmtime::format_err!("not a component instance"));
        };
        let instance = *instance;
        if self.cli {
            let state = store.data_mut().state.get_or_insert_with(|| State {
                run: None,
                ran: false,
            });
            if state.ran {
                return Err(wasmtime::format_err!(
                    "a wasi:cli command runs once per instance: this scenario reuses sandboxes, which a command cannot serve"
                ));
            }
            state.ran = true;
            let command = wasmtime_wasi::p2::bindings::sync::Command::new(&mut *store, &instance)?;
            let status = match command.wasi_cli_run().call_run(&mut *store) {
                Ok(Ok(())) => 0,
                Ok(Err(())) => 1,
                Err(e) => super::check::after_call(store, super::command::exit_status(Err(e)))?,
            };
            return super::command::check_exit(store, status, "wasi:cli/run", &self.expect);
        }
        let cached = store
            .data_mut()
            .state
            .get_or_insert_with(|| State {
                run: None,
                ran: false,
            })
            .run;
        let run = match cached {
            Some(run) => run,
            None => {
                let run = instance.get_typed_func::<(), ()>(
                    &mut *store,
                    super::synthetic_component::RUN_EXPORT,
                )?;
                store
                    .data_mut()
                    .state
                    .get_or_insert_with(|| State {
                        run: None,
                        ran: false,
                    })
                    .run = Some(run);
                run
            }
        };
        run.call(&mut *store, ())
    }
}
