//! Counts that many threads add to without sharing a cache line.
//!
//! Each thread adds to its own stripe and a reader sums the stripes. Per-request counts (request
//! metrics, cache statistics) use these, so that no shared counter sits on the request path: a
//! single atomic that every core increments moves its cache line from core to core on every
//! request, which is the contention that keeps a service from scaling with its cores.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Stripes per value: enough that the threads adding at once rarely share one.
pub const STRIPES: usize = 16;

/// One stripe on a cache line (or two adjacent lines, which some CPUs prefetch together) of its own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// The calling thread's stripe: threads take stripes in turn the first time they count.
pub fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

/// A value kept once per stripe.
#[derive(Debug, Default)]
pub struct Striped<T>([Padded<T>; STRIPES]);

impl<T> Striped<T> {
    /// The calling thread's stripe of the value.
    pub fn local(&self) -> &T {
        let Padded(value) = &self.0[stripe()];
        value
    }

    /// Every stripe, for a reader to sum.
    pub fn stripes(&self) -> impl Iterator<Item = &T> {
        self.0.iter().map(|Padded(value)| value)
    }
}

/// A counter: relaxed adds to the thread's stripe, a sum to read.
pub type Counter = Striped<AtomicU64>;

impl Striped<AtomicU64> {
    pub fn add(&self, n: u64) {
        self.local().fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.stripes().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up() {
        let counter = Counter::default();
        std::thread::scope(|s| {
            for _ in 0..(STRIPES + 3) {
                s.spawn(|| {
                    for _ in 0..1000 {
                        counter.inc();
                    }
                });
            }
        });
        assert_eq!(counter.get(), (STRIPES as u64 + 3) * 1000);
    }

    #[test]
    fn stripes_do_not_share_cache_lines() {
        let striped = Counter::default();
        let addresses: Vec<usize> = striped
            .stripes()
            .map(|c| c as *const AtomicU64 as usize)
            .collect();
        assert!(addresses.windows(2).all(|w| w[1] - w[0] >= 128));
    }
}
