//! The sandbox pool under stress: no slot is ever held twice at once, every
//! slot comes back, exhaustion is a typed error within its timeout, and the
//! recycle policies do what they say.

mod common;

use parking_lot::Mutex;
use pooling_lab::slot_pool::{OnExhausted, PoolConfig, PoolError, Recycle, SandboxPool};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn pool(config: PoolConfig) -> SandboxPool<()> {
    let (engine, pre) = common::engine_and_pre(&common::guest(64 << 10, 8 << 10));
    SandboxPool::new(
        &engine,
        pre,
        config,
        Box::new(|e: &wasmtime::Engine| wasmtime::Store::new(e, ())),
        None,
    )
    .unwrap()
}

fn stress(recycle: Recycle) {
    let capacity = 6;
    let p = pool(PoolConfig {
        capacity,
        prewarm: 3,
        refill_below: 2,
        workers: 2,
        recycle,
        on_exhausted: OnExhausted::Wait,
    });
    let held: Mutex<HashSet<u64>> = Mutex::new(HashSet::new());
    let peak = AtomicU64::new(0);
    let threads = 12;
    let per_thread = 300;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per_thread {
                    let mut g = p.acquire(Duration::from_secs(30)).unwrap();
                    let id = g.slot().id;
                    {
                        let mut h = held.lock();
                        assert!(h.insert(id), "slot {id} handed out twice at once");
                        peak.fetch_max(h.len() as u64, Ordering::Relaxed);
                    }
                    let (store, instance) = g.parts();
                    common::call(store, *instance);
                    assert!(held.lock().remove(&id));
                }
            });
        }
    });
    let m = p.metrics();
    assert_eq!(m.in_use, 0, "{m:?}");
    assert_eq!(
        m.counts.hits + m.counts.misses,
        (threads * per_thread) as u64,
        "{m:?}"
    );
    assert_eq!(m.counts.exhausted, 0);
    assert!(m.alive <= capacity, "{m:?}");
    assert!(peak.load(Ordering::Relaxed) as usize <= capacity);
    // Every instance made is either still alive or was dropped.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = p.metrics();
        if m.counts.created == m.counts.discarded + m.alive as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "instances unaccounted for: {m:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    match recycle {
        Recycle::Discard => assert_eq!(m.counts.reused, 0),
        Recycle::Reuse { .. } => assert!(m.counts.reused > 0, "{m:?}"),
    }
}

#[test]
fn stress_discard_never_double_lends_and_returns_every_slot() {
    stress(Recycle::Discard);
}

#[test]
fn stress_reuse_never_double_lends_and_returns_every_slot() {
    stress(Recycle::Reuse { max_uses: 5 });
}

#[test]
fn exhaustion_is_a_typed_error_within_the_timeout() {
    let p = pool(PoolConfig {
        capacity: 2,
        prewarm: 2,
        refill_below: 1,
        workers: 1,
        recycle: Recycle::Discard,
        on_exhausted: OnExhausted::Wait,
    });
    let a = p.acquire(Duration::from_secs(1)).unwrap();
    let b = p.acquire(Duration::from_secs(1)).unwrap();
    let t = Instant::now();
    let err = p.acquire(Duration::from_millis(100)).err().unwrap();
    let waited = t.elapsed();
    match &err {
        PoolError::Exhausted { waited, capacity } => {
            assert_eq!(*capacity, 2);
            assert!(*waited >= Duration::from_millis(100), "{waited:?}");
        }
        other => panic!("expected Exhausted, got {other}"),
    }
    assert!(err.to_string().contains("raise the pool capacity"), "{err}");
    // It waited for the timeout, and not for ever (generous bound for a loaded host).
    assert!(waited >= Duration::from_millis(100) && waited < Duration::from_secs(5));
    assert_eq!(p.metrics().counts.exhausted, 1);

    // A slot released while someone waits is handed over.
    std::thread::scope(|s| {
        let waiter = s.spawn(|| p.acquire(Duration::from_secs(20)).map(|g| g.metrics_id()));
        std::thread::sleep(Duration::from_millis(50));
        drop(a);
        assert!(waiter.join().unwrap().is_ok());
    });
    drop(b);
}

trait Id {
    fn metrics_id(self) -> u64;
}
impl Id for pooling_lab::slot_pool::PooledInstance<'_, ()> {
    fn metrics_id(mut self) -> u64 {
        self.slot().id
    }
}

#[test]
fn fail_fast_returns_at_once() {
    let p = pool(PoolConfig {
        capacity: 1,
        prewarm: 1,
        refill_below: 1,
        workers: 1,
        recycle: Recycle::Discard,
        on_exhausted: OnExhausted::FailFast,
    });
    let _held = p.acquire(Duration::from_secs(1)).unwrap();
    let t = Instant::now();
    let err = p.acquire(Duration::from_secs(60)).err().unwrap();
    assert!(matches!(err, PoolError::Exhausted { .. }), "{err}");
    // Fail-fast ignores the 60 s timeout.
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn reuse_serves_max_uses_then_discards_and_poison_discards_at_once() {
    let p = pool(PoolConfig {
        capacity: 1,
        prewarm: 1,
        refill_below: 0,
        workers: 1,
        recycle: Recycle::Reuse { max_uses: 3 },
        on_exhausted: OnExhausted::Wait,
    });
    let ids: Vec<u64> = (0..3)
        .map(|_| p.acquire(Duration::from_secs(5)).unwrap().slot().id)
        .collect();
    assert!(
        ids.iter().all(|&i| i == ids[0]),
        "same instance 3 times: {ids:?}"
    );
    // The 4th use gets a new instance: the first served its 3 uses.
    let mut g = p.acquire(Duration::from_secs(5)).unwrap();
    let fourth = g.slot().id;
    assert_ne!(fourth, ids[0]);
    g.poison();
    drop(g);
    let fifth = p.acquire(Duration::from_secs(5)).unwrap().slot().id;
    assert_ne!(fifth, fourth, "a poisoned instance is never lent again");
}

#[test]
fn discard_gives_every_request_fresh_guest_memory() {
    let (engine, pre) = common::engine_and_pre(&common::guest(64 << 10, 8 << 10));
    let p = SandboxPool::new(
        &engine,
        pre,
        PoolConfig {
            capacity: 2,
            prewarm: 1,
            refill_below: 1,
            workers: 1,
            recycle: Recycle::Discard,
            on_exhausted: OnExhausted::Wait,
        },
        Box::new(|e: &wasmtime::Engine| wasmtime::Store::new(e, ())),
        None,
    )
    .unwrap();
    let mut seen = HashSet::new();
    for _ in 0..20 {
        let mut g = p.acquire(Duration::from_secs(5)).unwrap();
        let (store, instance) = g.parts();
        let mem = instance.get_memory(&mut *store, "memory").unwrap();
        // A byte the guest never writes: still the image's value, i.e. no other
        // request's write is visible.
        let before = mem.data(&*store)[1];
        mem.data_mut(&mut *store)[1] = before.wrapping_add(1);
        assert_eq!(before, pooling_lab::guest::synthetic::image_byte(1));
        assert!(
            seen.insert(g.slot().id),
            "discard never lends an instance twice"
        );
    }
}

#[test]
fn bad_config_is_an_error_not_a_panic() {
    let (engine, pre) = common::engine_and_pre(&common::guest(64 << 10, 8 << 10));
    for config in [
        PoolConfig {
            capacity: 0,
            ..PoolConfig::default()
        },
        PoolConfig {
            capacity: 2,
            prewarm: 3,
            ..PoolConfig::default()
        },
        PoolConfig {
            recycle: Recycle::Reuse { max_uses: 0 },
            ..PoolConfig::default()
        },
    ] {
        let r = SandboxPool::new(
            &engine,
            pre.clone(),
            config,
            Box::new(|e: &wasmtime::Engine| wasmtime::Store::new(e, ())),
            None,
        );
        assert!(matches!(r, Err(PoolError::Config(_))));
    }
}
