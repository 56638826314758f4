//! Writers to one key or alias wait for each other instead of racing.
//!
//! Within one process, a read-modify-write of a key (or alias) holds that key's stripe of
//! [`WriteLocks`] from its read to its commit, so concurrent writers on one node never lose a
//! compare-and-set to each other: they queue. Across processes (several nodes on one
//! database), or against the sweeper, compare-and-set stays the guard: a lost race re-reads
//! after a jittered, growing pause ([`backoff`]), so a hot key under several nodes converges
//! instead of retrying in lockstep.

use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

/// Stripes per lock set: enough that unrelated keys rarely share one, few enough to be free.
const STRIPES: usize = 256;

/// Striped mutexes keyed by a hashable name (a key id, or an alias's scope and name).
#[derive(Debug)]
pub(super) struct WriteLocks {
    stripes: Vec<Mutex<()>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for WriteLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: Default::default(),
        }
    }
}

impl WriteLocks {
    /// Blocks until no other writer of `name` in this process holds its stripe.
    pub(super) fn lock(&self, name: &impl Hash) -> MutexGuard<'_, ()> {
        let i = (self.hasher.hash_one(name) % STRIPES as u64) as usize;
        self.stripes[i].lock()
    }
}

/// The pause before attempt `attempt + 1` after a lost compare-and-set: up to 1 ms doubling to
/// 64 ms, uniformly jittered ("full jitter") so competing nodes spread out.
pub(super) fn backoff(attempt: usize) {
    let ceiling_us = 1_000u64 << attempt.min(6);
    let jitter = std::collections::hash_map::RandomState::new().hash_one(attempt);
    std::thread::sleep(Duration::from_micros(jitter % ceiling_us + 1));
}
