//! A pool of ready sandboxes for one [`InstancePre`]: instances are created
//! (and optionally initialised) by background workers, so a request takes a
//! ready one instead of paying instantiation while it waits.
//!
//! ```text
//!            refill (workers)                       acquire (request thread)
//!  InstancePre ──instantiate + warm-up──▶ ready ──pop──▶ PooledInstance ──drop──┐
//!                     ▲                  (crossbeam           │                  │
//!                     │                   ArrayQueue)   reuse: back to ready     │
//!                     └──── drop off the request path ◀── retired (SegQueue) ◀───┘
//! ```
//!
//! * **Slots.** At most `capacity` instances exist at once (ready + in use +
//!   being created + retired). With wasmtime's pooling allocator, keep it at
//!   or below `total_core_instances` / `total_memories`.
//! * **Recycle policy.** [`Recycle::Discard`] (default) uses an instance for
//!   one request; the instance is dropped by a worker (wasmtime resets the
//!   slot) and a fresh one is made: no state leaks between requests.
//!   [`Recycle::Reuse`] serves up to `max_uses` requests from one instance
//!   (session reuse: cheaper, but state persists between requests).
//! * **Exhaustion.** [`SandboxPool::acquire`] waits at most its timeout, or
//!   not at all in [`OnExhausted::FailFast`] mode, then returns
//!   [`PoolError::Exhausted`]; it never blocks forever.
//! * **Hot path.** A hit is a lock-free pop and two atomic updates; the mutex
//!   is only taken to sleep (waiting acquirers, idle workers) or to wake a sleeper.
//! * **Shutdown.** Dropping the pool stops and joins every worker and drops
//!   every instance it holds. Guards borrow the pool, so none can outlive it.

use crate::measure::latency::{self, Hist, LatencySummary};
use crossbeam::queue::{ArrayQueue, SegQueue};
use parking_lot::{Condvar, Mutex};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wasmtime::{Engine, Instance, InstancePre, Store};

/// What happens to an instance after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recycle {
    /// Drop it after one use; a fresh instance replaces it. The safe default:
    /// no request sees another request's memory.
    Discard,
    /// Serve up to `max_uses` requests from the same instance (session reuse),
    /// then discard it. Guest state persists between those requests.
    Reuse {
        /// Requests one instance serves before it is discarded (at least 1).
        max_uses: u32,
    },
}

/// What `acquire` does when no instance is ready and no slot is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExhausted {
    /// Wait up to the timeout given to `acquire`.
    Wait,
    /// Return [`PoolError::Exhausted`] at once.
    FailFast,
}

/// How a [`SandboxPool`] behaves.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Most instances alive at once (ready, in use, being made or being dropped).
    pub capacity: usize,
    /// Instances made before [`SandboxPool::new`] returns.
    pub prewarm: usize,
    /// Low watermark: when fewer than this many instances are ready, the
    /// workers are woken and refill up to `max(prewarm, refill_below)` (the
    /// high watermark). The gap between the two batches wake-ups: one per
    /// `prewarm - refill_below + 1` requests instead of one per request.
    pub refill_below: usize,
    /// Background threads that make (and drop) instances.
    pub workers: usize,
    /// What happens to an instance after a request.
    pub recycle: Recycle,
    /// Behaviour when nothing is ready and no slot is free.
    pub on_exhausted: OnExhausted,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            capacity: 16,
            prewarm: 8,
            refill_below: 8,
            workers: 1,
            recycle: Recycle::Discard,
            on_exhausted: OnExhausted::Wait,
        }
    }
}

/// Why `acquire` returned no instance.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Nothing ready and every slot taken for the whole wait.
    #[error(
        "sandbox pool exhausted: all {capacity} slots in use, none freed within {waited:?}; raise the pool capacity (and wasmtime's total_core_instances) or the acquire timeout"
    )]
    Exhausted {
        /// How long `acquire` waited.
        waited: Duration,
        /// The pool's capacity.
        capacity: usize,
    },
    /// The instance made inline (no ready one) failed to instantiate or warm up.
    #[error("making a sandbox: {0:#}")]
    Instantiate(anyhow::Error),
    /// The configuration cannot work.
    #[error("invalid pool configuration: {0}")]
    Config(String),
}

/// Runs guest initialisation on a fresh instance before it is offered.
pub type WarmUp<T, I = Instance> =
    dyn Fn(&mut Store<T>, &mut I) -> anyhow::Result<()> + Send + Sync;

/// Instantiates one sandbox into a store (a core `InstancePre`, a
/// component's, a wasi:http `ProxyPre`, ...).
pub type Instantiate<T, I = Instance> = dyn Fn(&mut Store<T>) -> anyhow::Result<I> + Send + Sync;

/// Makes a new store (host state, limits, deadlines) for an instance.
pub type MakeStore<T> = dyn Fn(&Engine) -> Store<T> + Send + Sync;

/// One instance with its store.
pub struct Slot<T: 'static, I = Instance> {
    /// The store that owns the instance.
    pub store: Store<T>,
    /// The instance.
    pub instance: I,
    /// Requests served so far.
    pub uses: u32,
    /// Unique id (a slot is never handed to two holders at once; tests check it).
    pub id: u64,
}

/// What the pool has done so far: its acquires by outcome and its
/// instances by fate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PoolCounts {
    /// Acquires served by a ready instance.
    pub hits: u64,
    /// Acquires that had to make an instance inline (nothing was ready).
    pub misses: u64,
    /// Acquires that returned [`PoolError::Exhausted`].
    pub exhausted: u64,
    /// Instances made (by workers, inline and at prewarm).
    pub created: u64,
    /// Instances dropped.
    pub discarded: u64,
    /// Instances returned for another use ([`Recycle::Reuse`]).
    pub reused: u64,
    /// Failures while a worker made an instance.
    pub refill_errors: u64,
}

/// A snapshot of the pool's counters and state.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolMetrics {
    /// Acquires and instances so far.
    pub counts: PoolCounts,
    /// Instances held by callers now.
    pub in_use: usize,
    /// Instances ready now.
    pub ready: usize,
    /// Instances alive now (ready + in use + being made + waiting to be dropped).
    pub alive: usize,
    /// Time inside `acquire`, successful acquires only.
    pub acquire: LatencySummary,
    /// From the ready count falling below `refill_below` until the workers
    /// refilled to the high watermark.
    pub refill_lag: LatencySummary,
}

struct Shared<T: 'static, I> {
    config: PoolConfig,
    engine: Engine,
    instantiate: Box<Instantiate<T, I>>,
    make_store: Box<MakeStore<T>>,
    warm_up: Option<Box<WarmUp<T, I>>>,
    ready: ArrayQueue<Slot<T, I>>,
    retired: SegQueue<Slot<T, I>>,
    /// Instances alive (ready + in use + being made + retired); never above capacity.
    alive: AtomicUsize,
    in_use: AtomicUsize,
    next_id: AtomicU64,
    shutdown: AtomicBool,
    /// Sleepers: acquirers waiting for an instance, workers waiting for work.
    lock: Mutex<()>,
    acquirers: Condvar,
    waiting_acquirers: AtomicUsize,
    workers: Condvar,
    /// Set when ready fell below `refill_below`; cleared when the workers
    /// have refilled to the high watermark.
    refilling: AtomicBool,
    /// Nanoseconds since `epoch` when ready fell below `refill_below`; 0 if not below.
    below_since: AtomicU64,
    epoch: Instant,
    hits: AtomicU64,
    misses: AtomicU64,
    exhausted: AtomicU64,
    created: AtomicU64,
    discarded: AtomicU64,
    reused: AtomicU64,
    refill_errors: AtomicU64,
    last_refill_error: Mutex<Option<String>>,
    acquire_hist: Mutex<Hist>,
    refill_hist: Mutex<Hist>,
}

/// A pool of ready instances of one module.
pub struct SandboxPool<T: 'static, I: 'static = Instance> {
    shared: Arc<Shared<T, I>>,
    threads: Vec<JoinHandle<()>>,
}

/// An instance lent by the pool; it goes back (or is discarded) when dropped.
pub struct PooledInstance<'p, T: 'static, I: 'static = Instance> {
    pool: &'p SandboxPool<T, I>,
    slot: Option<Slot<T, I>>,
    poisoned: bool,
}

impl<T: Send + 'static> SandboxPool<T, Instance> {
    /// Builds a pool of instances of one core-module `InstancePre` (see
    /// [`SandboxPool::with_instantiate`] for components and other kinds).
    pub fn new(
        engine: &Engine,
        pre: InstancePre<T>,
        config: PoolConfig,
        make_store: Box<MakeStore<T>>,
        warm_up: Option<Box<WarmUp<T>>>,
    ) -> Result<SandboxPool<T>, PoolError> {
        SandboxPool::with_instantiate(
            engine,
            Box::new(move |store: &mut Store<T>| {
                pre.instantiate(store)
                    .map_err(|e| anyhow::anyhow!("instantiating: {e:#}"))
            }),
            config,
            make_store,
            warm_up,
        )
    }
}

impl<T: Send + 'static, I: Send + 'static> SandboxPool<T, I> {
    /// Builds a pool, makes `prewarm` instances, and starts the workers.
    ///
    /// `make_store` builds each instance's store (host state, limits); `warm_up`, if given, runs
    /// on every new instance before it is offered (guest initialisation).
    pub fn with_instantiate(
        engine: &Engine,
        instantiate: Box<Instantiate<T, I>>,
        config: PoolConfig,
        make_store: Box<MakeStore<T>>,
        warm_up: Option<Box<WarmUp<T, I>>>,
    ) -> Result<SandboxPool<T, I>, PoolError> {
        if config.capacity == 0 {
            return Err(PoolError::Config("capacity must be at least 1".into()));
        }
        if config.prewarm > config.capacity || config.refill_below > config.capacity {
            return Err(PoolError::Config(format!(
                "prewarm ({}) and refill_below ({}) must not exceed capacity ({})",
                config.prewarm, config.refill_below, config.capacity
            )));
        }
        if let Recycle::Reuse { max_uses: 0 } = config.recycle {
            return Err(PoolError::Config("max_uses must be at least 1".into()));
        }
        let shared = Arc::new(Shared {
            ready: ArrayQueue::new(config.capacity),
            retired: SegQueue::new(),
            engine: engine.clone(),
            instantiate,
            make_store,
            warm_up,
            alive: AtomicUsize::new(0),
            in_use: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            shutdown: AtomicBool::new(false),
            lock: Mutex::new(()),
            acquirers: Condvar::new(),
            waiting_acquirers: AtomicUsize::new(0),
            workers: Condvar::new(),
            refilling: AtomicBool::new(false),
            below_since: AtomicU64::new(0),
            epoch: Instant::now(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            exhausted: AtomicU64::new(0),
            created: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            refill_errors: AtomicU64::new(0),
            last_refill_error: Mutex::new(None),
            acquire_hist: Mutex::new(latency::new_histogram()),
            refill_hist: Mutex::new(latency::new_histogram()),
            config,
        });
        let mut pool = SandboxPool {
            shared,
            threads: Vec::new(),
        };
        for _ in 0..pool.shared.config.prewarm {
            if !pool.shared.reserve() {
                break;
            }
            match pool.shared.make_slot() {
                Ok(slot) => {
                    // Cannot fail: the queue holds `capacity` and `alive` is below it.
                    let _ = pool.shared.ready.push(slot);
                }
                Err(e) => {
                    pool.shared.alive.fetch_sub(1, Ordering::AcqRel);
                    return Err(PoolError::Instantiate(e));
                }
            }
        }
        for i in 0..pool.shared.config.workers {
            let shared = Arc::clone(&pool.shared);
            let handle = std::thread::Builder::new()
                .name(format!("sandbox-pool-{i}"))
                .spawn(move || shared.worker())
                .map_err(|e| PoolError::Config(format!("starting a worker thread: {e}")))?;
            pool.threads.push(handle);
        }
        Ok(pool)
    }

    /// Takes a ready instance, or makes one inline if none is ready and a slot
    /// is free, or waits up to `timeout` for one ([`OnExhausted::Wait`]).
    pub fn acquire(&self, timeout: Duration) -> Result<PooledInstance<'_, T, I>, PoolError> {
        let s = &*self.shared;
        let start = Instant::now();
        let slot = match s.try_take() {
            Some(slot) => slot,
            None => self.acquire_slow(start, timeout)?,
        };
        s.in_use.fetch_add(1, Ordering::AcqRel);
        let ns = start.elapsed().as_nanos() as u64;
        s.acquire_hist.lock().saturating_record(ns.max(1));
        Ok(PooledInstance {
            pool: self,
            slot: Some(slot),
            poisoned: false,
        })
    }

    fn acquire_slow(&self, start: Instant, timeout: Duration) -> Result<Slot<T, I>, PoolError> {
        let s = &*self.shared;
        let deadline = start + timeout;
        loop {
            if let Some(slot) = s.try_take() {
                return Ok(slot);
            }
            if s.reserve() {
                s.misses.fetch_add(1, Ordering::Relaxed);
                return s.make_slot().map_err(|e| {
                    s.alive.fetch_sub(1, Ordering::AcqRel);
                    s.wake_acquirer();
                    PoolError::Instantiate(e)
                });
            }
            let now = Instant::now();
            if s.config.on_exhausted == OnExhausted::FailFast || now >= deadline {
                s.exhausted.fetch_add(1, Ordering::Relaxed);
                return Err(PoolError::Exhausted {
                    waited: now - start,
                    capacity: s.config.capacity,
                });
            }
            // Sleep until a slot is returned or freed. Re-check under the lock:
            // returners take the lock before notifying, so no wake-up is lost.
            let mut guard = s.lock.lock();
            s.waiting_acquirers.fetch_add(1, Ordering::AcqRel);
            if s.ready.is_empty() && s.alive.load(Ordering::Acquire) >= s.config.capacity {
                s.acquirers.wait_until(&mut guard, deadline);
            }
            s.waiting_acquirers.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The pool's counters now.
    pub fn metrics(&self) -> PoolMetrics {
        let s = &*self.shared;
        PoolMetrics {
            counts: PoolCounts {
                hits: s.hits.load(Ordering::Relaxed),
                misses: s.misses.load(Ordering::Relaxed),
                exhausted: s.exhausted.load(Ordering::Relaxed),
                created: s.created.load(Ordering::Relaxed),
                discarded: s.discarded.load(Ordering::Relaxed),
                reused: s.reused.load(Ordering::Relaxed),
                refill_errors: s.refill_errors.load(Ordering::Relaxed),
            },
            in_use: s.in_use.load(Ordering::Acquire),
            ready: s.ready.len(),
            alive: s.alive.load(Ordering::Acquire),
            acquire: LatencySummary::of(&s.acquire_hist.lock()),
            refill_lag: LatencySummary::of(&s.refill_hist.lock()),
        }
    }

    /// The acquire-latency histogram so far (a copy).
    pub fn acquire_histogram(&self) -> Hist {
        self.shared.acquire_hist.lock().clone()
    }

    /// The last error a worker hit while making an instance, if any.
    pub fn last_refill_error(&self) -> Option<String> {
        self.shared.last_refill_error.lock().clone()
    }

    /// The pool's configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }
}

impl<T: 'static, I> Shared<T, I> {
    /// Claims a slot for a new instance if one is free.
    fn reserve(&self) -> bool {
        self.alive
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.config.capacity).then_some(n + 1)
            })
            .is_ok()
    }

    fn try_take(&self) -> Option<Slot<T, I>> {
        let slot = self.ready.pop()?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        if self.ready.len() < self.config.refill_below
            && !self.refilling.swap(true, Ordering::AcqRel)
        {
            let now = self.epoch.elapsed().as_nanos() as u64;
            self.below_since.store(now.max(1), Ordering::Release);
            self.workers.notify_one();
        }
        Some(slot)
    }

    fn make_slot(&self) -> anyhow::Result<Slot<T, I>> {
        let mut store = (self.make_store)(&self.engine);
        let mut instance = (self.instantiate)(&mut store)?;
        if let Some(w) = &self.warm_up {
            w(&mut store, &mut instance)?;
        }
        self.created.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            store,
            instance,
            uses: 0,
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Hands a used instance to the workers to drop off the request path (or
    /// drops it here when there are no workers).
    fn retire(&self, slot: Slot<T, I>) {
        if self.config.workers == 0 || self.shutdown.load(Ordering::Acquire) {
            drop(slot);
            self.discarded.fetch_add(1, Ordering::Relaxed);
            self.alive.fetch_sub(1, Ordering::AcqRel);
            self.wake_acquirer();
        } else {
            self.retired.push(slot);
            self.workers.notify_one();
        }
    }

    fn wake_acquirer(&self) {
        if self.waiting_acquirers.load(Ordering::Acquire) > 0 {
            drop(self.lock.lock());
            self.acquirers.notify_one();
        }
    }

    fn worker(&self) {
        while !self.shutdown.load(Ordering::Acquire) {
            let mut did = false;
            while let Some(slot) = self.retired.pop() {
                drop(slot);
                self.discarded.fetch_add(1, Ordering::Relaxed);
                self.alive.fetch_sub(1, Ordering::AcqRel);
                self.wake_acquirer();
                did = true;
            }
            let target = self.config.prewarm.max(self.config.refill_below);
            if self.ready.len() < self.config.refill_below {
                self.refilling.store(true, Ordering::Release);
            }
            if self.refilling.load(Ordering::Acquire) && self.ready.len() >= target {
                self.note_refilled();
            } else if self.refilling.load(Ordering::Acquire) && self.reserve() {
                match self.make_slot() {
                    Ok(slot) => {
                        if let Err(slot) = self.ready.push(slot) {
                            drop(slot);
                            self.alive.fetch_sub(1, Ordering::AcqRel);
                        }
                        self.wake_acquirer();
                        self.note_refilled();
                    }
                    Err(e) => {
                        self.alive.fetch_sub(1, Ordering::AcqRel);
                        self.refill_errors.fetch_add(1, Ordering::Relaxed);
                        *self.last_refill_error.lock() = Some(format!("{e:#}"));
                        // Back off instead of spinning on a persistent failure.
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                did = true;
            }
            if !did {
                let mut guard = self.lock.lock();
                if self.retired.is_empty()
                    && !self.shutdown.load(Ordering::Acquire)
                    && (!self.refilling.load(Ordering::Acquire)
                        || self.alive.load(Ordering::Acquire) >= self.config.capacity)
                {
                    // Timed wait: a notify that races this check costs at most 10 ms.
                    self.workers.wait_for(&mut guard, Duration::from_millis(10));
                }
            }
        }
    }

    fn note_refilled(&self) {
        let target = self.config.prewarm.max(self.config.refill_below);
        if self.ready.len() >= target && self.refilling.swap(false, Ordering::AcqRel) {
            let since = self.below_since.swap(0, Ordering::AcqRel);
            if since != 0 {
                let now = self.epoch.elapsed().as_nanos() as u64;
                self.refill_hist
                    .lock()
                    .saturating_record(now.saturating_sub(since).max(1));
            }
        }
    }
}

impl<T: 'static, I: 'static> Drop for SandboxPool<T, I> {
    fn drop(&mut self) {
        let s = &*self.shared;
        s.shutdown.store(true, Ordering::Release);
        {
            let _guard = s.lock.lock();
            s.workers.notify_all();
            s.acquirers.notify_all();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        while let Some(slot) = s.ready.pop() {
            drop(slot);
            s.alive.fetch_sub(1, Ordering::AcqRel);
        }
        while let Some(slot) = s.retired.pop() {
            drop(slot);
            s.alive.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl<T: 'static, I: 'static> PooledInstance<'_, T, I> {
    /// The slot (store, instance, use count, id).
    pub fn slot(&mut self) -> &mut Slot<T, I> {
        // Present from construction until drop.
        self.slot.as_mut().expect("slot present until drop")
    }

    /// The store and the instance, for calling into the guest.
    pub fn parts(&mut self) -> (&mut Store<T>, &mut I) {
        let slot = self.slot();
        (&mut slot.store, &mut slot.instance)
    }

    /// Marks the instance as unfit for reuse (it trapped, or its state is
    /// suspect): it is discarded on release whatever the recycle policy.
    pub fn poison(&mut self) {
        self.poisoned = true;
    }
}

impl<T: 'static, I: 'static> Drop for PooledInstance<'_, T, I> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.pool.release(slot, self.poisoned);
        }
    }
}

impl<T: 'static, I: 'static> SandboxPool<T, I> {
    fn release(&self, mut slot: Slot<T, I>, poisoned: bool) {
        let s = &*self.shared;
        s.in_use.fetch_sub(1, Ordering::AcqRel);
        slot.uses += 1;
        let keep = match s.config.recycle {
            Recycle::Discard => false,
            Recycle::Reuse { max_uses } => !poisoned && slot.uses < max_uses,
        };
        if keep && !s.shutdown.load(Ordering::Acquire) {
            s.reused.fetch_add(1, Ordering::Relaxed);
            match s.ready.push(slot) {
                Ok(()) => s.wake_acquirer(),
                Err(slot) => s.retire(slot),
            }
        } else {
            s.retire(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Written for the mutation score (scripts/mutants.sh): the counters
    //! each path moves, the refill to its high watermark and no further,
    //! failures while making an instance, reuse and poison, a waiting
    //! acquirer woken by a release, and a dropped pool dropping every store.
    //! tests/pool.rs stresses the pool with threads.

    use super::*;
    use crate::settings::{ByteSize, GuestSettings};
    use std::sync::atomic::AtomicUsize;
    use wasmtime::{Config, Linker, Module};

    /// Store data that counts its drops.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A pool of the synthetic guest whose instantiations fail from the
    /// `fail_from`-th on (0-based), with its stores' drop counter.
    fn pool_failing(
        config: PoolConfig,
        fail_from: usize,
        warm_ups: Option<Arc<AtomicUsize>>,
    ) -> Result<(SandboxPool<Counted>, Arc<AtomicUsize>), PoolError> {
        let g = GuestSettings {
            image_size: ByteSize(64 << 10),
            dirty_per_call: ByteSize(4 << 10),
            ..GuestSettings::default()
        };
        let engine = Engine::new(&Config::new()).unwrap();
        let module = Module::new(&engine, crate::guest::synthetic::module_bytes(&g)).unwrap();
        let pre = Linker::new(&engine).instantiate_pre(&module).unwrap();
        let made = AtomicUsize::new(0);
        let dropped = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&dropped);
        let warm_up: Option<Box<WarmUp<Counted>>> = warm_ups.map(|n| {
            Box::new(move |_: &mut Store<Counted>, _: &mut Instance| {
                n.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }) as Box<WarmUp<Counted>>
        });
        let pool = SandboxPool::with_instantiate(
            &engine,
            Box::new(move |store: &mut Store<Counted>| {
                if made.fetch_add(1, Ordering::SeqCst) >= fail_from {
                    anyhow::bail!("no more instances");
                }
                pre.instantiate(store)
                    .map_err(|e| anyhow::anyhow!("instantiating: {e:#}"))
            }),
            config,
            Box::new(move |e: &Engine| Store::new(e, Counted(Arc::clone(&counter)))),
            warm_up,
        )?;
        Ok((pool, dropped))
    }

    fn pool(config: PoolConfig) -> (SandboxPool<Counted>, Arc<AtomicUsize>) {
        pool_failing(config, usize::MAX, None).unwrap()
    }

    fn config(capacity: usize, prewarm: usize, refill_below: usize, workers: usize) -> PoolConfig {
        PoolConfig {
            capacity,
            prewarm,
            refill_below,
            workers,
            recycle: Recycle::Discard,
            on_exhausted: OnExhausted::FailFast,
        }
    }

    const WAIT: Duration = Duration::from_secs(5);

    /// Polls `f` until it holds (10 s at most).
    #[track_caller]
    fn eventually(what: &str, f: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < deadline, "never: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn without_workers_each_path_moves_its_counter() {
        let (p, dropped) = pool(config(2, 1, 0, 0));
        assert_eq!(p.config().capacity, 2);
        let m = p.metrics();
        assert_eq!((m.counts.created, m.ready, m.alive, m.in_use), (1, 1, 1, 0));
        // The prewarmed one: a hit.
        let a = p.acquire(WAIT).unwrap();
        // None ready, a slot free: made inline, a miss.
        let b = p.acquire(WAIT).unwrap();
        let m = p.metrics();
        assert_eq!((m.counts.hits, m.counts.misses), (1, 1));
        assert_eq!((m.counts.created, m.in_use, m.ready, m.alive), (2, 2, 0, 2));
        // Every slot taken: fail fast, counted.
        assert!(matches!(
            p.acquire(WAIT),
            Err(PoolError::Exhausted { capacity: 2, .. })
        ));
        let m = p.metrics();
        assert_eq!((m.counts.exhausted, m.counts.created, m.alive), (1, 2, 2));
        assert_eq!(m.acquire.count, 2);
        assert_eq!(p.acquire_histogram().len(), 2);
        // Released without workers: dropped at once, the slot freed.
        drop(a);
        drop(b);
        let m = p.metrics();
        assert_eq!(
            (m.counts.discarded, m.alive, m.in_use, m.ready),
            (2, 0, 0, 0)
        );
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
        assert_eq!(m.counts.reused, 0);
        assert_eq!(p.last_refill_error(), None);
        drop(p);
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn workers_refill_to_the_high_watermark_and_no_further() {
        // High watermark max(prewarm, refill_below) = 3, of 6 slots.
        let (p, dropped) = pool(config(6, 3, 2, 1));
        let g = p.acquire(WAIT).unwrap();
        // 2 ready, not below 2: nothing is made (though below the high
        // watermark).
        std::thread::sleep(Duration::from_millis(200));
        let m = p.metrics();
        assert_eq!((m.ready, m.alive, m.counts.created), (2, 3, 3), "{m:?}");
        let h = p.acquire(WAIT).unwrap();
        // 1 ready < 2: refilled to 3 ready (5 alive), not to capacity.
        eventually("refilled to 3", || p.metrics().ready == 3);
        eventually("refill lag recorded", || p.metrics().refill_lag.count >= 1);
        std::thread::sleep(Duration::from_millis(100));
        let m = p.metrics();
        assert_eq!((m.ready, m.alive, m.in_use), (3, 5, 2), "{m:?}");
        assert_eq!(m.counts.created, 5);
        assert_eq!(m.counts.hits, 2);
        // Released with a worker: dropped off the request path.
        drop(g);
        drop(h);
        eventually("discarded by the worker", || {
            p.metrics().counts.discarded == 2
        });
        eventually("alive back to 3", || p.metrics().alive == 3);
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
        // Dropping the pool stops the worker and drops every store.
        drop(p);
        assert_eq!(dropped.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn workers_fill_a_pool_below_its_low_watermark_without_any_acquire() {
        // Nothing prewarmed, refill below 3: the worker sees 0 < 3 and fills
        // to 3 on its own; no acquire ever signals it.
        let (p, _) = pool(config(5, 0, 3, 1));
        eventually("filled to 3 with no acquire", || p.metrics().ready == 3);
        std::thread::sleep(Duration::from_millis(100));
        let m = p.metrics();
        assert_eq!((m.ready, m.alive, m.counts.created), (3, 3, 3), "{m:?}");
        assert_eq!(m.counts.hits + m.counts.misses, 0);
    }

    #[test]
    fn prewarm_and_refill_below_may_reach_capacity_and_not_pass_it() {
        let refused =
            |c: PoolConfig| matches!(pool_failing(c, usize::MAX, None), Err(PoolError::Config(_)));
        assert!(!refused(config(2, 2, 2, 0)));
        assert!(refused(config(2, 3, 0, 0)));
        assert!(refused(config(2, 0, 3, 0)));
        assert!(refused(config(2, 3, 3, 0)));
        assert!(refused(config(0, 0, 0, 0)));
        assert!(refused(PoolConfig {
            recycle: Recycle::Reuse { max_uses: 0 },
            ..config(2, 1, 1, 0)
        }));
        assert!(!refused(PoolConfig {
            recycle: Recycle::Reuse { max_uses: 1 },
            ..config(2, 1, 1, 0)
        }));
    }

    #[test]
    fn a_failure_to_make_an_instance_is_counted_and_frees_its_slot() {
        // Prewarm fails: an error, not a pool.
        assert!(matches!(
            pool_failing(config(2, 1, 0, 0), 0, None),
            Err(PoolError::Instantiate(_))
        ));
        // Inline: the acquire fails, its slot is given back.
        let (p, _) = pool_failing(config(2, 1, 0, 0), 1, None).unwrap();
        let _a = p.acquire(WAIT).unwrap();
        let err = p.acquire(WAIT).err().unwrap();
        assert!(matches!(err, PoolError::Instantiate(_)), "{err}");
        let m = p.metrics();
        assert_eq!((m.alive, m.in_use, m.counts.misses), (1, 1, 1));
        // In a worker: counted, the last error kept, the slot given back.
        let (p, _) = pool_failing(config(2, 1, 1, 1), 1, None).unwrap();
        let _a = p.acquire(WAIT).unwrap();
        eventually("a refill error", || p.metrics().counts.refill_errors >= 1);
        assert!(
            p.last_refill_error().unwrap().contains("no more instances"),
            "{:?}",
            p.last_refill_error()
        );
        eventually("its slot given back", || p.metrics().alive == 1);
        // Every instance made is warmed up once.
        let warm_ups = Arc::new(AtomicUsize::new(0));
        let (p, _) = pool_failing(config(3, 2, 0, 0), usize::MAX, Some(warm_ups.clone())).unwrap();
        let _b = p.acquire(WAIT).unwrap();
        let _c = p.acquire(WAIT).unwrap();
        let _d = p.acquire(WAIT).unwrap();
        assert_eq!(warm_ups.load(Ordering::SeqCst), 3);
        assert_eq!(p.metrics().counts.created, 3);
    }

    #[test]
    fn reuse_keeps_an_instance_for_max_uses_unless_poisoned() {
        let (p, dropped) = pool(PoolConfig {
            recycle: Recycle::Reuse { max_uses: 2 },
            ..config(1, 1, 0, 0)
        });
        let first = p.acquire(WAIT).unwrap().slot().id;
        let mut g = p.acquire(WAIT).unwrap();
        assert_eq!(g.slot().id, first);
        assert_eq!(g.slot().uses, 1);
        drop(g);
        // Two uses served: discarded, the next one is new.
        let m = p.metrics();
        assert_eq!((m.counts.reused, m.counts.discarded), (1, 1));
        let mut g = p.acquire(WAIT).unwrap();
        let second = g.slot().id;
        assert_ne!(second, first);
        g.poison();
        drop(g);
        // Poisoned after one use: discarded.
        assert_eq!(p.metrics().counts.discarded, 2);
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
        let mut g = p.acquire(WAIT).unwrap();
        assert_ne!(g.slot().id, second);
        let (store, instance) = g.parts();
        instance
            .get_typed_func::<(), ()>(&mut *store, crate::guest::synthetic::ENTRY)
            .unwrap()
            .call(&mut *store, ())
            .unwrap();
    }

    #[test]
    fn a_release_wakes_a_waiting_acquirer_and_a_wait_ends_at_its_timeout() {
        let (p, _) = pool(PoolConfig {
            on_exhausted: OnExhausted::Wait,
            ..config(1, 1, 0, 0)
        });
        let held = p.acquire(WAIT).unwrap();
        // Nothing frees a slot: waits its timeout, then exhausted.
        let t = Instant::now();
        let err = p.acquire(Duration::from_millis(200)).err().unwrap();
        assert!(t.elapsed() >= Duration::from_millis(200));
        assert!(
            matches!(err, PoolError::Exhausted { waited, .. } if waited >= Duration::from_millis(200))
        );
        // A release while someone waits (up to 20 s) hands the slot over at once.
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let t = Instant::now();
                p.acquire(Duration::from_secs(20)).map(|_| t.elapsed())
            });
            eventually("the waiter sleeps", || {
                p.shared.waiting_acquirers.load(Ordering::SeqCst) == 1
            });
            drop(held);
            let waited = waiter.join().unwrap().unwrap();
            assert!(waited < Duration::from_secs(10), "{waited:?}");
        });
        // Fail fast ignores the timeout.
        let (p, _) = pool(config(1, 1, 0, 0));
        let _held = p.acquire(WAIT).unwrap();
        let t = Instant::now();
        assert!(p.acquire(Duration::from_secs(20)).is_err());
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
