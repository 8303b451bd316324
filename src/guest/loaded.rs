//! A loaded guest: a core module or a component.

use anyhow::Result;
use wasmtime::Module;
use wasmtime::component::Component;

/// A loaded guest: a core module or a component.
pub enum Loaded {
    /// A core module.
    Module(Module),
    /// A component.
    Component(Component),
}

impl Loaded {
    /// The core module, or an error naming what the file is instead.
    pub fn module(self) -> Result<Module> {
        match self {
            Loaded::Module(m) => Ok(m),
            Loaded::Component(_) => anyhow::bail!(
                "the guest is a component, but this kind takes a core module: use kind = \"cli-component\" or \"http-component\""
            ),
        }
    }

    /// The component, or an error naming what the file is instead.
    pub fn component(self) -> Result<Component> {
        match self {
            Loaded::Component(c) => Ok(c),
            Loaded::Module(_) => anyhow::bail!(
                "the guest is a core module, but this kind takes a component: use kind = \"wasi-command\", \"wasi-reactor\" or \"core\""
            ),
        }
    }
}
