//! A controlled background CPU load: `[scenario] background_load = N` busy
//! threads that a scenario starts right before its timed part and stops right
//! after, so CPU contention is measured on purpose instead of by accident.
//!
//! The threads live in the measuring process, so their CPU time counts as
//! the variant's own and the disturbance detector
//! ([`crate::measure::disturbance`]) does not mistake the deliberate load for
//! another process. They only compute on registers and read one flag: no
//! memory is allocated or written, no page is touched, no lock is taken, so
//! the only thing they compete for is the CPU (and the caches' share a spin
//! loop uses).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Busy threads, running until dropped.
pub struct BackgroundLoad {
    stop: Arc<AtomicBool>,
    spins: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl BackgroundLoad {
    /// Starts `n` busy threads (none for 0).
    pub fn start(n: u32) -> std::io::Result<BackgroundLoad> {
        let stop = Arc::new(AtomicBool::new(false));
        let spins = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::with_capacity(n as usize);
        for i in 0..n {
            let (flag, spins) = (Arc::clone(&stop), Arc::clone(&spins));
            let spawned = std::thread::Builder::new()
                .name(format!("busy-{i}"))
                .spawn(move || {
                    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(i);
                    let mut rounds: u64 = 0;
                    while !flag.load(Ordering::Relaxed) {
                        for _ in 0..4096 {
                            // xorshift: arithmetic only, kept by black_box.
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                        }
                        std::hint::black_box(x);
                        rounds += 1;
                    }
                    spins.fetch_add(rounds, Ordering::Relaxed);
                });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    for t in threads {
                        let _ = t.join();
                    }
                    return Err(e);
                }
            }
        }
        Ok(BackgroundLoad {
            stop,
            spins,
            threads,
        })
    }

    /// Stops the threads and returns how many blocks of 4,096 steps they ran
    /// (a proof that they ran).
    pub fn stop(mut self) -> u64 {
        self.halt();
        self.spins.load(Ordering::Relaxed)
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for BackgroundLoad {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_threads_run_until_stopped() {
        assert_eq!(BackgroundLoad::start(0).unwrap().stop(), 0);
        let load = BackgroundLoad::start(2).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(load.stop() > 0);
    }
}
