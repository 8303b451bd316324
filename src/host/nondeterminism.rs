//! Recording what a guest reads from WASI that differs from run to run:
//! random bytes and clock readings. A snapshot freezes whatever its
//! initialisation read (a hash seed, a PRNG state, a start time) into every
//! sandbox made from it, so the snapshot builder records these reads
//! ([`Recorder`]) and the result lists them.
//!
//! The recorder replaces the WASI context's random source and clocks with
//! ones that serve the same values the defaults would (the OS's random
//! bytes, the system clocks) and count each read.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// What a guest read, by source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reads {
    /// Host calls (`random_get` in preview1, `wasi:random/random` in
    /// components) that returned random bytes.
    pub random_calls: u64,
    /// Calls of `wasi:random/insecure` (components only).
    pub insecure_random_calls: u64,
    /// Reads of the wall clock (`clock_time_get(realtime)`, `wasi:clocks/wall-clock`).
    pub wall_clock_reads: u64,
    /// Reads of the monotonic clock (`clock_time_get(monotonic)`, poll timeouts).
    pub monotonic_clock_reads: u64,
}

impl Reads {
    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        *self == Reads::default()
    }

    /// One line per source read, for reports: `random_get: 2 calls, 24 bytes`.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.random_calls > 0 {
            out.push(format!("random_get: {} call(s)", self.random_calls));
        }
        if self.insecure_random_calls > 0 {
            out.push(format!(
                "wasi:random/insecure: {} call(s)",
                self.insecure_random_calls
            ));
        }
        if self.wall_clock_reads > 0 {
            out.push(format!(
                "clock_time_get(realtime): {} read(s)",
                self.wall_clock_reads
            ));
        }
        if self.monotonic_clock_reads > 0 {
            out.push(format!(
                "clock_time_get(monotonic): {} read(s)",
                self.monotonic_clock_reads
            ));
        }
        out
    }
}

/// Counts a store's nondeterministic WASI reads. Cloning shares the counts.
///
/// A random source cannot tell one WASI call from the next (wasmtime-wasi
/// draws it once per byte), so the store's call hook numbers host calls
/// ([`Recorder::host_call`]) and the draws made within one host call count
/// as one call.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    reads: Reads,
    /// Host calls so far (from the store's call hook).
    host_calls: u64,
    /// The host call the last random draw was made in.
    last_random_call: Option<u64>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Recorder")
            .field(&self.0.lock().reads)
            .finish()
    }
}

impl PartialEq for Recorder {
    /// Recorders compare by identity: two specs are alike only if they record
    /// into the same counts.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Recorder {
    /// A recorder with nothing read yet.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// What was read so far.
    pub fn reads(&self) -> Reads {
        self.0.lock().reads.clone()
    }

    /// Marks the start of a host call (install it as the store's call hook
    /// for `CallHook::CallingHost`).
    pub fn host_call(&self) {
        self.0.lock().host_calls += 1;
    }

    /// Installs the recording random sources and clocks into a WASI context.
    pub fn install(&self, b: &mut wasmtime_wasi::WasiCtxBuilder) {
        b.secure_random(Random {
            rec: self.clone(),
            insecure: false,
        })
        .insecure_random(Random {
            rec: self.clone(),
            insecure: true,
        })
        .wall_clock(WallClock(self.clone()))
        .monotonic_clock(MonotonicClock {
            rec: self.clone(),
            start: Instant::now(),
        });
    }
}

/// The OS's random bytes, counted.
struct Random {
    rec: Recorder,
    insecure: bool,
}

impl rand_core::TryRng for Random {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        {
            let mut st = self.rec.0.lock();
            let call = st.host_calls;
            if st.last_random_call != Some(call) {
                st.last_random_call = Some(call);
                if self.insecure {
                    st.reads.insecure_random_calls += 1;
                } else {
                    st.reads.random_calls += 1;
                }
            }
        }
        fill_os_random(dst);
        Ok(())
    }
}

/// Fills `dst` from the kernel's getrandom(2) (blocking until seeded).
fn fill_os_random(dst: &mut [u8]) {
    let mut done = 0;
    while done < dst.len() {
        let rest = &mut dst[done..];
        // SAFETY: `rest` is a valid writable buffer of `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            done += n as usize;
        }
    }
}

/// The system clock, counted.
struct WallClock(Recorder);

impl wasmtime_wasi::HostWallClock for WallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.0.0.lock().reads.wall_clock_reads += 1;
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// A monotonic clock from the recorder's creation, counted.
struct MonotonicClock {
    rec: Recorder,
    start: Instant,
}

impl wasmtime_wasi::HostMonotonicClock for MonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.rec.0.lock().reads.monotonic_clock_reads += 1;
        self.start.elapsed().as_nanos() as u64
    }
}
