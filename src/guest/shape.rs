//! What one instance of a component needs from the pool, read from its own
//! structure before anything is compiled: core instances, memories and
//! tables (each core module instantiation brings the memories and tables its
//! module defines).

use anyhow::{Context, Result};
use wasmparser::{Instance, Parser, Payload};

/// Per-instance needs of a component.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Core module instances (`max_core_instances_per_component`; each draws
    /// one of `total_core_instances`).
    pub core_instances: u32,
    /// Linear memories defined by those instances (`max_memories_per_component`,
    /// `total_memories`).
    pub memories: u32,
    /// Tables defined by those instances (`max_tables_per_component`, `total_tables`).
    pub tables: u32,
}

/// The shape of `component` (nested components are counted once each).
pub fn of(component: &[u8]) -> Result<Shape> {
    // One frame per (nested) component: the memories and tables of each of
    // its core modules, by module index.
    struct Frame {
        modules: Vec<(u32, u32)>,
    }
    let mut shape = Shape::default();
    let mut frames = vec![Frame {
        modules: Vec::new(),
    }];
    let mut in_module = 0u32; // depth inside a core module
    let mut current = (0u32, 0u32);
    for payload in Parser::new(0).parse_all(component) {
        let payload = payload.context("reading the component's structure")?;
        match payload {
            Payload::ModuleSection { .. } => {
                in_module += 1;
                current = (0, 0);
            }
            Payload::MemorySection(r) if in_module > 0 => current.0 += r.count(),
            Payload::TableSection(r) if in_module > 0 => current.1 += r.count(),
            Payload::ComponentSection { .. } => frames.push(Frame {
                modules: Vec::new(),
            }),
            Payload::InstanceSection(r) if in_module == 0 => {
                let frame = frames.last().expect("a frame per component");
                for i in r {
                    if let Instance::Instantiate { module_index, .. } =
                        i.context("reading core instances")?
                    {
                        let (m, t) = frame
                            .modules
                            .get(module_index as usize)
                            .copied()
                            .unwrap_or_default();
                        shape.core_instances += 1;
                        shape.memories += m;
                        shape.tables += t;
                    }
                }
            }
            Payload::End(_) => {
                if in_module > 0 {
                    in_module -= 1;
                    if let Some(f) = frames.last_mut() {
                        f.modules.push(current);
                    }
                } else if frames.len() > 1 {
                    frames.pop();
                }
            }
            _ => {}
        }
    }
    Ok(shape)
}
