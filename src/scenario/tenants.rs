//! Scenario `tenants`: many distinct modules (tenants) rotated through one
//! engine and one pool, as FaaS platforms, plugin hosts and multi-user
//! sandboxes do.
//!
//! `tenants` distinct modules (or components) are loaded into one engine
//! ([`TenantSource::wasm`]): synthetic modules generated each from its own
//! seed with its own image size, generated components of drawn image sizes,
//! or copies of a real guest's file (QuickJS, Python, a wasi:http
//! component, a core module with its own ABI), each made a module of its
//! own by a custom section and precompiled as its own artifact
//! ([`precompile`], in the parent). `live` sandboxes are alive at once; each request tears the oldest one
//! down, instantiates a sandbox of the request's tenant and calls it. Which
//! tenant a request goes to follows `mix` (uniform, Zipf, or a trace file).
//! Every `tenant_churn_every` requests, `tenant_churn` tenants are replaced
//! by new ones: the old `Module`s are dropped (wasmtime then purges their
//! affine slots) and new modules with new images are loaded.
//!
//! ## Affine or not: how it is observed from outside wasmtime
//!
//! wasmtime's pooling allocator gives each instance's linear memory a slot
//! of the pool at a fixed address. A slot whose last user was the same
//! module still has that module's image mapped, and instantiation skips the
//! re-mapping (`MemoryImageSlot::instantiate` compares the images); a slot
//! last used by another module (or purged when its module was dropped) is
//! re-mapped. wasmtime (48 to 50) exposes no per-instantiation counter of this, so
//! the scenario reads the slot from the instance itself: the base address of
//! its linear memory (`Memory::data_ptr`, read after the instantiate clock
//! stopped) names the slot, and a map slot -> the tenant generation that last
//! used it classifies the request:
//!
//! - **affine**: the slot's previous user was this very module (same tenant,
//!   not replaced since): its image is still mapped;
//! - **non-affine**: the slot was last used by another module, or by a
//!   tenant since dropped (its slot was purged);
//! - **cold**: the slot had never been used in this process (counted among
//!   the non-affine).
//!
//! This is exact for the pooling allocator (a replaced tenant is a new
//! module with a new generation, so its predecessor's slots never count as
//! affine). A component's memories are not visible to the host, so
//! component tenants are classified from the image mappings instead
//! ([`AffinityFrom::ImageMappings`], [`crate::measure::mappings`]). It is cross-checked by the split histograms themselves and by
//! the page faults each class takes (instantiate + call, the measuring
//! thread's own counter). On-demand allocation has no slots: every request
//! is counted non-affine and no hit rate is given.
//!
//! ## Timed regions
//!
//! ```text
//! t0  drop of the oldest live sandbox (when `live` are alive)
//! t1                       [image mappings read (components); thread fault counter read]
//! t2  Store::new + instantiate
//! t3                       [fault counter; memory base or image mappings read; fault counter]
//! t4  call of the workload
//! t5                       [thread fault counter read]
//! ```
//!
//! `request` is `(t1 - t0) + (t3 - t2) + (t5 - t4)`: only the measured
//! operations. Memory is sampled every `sample_every` requests, outside
//! every timed region.

use crate::guest::synthetic::{self, splitmix64};
use crate::guest::synthetic_component::WASM_PAGE;
use crate::guest::{Guest, Sandbox, artifact};
use crate::host::guest_faults::GuestFaults;
use crate::host::ticker::EpochTicker;
use crate::host::wasi::WasiSpec;
use crate::host::{Host, StoreSpec, WasiLevel};
use crate::measure::faults::ThreadUsage;
use crate::measure::fit::linear_fit;
use crate::measure::latency::{self, Hist, LatencySummary};
use crate::measure::latency::{Histograms, PhaseLatency};
use crate::measure::mappings;
use crate::measure::memory::{self, MemorySample};
use crate::metric::{Better, Headline, MIN_PROCESS_BYTES, MIN_RELATIVE, Unit, phase_headlines};
pub use crate::settings::trace::parse_trace;
use crate::settings::{ByteSize, GuestKind, GuestSettings, Load, TenantMix, Variant};
use crate::settings::{Objective, TuneSettings};
use anyhow::{Context, Result, anyhow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use wasmtime::{Engine, Store};

/// The timed phases, in report order; also the histogram file names.
pub const PHASES: [&str; 6] = [
    "instantiate",
    "instantiate-affine",
    "instantiate-non-affine",
    "call",
    "drop",
    "request",
];

/// Extra memory over the implied bound still judged within it: the
/// instance and store bookkeeping (vmctx, tables, host state) of the live
/// sandboxes and allocator noise, which the bound does not count.
pub const BOUND_SLACK_BYTES: u64 = 4 << 20;

/// Growth over the second half of the run (fitted) below which memory is
/// judged to have levelled off: the larger of this and 5% of the level.
pub const LEVEL_OFF_BYTES: u64 = 1 << 20;

/// One memory sample of a tenants run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TenantsSample {
    /// Timed requests completed when the sample was taken.
    pub requests: u64,
    /// `Pss` (smaps_rollup).
    pub pss_bytes: u64,
    /// `Private_Dirty` (smaps_rollup).
    pub private_dirty_bytes: u64,
    /// `Rss` (smaps_rollup).
    pub rss_bytes: u64,
    /// wasmtime's own count of unused warm memory slots
    /// (`PoolingAllocatorMetrics::unused_warm_memories`; absent on-demand).
    #[serde(default)]
    pub pool_unused_warm_memories: Option<u32>,
    /// wasmtime's own count of bytes unused slots keep resident
    /// (`PoolingAllocatorMetrics::unused_memory_bytes_resident`).
    #[serde(default)]
    pub pool_unused_resident_bytes: Option<u64>,
}

impl TenantsSample {
    fn of(
        requests: u64,
        m: &MemorySample,
        pool: Option<&wasmtime::PoolingAllocatorMetrics>,
    ) -> TenantsSample {
        TenantsSample {
            requests,
            pss_bytes: m.pss_bytes,
            private_dirty_bytes: m.private_dirty_bytes,
            rss_bytes: m.rss_bytes,
            pool_unused_warm_memories: pool.map(|p| p.unused_warm_memories()),
            pool_unused_resident_bytes: pool.map(|p| p.unused_memory_bytes_resident() as u64),
        }
    }
}

/// Memory around one replacement of tenants (their `Module`s dropped, new
/// ones loaded).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TenantDrop {
    /// Timed requests completed before it.
    pub at_request: u64,
    /// Tenants dropped.
    pub dropped: u32,
    /// Pss right before the modules were dropped.
    pub pss_before_bytes: u64,
    /// Pss right after they were dropped (before the new ones were loaded).
    pub pss_after_drop_bytes: u64,
    /// Rss right before.
    pub rss_before_bytes: u64,
    /// Rss right after the drop.
    pub rss_after_drop_bytes: u64,
    /// Pss after the new tenants were loaded.
    #[serde(default)]
    pub pss_after_load_bytes: u64,
}

/// The resident memory the settings imply for a tenants run, over the level
/// right after every tenant was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemoryBound {
    /// Warm slots the pool keeps: `min(max_unused_warm_slots, total_memories
    /// - live)` (0 on-demand).
    pub warm_slots: u64,
    /// What one unused warm slot keeps resident: `min(linear_memory_keep_resident,
    /// largest tenant memory)` (decommitted beyond that).
    pub per_warm_slot_bytes: u64,
    /// Live sandboxes.
    pub live: u64,
    /// Most linear memory one live sandbox can have resident: the largest
    /// tenant memory (core modules: the largest seen after a call; components:
    /// the memories' declared initial sizes, see `per_live_observed`).
    pub per_live_bytes: u64,
    /// Whether `per_live_bytes` was read from the sandboxes (core modules)
    /// or is the declared initial size (components, whose memories the host
    /// cannot see: growth past it is not counted, so the bound is low).
    #[serde(default = "yes")]
    pub per_live_observed: bool,
    /// Compiled code the tenants' modules may fault in from their artifact
    /// files as they run (`load = "file"`: the sum of the loaded tenants'
    /// code sizes; 0 with `compile` and `bytes`, whose code is resident
    /// right after loading). Small for synthetic tenants, megabytes for
    /// real runtimes.
    #[serde(default)]
    pub code_bytes: u64,
    /// `live x per_live + warm_slots x per_warm_slot + code`.
    pub bound_bytes: u64,
}

fn yes() -> bool {
    true
}

/// Final teardown: every sandbox dropped, then every tenant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DropAll {
    /// Memory with the engine built and no tenant loaded.
    pub before_load: MemorySample,
    /// Memory right after every tenant was loaded (before any request).
    pub after_load: MemorySample,
    /// Memory after the timed requests, every live sandbox dropped.
    pub sandboxes_dropped: MemorySample,
    /// Memory after every tenant's `Module` was dropped too.
    pub tenants_dropped: MemorySample,
    /// `sandboxes_dropped - tenants_dropped` Pss: what dropping the tenants returned.
    pub returned_pss_bytes: i64,
    /// `tenants_dropped - before_load` Pss: what the run left behind.
    pub retained_pss_bytes: i64,
}

/// Result of the tenants scenario for one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TenantsResult {
    /// The tenants' guest kind (`[guest] kind`).
    #[serde(default = "synthetic_kind")]
    pub guest_kind: String,
    /// How each request's slot affinity was read.
    #[serde(default)]
    pub affinity_from: AffinityFrom,
    /// Tenants (distinct modules) at any time.
    pub tenants: u32,
    /// Sandboxes alive at once.
    pub live: u32,
    /// The request mix.
    pub mix: TenantMix,
    /// Zipf exponent (mix = zipf).
    pub zipf_exponent: f64,
    /// Timed requests.
    pub requests: u64,
    /// Untimed requests before them.
    pub warmup: u64,
    /// Wall time of the timed requests (memory samples, replacements and
    /// the reading of image mappings included).
    pub wall_ns: u64,
    /// The part of `wall_ns` the scenario spent on its own readings:
    /// memory samples, tenant replacements (drop, load, their samples) and
    /// `/proc/self/maps` around each component instantiation (about 1 ms
    /// a request for the real components, whose maps are long).
    #[serde(default)]
    pub bookkeeping_ns: u64,
    /// Timed requests / (wall time - bookkeeping): the request thread's own
    /// rate, with the measuring left out.
    pub requests_per_sec: f64,
    /// Time to load every initial tenant (generate + compile or deserialize).
    pub tenants_load_ns: u64,
    /// Smallest tenant image.
    pub image_min_bytes: u64,
    /// Largest tenant image.
    pub image_max_bytes: u64,
    /// Sum of the initial tenants' images.
    pub image_total_bytes: u64,
    /// Whether slots were tracked (pooling); on-demand has none.
    pub slot_tracking: bool,
    /// Timed requests whose slot was last used by the same module.
    pub affine: u64,
    /// Timed requests whose slot was last used by another module (or purged).
    pub non_affine_warm: u64,
    /// Timed requests that got a slot never used before in this process.
    pub cold: u64,
    /// `affine / requests` (absent on-demand).
    pub affine_hit_rate: Option<f64>,
    /// Distinct slots used over the whole run (warmup included); with
    /// [`AffinityFrom::ImageMappings`], the distinct addresses an image was
    /// mapped at.
    pub distinct_slots: u64,
    /// Per phase, in [`PHASES`] order.
    pub phases: Vec<PhaseLatency>,
    /// Minor page faults of instantiate + call per affine request (the
    /// measuring thread's own).
    pub faults_per_affine_request: f64,
    /// Minor page faults of instantiate + call per non-affine request.
    pub faults_per_non_affine_request: f64,
    /// Tenant replacements made during the timed requests.
    pub replacements: Vec<TenantDrop>,
    /// Memory samples, the first at request 0 (after warmup).
    pub samples: Vec<TenantsSample>,
    /// Fitted Pss growth per 1,000 requests over the whole run.
    pub pss_slope_per_1000_bytes: f64,
    /// How well a line fits (R²).
    pub pss_fit_r2: f64,
    /// Fitted Private_Dirty growth per 1,000 requests.
    pub private_dirty_slope_per_1000_bytes: f64,
    /// Fitted Rss growth per 1,000 requests.
    pub rss_slope_per_1000_bytes: f64,
    /// Fitted Private_Dirty growth over the second half of the samples,
    /// extrapolated to that half's length: what the run still grew once
    /// warm. Private_Dirty holds what slots keep resident and the heap; it
    /// leaves out the tenants' file-backed module pages, which change by
    /// steps when tenants are replaced (Pss does, so Pss is not the judge).
    pub second_half_private_dirty_growth_bytes: f64,
    /// The second half grew by less than [`LEVEL_OFF_BYTES`] or 5% of the
    /// Private_Dirty level.
    pub levels_off: bool,
    /// The implied bound.
    pub bound: MemoryBound,
    /// Highest Pss sampled minus Pss after the tenants were loaded.
    pub peak_over_load_pss_bytes: i64,
    /// Highest Pss sampled (whole process).
    pub peak_pss_bytes: u64,
    /// `peak_over_load_pss_bytes <= bound + BOUND_SLACK_BYTES`.
    pub within_bound: bool,
    /// Final teardown.
    pub drop_all: DropAll,
    /// Guest faults of the timed requests.
    pub faults: GuestFaults,
}

fn synthetic_kind() -> String {
    "synthetic".into()
}

/// A small deterministic generator (SplitMix64 sequence).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        splitmix64(self.0)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        (self.unit() * n as f64) as u64 % n.max(1)
    }
}

/// The tenant of each of `n` requests: `uniform`, `zipf` (tenant `k` has
/// weight `1 / (k + 1)^exponent`: tenant 0 is the most popular) or the
/// `trace` ids in order, repeated.
pub fn request_mix(
    mix: TenantMix,
    tenants: u32,
    n: u64,
    exponent: f64,
    seed: u64,
    trace: &[u32],
) -> Vec<u32> {
    let mut rng = Rng(seed);
    let tenants = tenants.max(1);
    match mix {
        TenantMix::Uniform => (0..n)
            .map(|_| rng.below(u64::from(tenants)) as u32)
            .collect(),
        TenantMix::Zipf => {
            let mut cdf = Vec::with_capacity(tenants as usize);
            let mut sum = 0.0;
            for k in 1..=tenants {
                sum += 1.0 / f64::from(k).powf(exponent);
                cdf.push(sum);
            }
            (0..n)
                .map(|_| {
                    let u = rng.unit() * sum;
                    cdf.partition_point(|&c| c <= u).min(tenants as usize - 1) as u32
                })
                .collect()
        }
        TenantMix::Trace => {
            if trace.is_empty() {
                return vec![0; n as usize];
            }
            (0..n as usize).map(|i| trace[i % trace.len()]).collect()
        }
    }
}

/// The text of a trace file: a header saying what it is and how it was
/// made, then one tenant id per line.
pub fn trace_text(mix: TenantMix, tenants: u32, n: u64, exponent: f64, seed: u64) -> String {
    let ids = request_mix(mix, tenants, n, exponent, seed, &[]);
    let mut out = String::with_capacity(ids.len() * 4 + 512);
    out.push_str("# pooling-lab tenants trace: one tenant id per line (0 up to tenants - 1),\n");
    out.push_str("# replayed in order by [scenario] mix = \"trace\"; blank lines and # comments are ignored.\n");
    let mix_name = match mix {
        TenantMix::Uniform => "uniform".to_string(),
        TenantMix::Zipf => format!("zipf --zipf-exponent {exponent}"),
        TenantMix::Trace => "trace".to_string(),
    };
    out.push_str(&format!(
        "# generated by: pooling-lab trace OUT --tenants {tenants} --requests {n} --mix {mix_name} --seed {seed}\n"
    ));
    for id in ids {
        out.push_str(&id.to_string());
        out.push('\n');
    }
    out
}

/// The image size of the tenant generated with `seed`: between `min` and
/// `max`, in whole wasm pages (`max` when `min` is 0).
pub fn tenant_image_size(seed: u64, min: u64, max: u64) -> u64 {
    if min == 0 || min >= max {
        return max;
    }
    let lo = min.div_ceil(WASM_PAGE);
    let hi = max.div_ceil(WASM_PAGE);
    (lo + splitmix64(seed ^ 0x7e6a_47d1) % (hi - lo + 1)) * WASM_PAGE
}

/// One loaded tenant.
struct Tenant {
    /// Unique over the run: a replaced tenant's successor has a new one.
    generation: u64,
    image_bytes: u64,
    /// Size of its compiled code.
    code_bytes: u64,
    /// Linear memory the tenant declares (its memories' initial sizes).
    memory_bytes: u64,
    /// Its core module's memory export, resolved once (`None`: a component).
    memory_export: Option<wasmtime::ModuleExport>,
    guest: Box<dyn Guest>,
}

/// Name of the custom section that makes each tenant of a file guest (or a
/// generated component) a module of its own: its value is the tenant's seed.
pub const TENANT_SECTION: &str = "pooling-lab-tenant";

/// How tenants are made from `[guest]`.
pub struct TenantSource {
    guest: GuestSettings,
    /// The guest's own wasm, read once (file kinds).
    file_wasm: Option<Vec<u8>>,
    /// The file guest's [`wasm_facts`]: image bytes and declared memory.
    file_facts: (u64, u64),
    min_image: u64,
}

impl TenantSource {
    /// The tenants `[guest]` describes: generated per seed for the synthetic
    /// kinds, copies of the guest's file otherwise.
    pub fn new(g: &GuestSettings, min_image: u64) -> Result<TenantSource> {
        let file_wasm = match g.kind {
            GuestKind::Synthetic | GuestKind::SyntheticComponent | GuestKind::SyntheticHttp => None,
            _ => Some(crate::guest::guest_wasm(g)?),
        };
        let file_facts = match &file_wasm {
            Some(w) => wasm_facts(w)?,
            None => (0, 0),
        };
        Ok(TenantSource {
            guest: g.clone(),
            file_wasm,
            file_facts,
            min_image,
        })
    }

    /// The wasm of the tenant made from `seed`, with its image size and the
    /// linear memory it declares:
    ///
    /// - `synthetic`: a module generated from the seed (its own image bytes)
    ///   with an image size drawn between `tenant_image_min` and `image_size`;
    /// - `synthetic-component`, `synthetic-http`: a component generated with
    ///   the drawn image size, plus a [`TENANT_SECTION`] custom section;
    /// - every other kind: the guest's file plus a [`TENANT_SECTION`]
    ///   custom section. The code and image are the guest's, but every
    ///   tenant is a module (component) of its own, compiled and cached as
    ///   its own artifact, as a host serving many tenants that uploaded
    ///   builds of one runtime sees them.
    pub fn wasm(&self, seed: u64) -> Result<(Vec<u8>, u64, u64)> {
        let g = &self.guest;
        let sized = |g: &GuestSettings| {
            let mut t = g.clone();
            t.image_size = ByteSize(tenant_image_size(seed, self.min_image, g.image_size.0));
            t
        };
        match (&self.file_wasm, g.kind) {
            (None, GuestKind::Synthetic) => {
                let t = sized(g);
                let memory = crate::settings::synthetic_min_memory(&t);
                Ok((
                    synthetic::module_bytes_seeded(&t, seed),
                    t.image_size.0,
                    memory,
                ))
            }
            (None, _) => {
                let t = sized(g);
                let mut wasm = crate::guest::guest_wasm(&t)?;
                let memory = wasm_facts(&wasm)?.1;
                append_tenant_section(&mut wasm, seed);
                Ok((wasm, t.image_size.0, memory))
            }
            (Some(file), _) => {
                let mut wasm = file.clone();
                append_tenant_section(&mut wasm, seed);
                Ok((wasm, self.file_facts.0, self.file_facts.1))
            }
        }
    }
}

/// Appends the [`TENANT_SECTION`] custom section holding `seed` (valid at
/// the end of a core module and of a component alike; it changes neither
/// code nor data).
pub fn append_tenant_section(wasm: &mut Vec<u8>, seed: u64) {
    use wasm_encoder::Section;
    let data = seed.to_le_bytes();
    wasm_encoder::CustomSection {
        name: TENANT_SECTION.into(),
        data: std::borrow::Cow::Borrowed(&data),
    }
    .append_to(wasm);
}

/// The bytes of a module's or component's active data segments (its
/// images) and the initial sizes of the linear memories it defines, summed
/// over every core module in it.
pub fn wasm_facts(wasm: &[u8]) -> Result<(u64, u64)> {
    use wasmparser::{DataKind, Parser, Payload};
    let (mut image, mut memory) = (0u64, 0u64);
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.context("reading the guest's data and memories")? {
            Payload::DataSection(r) => {
                for d in r {
                    let d = d.context("reading a data segment")?;
                    if matches!(d.kind, DataKind::Active { .. }) {
                        image += d.data.len() as u64;
                    }
                }
            }
            Payload::MemorySection(r) => {
                for m in r {
                    let m = m.context("reading a memory")?;
                    let page = m.page_size_log2.map_or(WASM_PAGE, |l| 1u64 << l);
                    memory += m.initial.saturating_mul(page);
                }
            }
            _ => {}
        }
    }
    Ok((image, memory))
}

/// The seeds of every tenant a run of `v` loads: `1..=tenants`, then one
/// per tenant replaced at each replacement.
pub fn tenant_seeds(v: &Variant) -> std::ops::RangeInclusive<u64> {
    let s = &v.scenario;
    let replacements = match s.tenant_churn_every {
        0 => 0,
        every => s.iterations.saturating_sub(1) / every,
    };
    1..=u64::from(s.tenants) + replacements * u64::from(s.tenant_churn.min(s.tenants))
}

/// Precompiles every tenant a run of `v` will load into the artifact cache
/// `cache_dir` (with `load = "bytes" | "file"`), so that the measuring
/// child only deserializes: compiling there would leave the compiler's
/// freed memory in the process whose memory is measured. Returns how many
/// were compiled now (0: all cached).
pub fn precompile(v: &Variant, cache_dir: &Path) -> Result<usize> {
    if v.guest.load == Load::Compile {
        return Ok(0);
    }
    let engine = crate::guest::engine(v)?;
    let source = TenantSource::new(&v.guest, v.scenario.tenant_image_min.0)?;
    let mut compiled = 0;
    for seed in tenant_seeds(v) {
        let (wasm, _, _) = source.wasm(seed)?;
        if artifact::ensure_artifact(cache_dir, &engine, &wasm)
            .with_context(|| format!("precompiling tenant (seed {seed})"))?
            .1
        {
            compiled += 1;
        }
    }
    Ok(compiled)
}

/// Makes and loads the tenant of `seed`.
fn load_tenant(
    engine: &Engine,
    source: &TenantSource,
    how: Load,
    cache_dir: Option<&Path>,
    seed: u64,
    generation: u64,
) -> Result<Tenant> {
    let (wasm, image_bytes, memory_bytes) = source.wasm(seed)?;
    let artifact = match how {
        Load::Compile => None,
        Load::Bytes | Load::File => {
            let dir = cache_dir.context("no artifact cache for the tenants' modules")?;
            Some(artifact::ensure_artifact(dir, engine, &wasm)?.0)
        }
    };
    let loaded = artifact::load(engine, how, &wasm, artifact.as_deref())
        .with_context(|| format!("loading tenant (seed {seed})"))?;
    let code_bytes = match &loaded {
        artifact::Loaded::Module(m) => m.text().len(),
        artifact::Loaded::Component(c) => c.text().len(),
    } as u64;
    let memory_export = match &loaded {
        artifact::Loaded::Module(m) => crate::guest::memory_export(m),
        artifact::Loaded::Component(_) => None,
    };
    Ok(Tenant {
        generation,
        image_bytes,
        code_bytes,
        memory_bytes,
        memory_export,
        guest: crate::guest::guest_for(&source.guest, loaded)
            .with_context(|| format!("linking tenant (seed {seed})"))?,
    })
}

/// How a request's slot was classified.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Affine,
    Warm,
    Cold,
}

/// Slot -> generation of the tenant that last used it.
#[derive(Default)]
pub struct SlotMap {
    last: HashMap<usize, u64>,
}

impl SlotMap {
    /// Records that `generation` now uses the slot at `base`, and returns
    /// whether that slot's previous user was the same generation (`Some(true)`),
    /// another one (`Some(false)`) or nobody (`None`: a cold slot).
    pub fn record(&mut self, base: usize, generation: u64) -> Option<bool> {
        self.last.insert(base, generation).map(|g| g == generation)
    }

    /// Distinct slots seen.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no slot was seen.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

/// How a request's slot affinity was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AffinityFrom {
    /// Core modules: the base address of the instance's exported linear
    /// memory names its slot; a slot whose previous user was the same
    /// module (generation) is affine. Exact.
    #[default]
    MemoryBase,
    /// Components (their memories are not visible to the host): the
    /// process's file-backed mappings (`/proc/self/maps`) read right before
    /// and right after the instantiation, outside the timed region. No
    /// change: no image was re-mapped, the slot kept this module's image
    /// (affine). A mapping added where no image was mapped before in this
    /// process, none removed: a cold slot. Anything else: a slot re-mapped
    /// from another module's image (non-affine). Exact as long as tenants'
    /// images come from distinct files or memfds, which distinct tenant
    /// modules do.
    ImageMappings,
    /// On-demand allocation: no slots.
    NotTracked,
}

/// The tenants loaded so far, by index (`None` while one is being
/// replaced), and the seed and generation the next new tenant gets.
struct Roster<'a> {
    engine: &'a Engine,
    source: &'a TenantSource,
    how: Load,
    cache_dir: Option<&'a Path>,
    tenants: Vec<Option<Tenant>>,
    /// The first tenants have seeds 1..=M; replacements continue from M + 1.
    next_seed: u64,
    next_generation: u64,
}

impl<'a> Roster<'a> {
    /// Loads `count` tenants (seeds 1..=`count`) as `how` says, their
    /// artifacts cached in `cache_dir`.
    fn load(
        engine: &'a Engine,
        source: &'a TenantSource,
        how: Load,
        cache_dir: Option<&'a Path>,
        count: u32,
    ) -> Result<Roster<'a>> {
        let mut roster = Roster {
            engine,
            source,
            how,
            cache_dir,
            tenants: Vec::with_capacity(count as usize),
            next_seed: 1,
            next_generation: 1,
        };
        crate::progress::set_total(u64::from(count), "tenants loaded");
        for _ in 0..count {
            let tenant = roster.next_tenant()?;
            roster.tenants.push(Some(tenant));
            crate::progress::tick(1);
        }
        Ok(roster)
    }

    /// Makes and loads the next new tenant.
    fn next_tenant(&mut self) -> Result<Tenant> {
        let tenant = load_tenant(
            self.engine,
            self.source,
            self.how,
            self.cache_dir,
            self.next_seed,
            self.next_generation,
        )?;
        self.next_seed += 1;
        self.next_generation += 1;
        Ok(tenant)
    }

    /// The tenants loaded now.
    fn loaded(&self) -> impl Iterator<Item = &Tenant> {
        self.tenants.iter().flatten()
    }

    /// Tenant `index`.
    fn get(&self, index: usize) -> Result<&Tenant> {
        self.tenants[index]
            .as_ref()
            .context("a tenant slot is empty")
    }

    /// Drops `count` distinct tenants drawn with `rng` (after `at_request`
    /// timed requests) and loads new ones in their places; the memory
    /// right before, after the drop and after the loads.
    fn replace(&mut self, rng: &mut Rng, count: u32, at_request: u64) -> Result<TenantDrop> {
        let before = memory::sample()?;
        let n = self.tenants.len();
        let mut picked: Vec<usize> = Vec::new();
        while picked.len() < (count as usize).min(n) {
            let p = rng.below(n as u64) as usize;
            if !picked.contains(&p) {
                picked.push(p);
            }
        }
        for &p in &picked {
            self.tenants[p] = None;
        }
        memory::release_free_heap();
        let after = memory::sample()?;
        let mut event = TenantDrop {
            at_request,
            dropped: picked.len() as u32,
            pss_before_bytes: before.pss_bytes,
            pss_after_drop_bytes: after.pss_bytes,
            rss_before_bytes: before.rss_bytes,
            rss_after_drop_bytes: after.rss_bytes,
            pss_after_load_bytes: 0,
        };
        for &p in &picked {
            self.tenants[p] = Some(self.next_tenant()?);
        }
        memory::release_free_heap();
        event.pss_after_load_bytes = memory::sample()?.pss_bytes;
        Ok(event)
    }
}

/// What the timed requests counted: each phase's histogram (in [`PHASES`]
/// order), the requests of each slot class and their faults.
struct Tally {
    phases: [Hist; 6],
    affine: u64,
    warm: u64,
    cold: u64,
    faults_affine: u64,
    faults_other: u64,
    guest_faults: GuestFaults,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            phases: std::array::from_fn(|_| latency::new_histogram()),
            affine: 0,
            warm: 0,
            cold: 0,
            faults_affine: 0,
            faults_other: 0,
            guest_faults: GuestFaults::default(),
        }
    }

    /// Records one timed request of slot class `class`: its phases (drop,
    /// instantiate, call, in ns), its minor `faults` and its call's `outcome`.
    fn record(
        &mut self,
        class: Class,
        faults: u64,
        outcome: &wasmtime::Result<()>,
        (drop_ns, inst_ns, call_ns): (u64, u64, u64),
    ) {
        if let Err(e) = outcome {
            self.guest_faults.record(e);
        }
        let [inst, inst_affine, inst_other, call, drop, request] = &mut self.phases;
        inst.saturating_record(inst_ns);
        call.saturating_record(call_ns);
        drop.saturating_record(drop_ns);
        request.saturating_record(drop_ns + inst_ns + call_ns);
        match class {
            Class::Affine => {
                self.affine += 1;
                self.faults_affine += faults;
                inst_affine.saturating_record(inst_ns);
            }
            Class::Warm | Class::Cold => {
                if class == Class::Cold {
                    self.cold += 1;
                } else {
                    self.warm += 1;
                }
                self.faults_other += faults;
                inst_other.saturating_record(inst_ns);
            }
        }
    }
}

/// Reads where a request's sandbox landed: the pool slots' last users (core
/// modules, by their memory's base) or the image mappings seen so far
/// (components).
struct Affinity {
    from: AffinityFrom,
    slots: SlotMap,
    image_addresses: HashSet<u64>,
}

impl Affinity {
    /// The slot class of a sandbox of tenant `generation` whose memory is at
    /// `base` (core modules), or whose instantiation changed the process's
    /// file mappings from `maps` `.0` to `.1` (components).
    fn classify(
        &mut self,
        generation: u64,
        base: Option<usize>,
        maps: Option<(&[mappings::FileMapping], &[mappings::FileMapping])>,
    ) -> Class {
        if let (AffinityFrom::MemoryBase, Some(b)) = (self.from, base) {
            return match self.slots.record(b, generation) {
                Some(true) => Class::Affine,
                Some(false) => Class::Warm,
                None => Class::Cold,
            };
        }
        if let (AffinityFrom::ImageMappings, Some((before, after))) = (self.from, maps) {
            let (new, gone) = mappings::added(before, after);
            let cold = gone == 0
                && !new.is_empty()
                && new.iter().all(|m| !self.image_addresses.contains(&m.start));
            self.image_addresses.extend(new.iter().map(|m| m.start));
            return match (new.is_empty() && gone == 0, cold) {
                (true, _) => Class::Affine,
                (false, true) => Class::Cold,
                (false, false) => Class::Warm,
            };
        }
        Class::Warm
    }

    /// Distinct slots (or image mappings) seen.
    fn distinct(&self) -> u64 {
        match self.from {
            AffinityFrom::ImageMappings => self.image_addresses.len() as u64,
            _ => self.slots.len() as u64,
        }
    }
}

/// The memory samples' growth: slopes per 1,000 requests and the growth of
/// Private_Dirty over the second half of the run.
struct Growth {
    pss: crate::measure::fit::Fit,
    private_dirty: crate::measure::fit::Fit,
    rss: crate::measure::fit::Fit,
    second_half_private_dirty_bytes: f64,
}

impl Growth {
    fn of(samples: &[TenantsSample]) -> Result<Growth> {
        let fit = |f: &dyn Fn(&TenantsSample) -> u64, from: usize| {
            let pts: Vec<(f64, f64)> = samples[from.min(samples.len())..]
                .iter()
                .map(|x| (x.requests as f64 / 1000.0, f(x) as f64))
                .collect();
            linear_fit(&pts)
        };
        let pss =
            fit(&|x| x.pss_bytes, 0).ok_or_else(|| anyhow!("too few memory samples to fit"))?;
        let private_dirty =
            fit(&|x| x.private_dirty_bytes, 0).ok_or_else(|| anyhow!("too few samples"))?;
        let rss = fit(&|x| x.rss_bytes, 0).ok_or_else(|| anyhow!("too few samples"))?;
        let half = samples.len() / 2;
        let second = fit(&|x| x.private_dirty_bytes, half);
        let span_k = samples
            .last()
            .zip(samples.get(half))
            .map_or(0.0, |(l, h)| (l.requests - h.requests) as f64 / 1000.0);
        Ok(Growth {
            pss,
            private_dirty,
            rss,
            second_half_private_dirty_bytes: second.map_or(0.0, |f| f.slope * span_k),
        })
    }
}

/// The tenant ids of `s.trace` when `mix = "trace"`, else none.
fn read_trace(s: &crate::settings::ScenarioSettings) -> Result<Vec<u32>> {
    if s.mix != TenantMix::Trace {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&s.trace)
        .with_context(|| format!("reading the trace file {}", s.trace))?;
    parse_trace(&text, s.tenants).map_err(|e| anyhow!("the trace file {}: {e}", s.trace))
}

/// Runs the tenants scenario in this process. `artifact` (the variant's own
/// guest, prepared by the parent) names the artifact cache the tenants'
/// modules go to with `load = "bytes" | "file"`.
pub fn run(variant: &Variant, artifact: Option<&Path>) -> Result<(TenantsResult, Histograms)> {
    let s = &variant.scenario;
    let g = &variant.guest;
    let trace = read_trace(s)?;
    let engine = crate::guest::engine(variant)?;
    let ticker = if s.call_deadline_ms > 0 {
        Some(EpochTicker::start(&engine)?)
    } else {
        None
    };
    let source = TenantSource::new(g, s.tenant_image_min.0)?;
    memory::release_free_heap();
    let before_load = memory::sample()?;

    let t = Instant::now();
    let cache_dir = artifact.and_then(Path::parent);
    let mut roster = Roster::load(&engine, &source, g.load, cache_dir, s.tenants)?;
    let tenants_load_ns = t.elapsed().as_nanos() as u64;
    let images: Vec<u64> = roster.loaded().map(|t| t.image_bytes).collect();
    let mut max_memory = roster.loaded().map(|t| t.memory_bytes).max().unwrap_or(0);
    // Every tenant is of one kind: the first one's WASI needs are everyone's.
    let (wasi_level, wasi) = roster
        .loaded()
        .next()
        .map_or((WasiLevel::None, WasiSpec::default()), |t| t.guest.wasi());
    let spec = StoreSpec {
        memory_limit: (g.memory_limit.0 > 0)
            .then(|| usize::try_from(g.memory_limit.0).unwrap_or(usize::MAX)),
        deadlines: ticker.is_some(),
        epochs: variant.engine.epoch_interruption == Some(true),
        fuel: variant.engine.consume_fuel == Some(true),
        wasi_level,
        wasi,
    };
    memory::release_free_heap();
    let after_load = memory::sample()?;

    let mix = request_mix(
        s.mix,
        s.tenants,
        s.warmup + s.iterations,
        s.zipf_exponent,
        s.seed,
        trace.as_slice(),
    );
    let mut churn_rng = Rng(s.seed ^ 0x5eed_c4a2);
    let tracking = variant.is_pooling();
    let mut affinity = Affinity {
        from: if !tracking {
            AffinityFrom::NotTracked
        } else if g.kind.is_component() {
            AffinityFrom::ImageMappings
        } else {
            AffinityFrom::MemoryBase
        },
        slots: SlotMap::default(),
        image_addresses: HashSet::new(),
    };
    // Component kinds read the mappings on-demand too, where nothing is
    // classified: the reading (outside the clock) may cool caches, and
    // pooled and on-demand variants should pay for it alike.
    let read_maps = g.kind.is_component();
    let pool_metrics = engine.pooling_allocator_metrics();
    let mut ring: VecDeque<(Store<Host>, Sandbox)> = VecDeque::with_capacity(s.live as usize);
    let mut tally = Tally::new();
    let mut replacements = Vec::new();
    let mut samples = Vec::with_capacity((s.iterations / s.sample_every.max(1) + 2) as usize);
    let mut started = SystemTime::now();
    let mut t_start = Instant::now();
    let mut bookkeeping = Duration::ZERO;
    crate::progress::set_total(mix.len() as u64, "requests (warmup included)");

    for (i, &tenant_index) in mix.iter().enumerate() {
        let i = i as u64;
        let timed = i >= s.warmup;
        let done = i.saturating_sub(s.warmup);
        if i == s.warmup {
            memory::release_free_heap();
            samples.push(TenantsSample::of(
                0,
                &memory::sample()?,
                pool_metrics.as_ref(),
            ));
            started = SystemTime::now();
            t_start = Instant::now();
            bookkeeping = Duration::ZERO;
        }
        if timed
            && s.tenant_churn_every > 0
            && done > 0
            && done.is_multiple_of(s.tenant_churn_every)
        {
            let aside = Instant::now();
            replacements.push(roster.replace(&mut churn_rng, s.tenant_churn, done)?);
            bookkeeping += aside.elapsed();
        }
        let tenant = roster.get(tenant_index as usize)?;

        let t0 = Instant::now();
        if ring.len() >= s.live as usize
            && let Some((store, sandbox)) = ring.pop_front()
        {
            // No kind has host resources to release first: dropping the
            // store frees the instance and returns its slots.
            drop(sandbox);
            drop(store);
        }
        let t1 = Instant::now();
        let aside = Instant::now();
        let maps_before = if read_maps {
            mappings::file_mappings()?
        } else {
            Vec::new()
        };
        bookkeeping += aside.elapsed();
        let usage_before = ThreadUsage::now();
        let t2 = Instant::now();
        let mut store = crate::host::new_store(&engine, &spec);
        let mut sandbox = tenant
            .guest
            .instantiate(&mut store)
            .map_err(|e| anyhow!("instantiating tenant {tenant_index}: {e:#}"))?;
        let t3 = Instant::now();
        let usage_paused = ThreadUsage::now();
        // Core kinds: the memory's base names the pool slot, its size after
        // the call is the live sandbox's memory (resolved by index: the
        // request's time holds no name lookup).
        let memory = tenant
            .memory_export
            .as_ref()
            .and_then(|e| sandbox.core_memory_at(&mut store, e));
        let base = memory.map(|m| m.data_ptr(&store) as usize);
        let aside = Instant::now();
        let class = if read_maps {
            let maps_after = mappings::file_mappings()?;
            affinity.classify(tenant.generation, base, Some((&maps_before, &maps_after)))
        } else {
            affinity.classify(tenant.generation, base, None)
        };
        bookkeeping += aside.elapsed();
        if ticker.is_some() {
            store.set_epoch_deadline(s.call_deadline_ms);
        }
        let usage_resumed = ThreadUsage::now();
        let t4 = Instant::now();
        let outcome = tenant.guest.call(&mut store, &mut sandbox);
        let t5 = Instant::now();
        // Faults of instantiate + call only: the readings between them
        // (memory lookup, image mappings) are left out.
        let request_faults = usage_paused.since(&usage_before).minor_faults
            + ThreadUsage::now().since(&usage_resumed).minor_faults;
        if let Some(m) = memory {
            max_memory = max_memory.max(m.data_size(&store) as u64);
        }
        ring.push_back((store, sandbox));

        if timed {
            let ns = |a: Instant, b: Instant| (b - a).as_nanos() as u64;
            let phases = (ns(t0, t1), ns(t2, t3), ns(t4, t5));
            tally.record(class, request_faults, &outcome, phases);
            let done = done + 1;
            if done.is_multiple_of(s.sample_every.max(1)) {
                let aside = Instant::now();
                samples.push(TenantsSample::of(
                    done,
                    &memory::sample()?,
                    pool_metrics.as_ref(),
                ));
                bookkeeping += aside.elapsed();
            }
        }
        if i % 64 == 63 {
            crate::progress::tick(64);
        }
    }
    let wall = t_start.elapsed();

    let code_bytes: u64 = match g.load {
        Load::File => roster.loaded().map(|t| t.code_bytes).sum(),
        Load::Compile | Load::Bytes => 0,
    };

    // Teardown: every sandbox, then every tenant.
    while let Some((store, sandbox)) = ring.pop_front() {
        drop(sandbox);
        drop(store);
    }
    memory::release_free_heap();
    let sandboxes_dropped = memory::sample()?;
    drop(roster);
    memory::release_free_heap();
    let tenants_dropped = memory::sample()?;
    drop(ticker);

    let growth = Growth::of(&samples)?;
    let peak_pss_bytes = samples.iter().map(|x| x.pss_bytes).max().unwrap_or(0);
    let peak_over_load = peak_pss_bytes as i64 - after_load.pss_bytes as i64;
    let level = samples.last().map_or(0, |x| x.private_dirty_bytes) as i64
        - after_load.private_dirty_bytes as i64;
    let level_off_limit = (LEVEL_OFF_BYTES as f64).max(0.05 * level.max(0) as f64);

    let mut bound = implied_bound(variant, max_memory);
    bound.per_live_observed = !g.kind.is_component();
    bound.code_bytes = code_bytes;
    bound.bound_bytes += code_bytes;
    let requests = s.iterations;
    let Tally {
        phases: hists,
        affine,
        warm,
        cold,
        faults_affine,
        faults_other,
        guest_faults,
    } = tally;
    let non_affine = warm + cold;
    let result = TenantsResult {
        guest_kind: g.kind.name().to_string(),
        affinity_from: affinity.from,
        tenants: s.tenants,
        live: s.live,
        mix: s.mix,
        zipf_exponent: s.zipf_exponent,
        requests,
        warmup: s.warmup,
        wall_ns: wall.as_nanos() as u64,
        bookkeeping_ns: bookkeeping.as_nanos() as u64,
        requests_per_sec: requests as f64
            / wall.saturating_sub(bookkeeping).as_secs_f64().max(1e-9),
        tenants_load_ns,
        image_min_bytes: images.iter().copied().min().unwrap_or(0),
        image_max_bytes: images.iter().copied().max().unwrap_or(0),
        image_total_bytes: images.iter().sum(),
        slot_tracking: tracking,
        affine,
        non_affine_warm: warm,
        cold,
        affine_hit_rate: tracking.then(|| affine as f64 / requests.max(1) as f64),
        distinct_slots: affinity.distinct(),
        phases: PHASES
            .iter()
            .zip(&hists)
            .map(|(p, h)| PhaseLatency::of(p, h))
            .collect(),
        faults_per_affine_request: faults_affine as f64 / affine.max(1) as f64,
        faults_per_non_affine_request: faults_other as f64 / non_affine.max(1) as f64,
        replacements,
        pss_slope_per_1000_bytes: growth.pss.slope,
        pss_fit_r2: growth.pss.r2,
        private_dirty_slope_per_1000_bytes: growth.private_dirty.slope,
        rss_slope_per_1000_bytes: growth.rss.slope,
        second_half_private_dirty_growth_bytes: growth.second_half_private_dirty_bytes,
        levels_off: growth.second_half_private_dirty_bytes < level_off_limit,
        within_bound: peak_over_load <= (bound.bound_bytes + BOUND_SLACK_BYTES) as i64,
        bound,
        peak_over_load_pss_bytes: peak_over_load,
        peak_pss_bytes,
        drop_all: DropAll {
            returned_pss_bytes: sandboxes_dropped.pss_bytes as i64
                - tenants_dropped.pss_bytes as i64,
            retained_pss_bytes: tenants_dropped.pss_bytes as i64 - before_load.pss_bytes as i64,
            before_load,
            after_load,
            sandboxes_dropped,
            tenants_dropped,
        },
        samples,
        faults: guest_faults,
    };
    let named = PHASES.iter().map(|p| (*p).to_string()).zip(hists).collect();
    Ok((
        result,
        Histograms {
            named,
            started,
            wall,
        },
    ))
}

/// The memory the settings imply ([`MemoryBound`]) with tenants whose
/// largest linear memory is `max_memory` bytes.
pub fn implied_bound(v: &Variant, max_memory: u64) -> MemoryBound {
    let live = u64::from(v.scenario.live);
    let (warm_slots, per_warm) = if v.is_pooling() {
        let d = wasmtime::PoolingAllocationConfig::default();
        let total = u64::from(
            v.pooling
                .total_memories
                .unwrap_or(d.get_total_memories())
                .min(
                    v.pooling
                        .total_core_instances
                        .unwrap_or(d.get_total_core_instances()),
                ),
        );
        let w = u64::from(
            v.pooling
                .max_unused_warm_slots
                .unwrap_or(d.get_max_unused_warm_slots()),
        );
        let keep = v
            .pooling
            .linear_memory_keep_resident
            .map_or(d.get_memory_keep_resident() as u64, |b| b.0);
        (w.min(total.saturating_sub(live)), keep.min(max_memory))
    } else {
        (0, 0)
    };
    MemoryBound {
        warm_slots,
        per_warm_slot_bytes: per_warm,
        live,
        per_live_bytes: max_memory,
        per_live_observed: true,
        code_bytes: 0,
        bound_bytes: live * max_memory + warm_slots * per_warm,
    }
}

/// Summary of a phase by name.
pub fn phase<'a>(r: &'a TenantsResult, name: &str) -> Option<&'a LatencySummary> {
    r.phases
        .iter()
        .find(|p| p.phase == name)
        .map(|p| &p.summary)
}

/// Affine hit rate and the instantiate latency split by affinity, one row
/// per variant.
fn tenants_table(rows: &[super::interface::Row<'_, TenantsResult>]) -> String {
    use super::interface::{p50_p99, phase_summary as phase};
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str("| variant | tenants | live | mix | requests | affine hit rate | affine / non-affine / cold | instantiate p50 / p99 | affine p50 / p99 | non-affine p50 / p99 | faults / req: affine | faults / req: non-affine | distinct slots | requests/s |\n");
    out.push_str("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let t = row.result;
        let mix = match t.mix {
            TenantMix::Uniform => "uniform".to_string(),
            TenantMix::Zipf => format!("zipf {}", t.zipf_exponent),
            TenantMix::Trace => "trace".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} / {} / {} | {} | {} | {} | {:.1} | {:.1} | {} | {:.0} |",
            row.label,
            t.tenants,
            t.live,
            mix,
            t.requests,
            t.affine_hit_rate
                .map_or("- (no pool)".into(), |x| format!("{:.1}%", x * 100.0)),
            t.affine,
            t.non_affine_warm,
            t.cold,
            p50_p99(phase(&t.phases, "instantiate")),
            p50_p99(phase(&t.phases, "instantiate-affine").filter(|s| s.count > 0)),
            p50_p99(phase(&t.phases, "instantiate-non-affine").filter(|s| s.count > 0)),
            t.faults_per_affine_request,
            t.faults_per_non_affine_request,
            t.distinct_slots,
            t.requests_per_sec,
        );
    }
    out
}

/// Memory over the run against the bound the settings imply, and what
/// dropping tenants returned, one row per variant.
fn memory_table(rows: &[super::interface::Row<'_, TenantsResult>]) -> String {
    use crate::units::{kib_signed, mib};
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str("| variant | Pss after load | peak Pss over load | implied bound (warm slots x kept + live x memory + code) | within bound | unused warm slots / bytes they keep (wasmtime, last sample) | Pss slope / 1000 req (R²) | Private_Dirty slope / 1000 req | Rss slope / 1000 req | 2nd-half Private_Dirty growth | levels off | returned by replacements (Pss) | returned by dropping all tenants (Pss) | retained after all dropped (Pss) |\n");
    out.push_str("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|\n");
    for row in rows {
        let t = row.result;
        let b = &t.bound;
        let replaced: i64 = t
            .replacements
            .iter()
            .map(|d| d.pss_before_bytes as i64 - d.pss_after_drop_bytes as i64)
            .sum();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} ({} x {} + {} x {}{} + {}) | {} | {} | {} ({:.2}) | {} | {} | {} | {} | {} | {} | {} |",
            row.label,
            mib(t.drop_all.after_load.pss_bytes as f64),
            mib(t.peak_over_load_pss_bytes as f64),
            mib(b.bound_bytes as f64),
            b.warm_slots,
            mib(b.per_warm_slot_bytes as f64),
            b.live,
            mib(b.per_live_bytes as f64),
            if b.per_live_observed { "" } else { " declared" },
            mib(b.code_bytes as f64),
            match (t.within_bound, b.per_live_observed) {
                (true, _) => "yes",
                (false, true) => "**no**",
                (false, false) => "no (component memory growth unseen)",
            },
            t.samples
                .last()
                .and_then(|x| x
                    .pool_unused_warm_memories
                    .zip(x.pool_unused_resident_bytes))
                .map_or("-".to_string(), |(n, b)| format!("{n} / {}", mib(b as f64))),
            kib_signed(t.pss_slope_per_1000_bytes),
            t.pss_fit_r2,
            kib_signed(t.private_dirty_slope_per_1000_bytes),
            kib_signed(t.rss_slope_per_1000_bytes),
            mib(t.second_half_private_dirty_growth_bytes),
            if t.levels_off { "yes" } else { "**no**" },
            if t.replacements.is_empty() {
                "-".to_string()
            } else {
                format!("{} over {}", mib(replaced as f64), t.replacements.len())
            },
            mib(t.drop_all.returned_pss_bytes as f64),
            mib(t.drop_all.retained_pss_bytes as f64),
        );
    }
    out
}

/// The tenants scenario: many distinct modules rotated through one engine
/// and one pool.
pub struct Tenants;

/// Most tenants a tenants variant may have (each is a compiled module).
pub const MAX_TENANTS: u32 = 100_000;

impl super::interface::Scenario for Tenants {
    type Result = TenantsResult;
    const KIND: crate::settings::ScenarioKind = crate::settings::ScenarioKind::Tenants;

    /// `live` sandboxes, kept alive between requests.
    fn max_live(s: &crate::settings::ScenarioSettings) -> (u32, &'static str) {
        (s.live, "live")
    }

    /// Enough requests to reach every tenant once, sampled three times,
    /// with a replacement inside the run when the config churns tenants.
    fn replay_cut(s: &mut crate::settings::ScenarioSettings) {
        let requests =
            (u64::from(s.tenants) + u64::from(s.live)).max(super::interface::REPLAY_CALLS);
        s.iterations = s.iterations.min(requests);
        s.warmup = s.warmup.min(super::interface::REPLAY_WARMUP);
        s.sample_every = s.sample_every.min(s.iterations / 3).max(1);
        if s.tenant_churn_every > 0 {
            s.tenant_churn_every = s.tenant_churn_every.min(s.iterations / 2).max(1);
        }
    }

    /// `iterations`, `threads` within bounds; image sizes only for generated
    /// tenants, a live count, a mix it can draw from (a trace file that exists
    /// and names only known tenants), a churn schedule and a sampling interval
    /// within the run.
    fn validate(v: &Variant) -> std::result::Result<(), crate::settings::Problem> {
        use crate::settings::{GuestKind, MAX_THREADS, Problem};
        super::interface::check_iterations_and_threads(&v.scenario)?;
        let s = &v.scenario;
        let p = |key: &'static str, message: String, fix: String| {
            Err(Problem {
                section: "scenario",
                key,
                message,
                fix,
            })
        };
        if s.tenants == 0 || s.tenants > MAX_TENANTS {
            return p(
                "tenants",
                format!("tenants = {} is outside 1..={MAX_TENANTS}", s.tenants),
                "e.g. tenants = 100".into(),
            );
        }
        if s.live == 0 || s.live > MAX_THREADS {
            return p(
                "live",
                format!("live = {} is outside 1..={MAX_THREADS}", s.live),
                "e.g. live = 4 (sandboxes alive at once)".into(),
            );
        }
        if !s.zipf_exponent.is_finite() || s.zipf_exponent < 0.0 || s.zipf_exponent > 10.0 {
            return p(
                "zipf_exponent",
                format!("zipf_exponent = {} is outside 0..=10", s.zipf_exponent),
                "e.g. zipf_exponent = 1.0 (0 is uniform)".into(),
            );
        }
        let generated = matches!(
            v.guest.kind,
            GuestKind::Synthetic | GuestKind::SyntheticComponent | GuestKind::SyntheticHttp
        );
        if !generated && s.tenant_image_min.0 > 0 {
            return p(
                "tenant_image_min",
                format!(
                    "tenant_image_min = {} sizes generated tenants, but kind = \"{}\" tenants are copies of the guest's file (its image, its size)",
                    s.tenant_image_min,
                    v.guest.kind.name()
                ),
                "remove tenant_image_min, or use a synthetic kind to vary image sizes".into(),
            );
        }
        if generated && s.tenant_image_min.0 > v.guest.image_size.0 {
            return p(
                "tenant_image_min",
                format!(
                    "tenant_image_min = {} is above [guest] image_size = {}, the largest tenant image",
                    s.tenant_image_min, v.guest.image_size
                ),
                format!("lower tenant_image_min to at most {}", v.guest.image_size),
            );
        }
        if s.mix == crate::settings::TenantMix::Trace {
            if s.trace.is_empty() {
                return p(
                    "trace",
                    "mix = \"trace\" needs a trace file".into(),
                    "set trace = \"configs/traces/tenants-zipf.txt\" (written by `pooling-lab trace`), or use mix = \"uniform\" | \"zipf\"".into(),
                );
            }
            let text = match std::fs::read_to_string(&s.trace) {
                Ok(t) => t,
                Err(e) => {
                    return p(
                        "trace",
                        format!("cannot read the trace file `{}`: {e}", s.trace),
                        "give a path relative to where pooling-lab runs; `pooling-lab trace OUT --tenants N --requests N` writes one".into(),
                    );
                }
            };
            if let Err(e) = crate::settings::trace::parse_trace(&text, s.tenants) {
                return p(
                    "trace",
                    format!("the trace file `{}`: {e}", s.trace),
                    "one tenant id per line, 0 up to tenants - 1; `#` starts a comment".into(),
                );
            }
        }
        if s.tenant_churn_every > 0 && (s.tenant_churn == 0 || s.tenant_churn > s.tenants) {
            return p(
                "tenant_churn",
                format!(
                    "tenant_churn = {} is outside 1..=tenants ({})",
                    s.tenant_churn, s.tenants
                ),
                "replace at least one tenant per replacement, at most all of them".into(),
            );
        }
        if s.sample_every == 0 || s.sample_every > s.iterations / 2 {
            return p(
                "sample_every",
                format!(
                    "sample_every = {} gives fewer than 3 memory samples over {} requests",
                    s.sample_every, s.iterations
                ),
                "sample at least 3 times: sample_every <= iterations / 2 (10+ samples fit a slope well)".into(),
            );
        }
        Ok(())
    }

    fn precompile(v: &Variant, cache_dir: &Path) -> Result<usize> {
        precompile(v, cache_dir)
    }

    fn run(v: &Variant, artifact: Option<&Path>) -> Result<(TenantsResult, Option<Histograms>)> {
        let (r, h) = run(v, artifact)?;
        Ok((r, Some(h)))
    }

    fn phases(r: &TenantsResult) -> &[PhaseLatency] {
        &r.phases
    }

    fn phases_mut(r: &mut TenantsResult) -> Option<&mut Vec<PhaseLatency>> {
        Some(&mut r.phases)
    }

    /// Phase p50/p99, the affine hit rate and the peak Pss over the load.
    fn headlines(t: &TenantsResult) -> Vec<Headline> {
        let mut out = Vec::new();
        phase_headlines(&t.phases, &mut out);
        if let Some(rate) = t.affine_hit_rate {
            out.push(Headline {
                metric: "affine hit rate".into(),
                value: rate,
                unit: Unit::Count,
                better: Better::Higher,
                within_rel: MIN_RELATIVE,
                floor_abs: 0.0,
                timing: false,
                judged: false,
            });
        }
        out.push(Headline {
            metric: "peak Pss over load".into(),
            value: t.peak_over_load_pss_bytes as f64,
            unit: Unit::Bytes,
            better: Better::Lower,
            within_rel: MIN_RELATIVE,
            floor_abs: MIN_PROCESS_BYTES,
            timing: false,
            judged: true,
        });
        out
    }

    /// The instantiate p99.
    fn primary(t: &TenantsResult) -> Option<f64> {
        phase(t, "instantiate").map(|s| s.p99_ns as f64)
    }

    fn calls(t: &TenantsResult) -> Option<(&GuestFaults, u64)> {
        Some((&t.faults, t.requests))
    }

    fn objectives() -> &'static [Objective] {
        &[Objective::TenantsP99Instantiate]
    }

    /// The instantiate p99 (negated: higher is better), with the run's peak
    /// Pss within the memory budget.
    fn score(t: &TuneSettings, r: &TenantsResult) -> Result<super::interface::Score, String> {
        let inst = *phase(r, "instantiate").ok_or("no instantiate latency")?;
        let budget = t.memory_budget.0;
        if budget > 0 && r.peak_pss_bytes > budget {
            return Err(format!(
                "peak Pss {} is over the memory budget {}",
                crate::units::mib(r.peak_pss_bytes as f64),
                crate::units::mib(budget as f64)
            ));
        }
        Ok(super::interface::Score {
            value: -(inst.p99_ns as f64),
            rate: r.requests_per_sec,
            latency: inst,
            memory_bytes: Some(r.peak_pss_bytes as f64),
        })
    }

    /// Affinity and latency, memory against the implied bound, and where
    /// the histograms are.
    fn report(
        rows: &[super::interface::Row<'_, TenantsResult>],
        _ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        let mut out = String::from(
            "\n## Tenants: many modules through one pool\n\n\
             Each request drops the oldest live sandbox, instantiates one for its tenant and calls it. \
             **Affine** = the instance's linear memory landed in a pool slot (named by its base address, \
             `Memory::data_ptr`) whose previous user was the same module, so its image was still mapped; \
             **non-affine** = the slot was last used by another module or by a dropped tenant (purged); \
             **cold** = a slot never used before in the process (counted as non-affine). \
             Component tenants (memories invisible to the host) are classified from the process's file-backed \
             mappings read before and after each instantiation: unchanged = affine (no image re-mapped), \
             an image mapped at a new address = cold, otherwise non-affine (on-demand component variants read the \
             mappings too, unused, so that pooled and on-demand pay for the reading alike). \
             Faults are the measuring thread's minor faults over instantiate + call. \
             Requests/s leaves out the scenario's own readings (memory samples, replacements, image mappings). \
             On-demand has no slots, so every request counts as non-affine.\n\n",
        );
        out.push_str(&tenants_table(rows));
        out.push_str(
            "\nMemory is sampled every `sample_every` requests (smaps_rollup). The bound is what the \
             settings imply over the level right after every tenant was loaded: \
             live sandboxes x the largest tenant memory + warm slots (min(max_unused_warm_slots, slots - live)) \
             x what one keeps resident (min(linear_memory_keep_resident, largest tenant memory)) + the tenants' \
             compiled code when loaded from files (it faults in as tenants run); within bound \
             allows 4 MiB for instance bookkeeping. A component's memories are invisible to the host: its \
             memory is the declared initial size (\"declared\"), so growth past it is not in the bound. Levels off = the fitted Private_Dirty growth over the second half of \
             the samples (what slots keep resident and the heap, without the tenants' file-backed module pages, \
             which move by steps at each replacement) is under 1 MiB or 5% of its level.\n\n",
        );
        out.push_str(&memory_table(rows));
        out.push_str(&super::interface::histogram_folders::<Self>(rows));
        out
    }

    /// Affinity and latency, then memory against the implied bound.
    fn summary(
        rows: &[super::interface::Row<'_, TenantsResult>],
        _ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        format!("{}\n{}", tenants_table(rows), memory_table(rows))
    }
}
