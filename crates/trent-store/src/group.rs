//! Group commit, shared by the backends: one writer thread per store runs every queued batch as
//! one transaction and one durable flush (an fsync for SQLite, a WAL flush for PostgreSQL).
//!
//! Callers enqueue their batch with a reply and either block on it ([`GroupCommit::submit`], for
//! the engine's synchronous write paths) or are called back ([`GroupCommit::submit_then`], so an
//! async request task can await a one-shot channel without holding a blocking-pool thread). The
//! writer thread takes the first queued batch, everything queued behind it (up to
//! [`MAX_GROUP`]), runs them as one transaction and answers each. While a group is being
//! written, the next one queues, so there is one wake-up of the writer per group rather than a
//! hand-off of leadership per request.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use trent_core::store::{Reply, StoreError, Write};

/// Counters of the group commit, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Transactions committed or attempted (each is one durable flush when it commits).
    pub groups: u64,
    /// Batches (`commit` calls) those transactions carried.
    pub batches: u64,
    /// PostgreSQL: transactions committed in one burst (records and new keys sent at once
    /// with their COMMIT, against the chain heads the node expected); the others took the
    /// guarded way. Always 0 on SQLite.
    pub bursts: u64,
}

/// The most batches one transaction takes; the rest wait for the next group.
const MAX_GROUP: usize = 256;

/// One caller's batch and the way back to it.
pub(crate) struct Job {
    pub(crate) writes: Vec<Write>,
    reply: Reply,
    /// When it was queued.
    queued_at: Instant,
}

impl Job {
    /// Whether it has waited longer than `limit` for the writer.
    pub(crate) fn waited_longer_than(&self, limit: Duration) -> bool {
        self.queued_at.elapsed() > limit
    }

    /// Answers the caller with its result. A job dropped unanswered (its group's writer
    /// panicked) leaves the caller with "outcome unknown".
    pub(crate) fn finish(self, result: Result<(), StoreError>) {
        (self.reply)(result)
    }

    /// The group's batches and, in the same order, the ways back to their callers.
    pub(crate) fn split(jobs: Vec<Job>) -> (Vec<Vec<Write>>, Vec<Reply>) {
        jobs.into_iter().map(|j| (j.writes, j.reply)).unzip()
    }
}

#[cfg(test)]
impl Job {
    /// A job outside any queue, and a way to wait for its result.
    pub(crate) fn detached(writes: Vec<Write>) -> (Job, impl FnOnce() -> Result<(), StoreError>) {
        let (reply, wait) = blocking_reply();
        let queued_at = Instant::now();
        (
            Job {
                writes,
                reply,
                queued_at,
            },
            wait,
        )
    }
}

/// A reply that a thread can block on.
fn blocking_reply() -> (Reply, impl FnOnce() -> Result<(), StoreError>) {
    let (tx, rx) = mpsc::sync_channel(1);
    let reply: Reply = Box::new(move |result| {
        let _ = tx.send(result);
    });
    (reply, move || {
        rx.recv().unwrap_or_else(|_| Err(abandoned()))
    })
}

fn abandoned() -> StoreError {
    StoreError::Backend("commit abandoned by the writer (outcome unknown)".into())
}

#[derive(Default)]
struct Counters {
    groups: AtomicU64,
    batches: AtomicU64,
    /// Batches submitted and not yet taken by the writer.
    queued: AtomicUsize,
}

/// Where a writer counts a group it is about to commit, before any of its callers is answered
/// (so that a caller who reads the counts after its answer finds its group counted). A group
/// whose batches are all answered without a transaction is not counted.
pub(crate) struct Tally<'a>(&'a Counters);

impl Tally<'_> {
    /// Counts a group commit of `batches` batches.
    pub(crate) fn trying(&self, batches: usize) {
        self.0.groups.fetch_add(1, Ordering::Relaxed);
        self.0.batches.fetch_add(batches as u64, Ordering::Relaxed);
    }
}

pub(crate) struct GroupCommit {
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("queued", &self.counters.queued.load(Ordering::Relaxed))
            .finish()
    }
}

impl GroupCommit {
    /// Starts the writer thread. `run` is given each group; it must call [`Job::finish`] on
    /// every job it is given (a panic inside it drops the group's jobs, whose callers learn
    /// that the outcome is unknown, and the writer goes on with the next group), and count
    /// the batches it tries to commit with [`Tally::trying`] before answering any.
    pub(crate) fn start(
        name: &str,
        mut run: impl FnMut(Vec<Job>, &Tally) + Send + 'static,
    ) -> Result<GroupCommit, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let writer = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut group = Vec::with_capacity(8);
                    group.push(first);
                    while group.len() < MAX_GROUP {
                        match queue.try_recv() {
                            Ok(job) => group.push(job),
                            Err(_) => break,
                        }
                    }
                    c.queued.fetch_sub(group.len(), Ordering::Relaxed);
                    let tally = Tally(&c);
                    if std::panic::catch_unwind(AssertUnwindSafe(|| run(group, &tally))).is_err() {
                        tracing::error!("store writer: a group commit panicked; its callers are told the outcome is unknown");
                    }
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the store writer: {e}")))?;
        Ok(GroupCommit {
            jobs: Some(jobs),
            writer: Some(writer),
            counters,
        })
    }

    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            groups: self.counters.groups.load(Ordering::Relaxed),
            batches: self.counters.batches.load(Ordering::Relaxed),
            bursts: 0,
        }
    }

    /// Batches waiting for the writer.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.counters.queued.load(Ordering::Relaxed)
    }

    /// Submits `writes` and waits for their result.
    pub(crate) fn submit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let (reply, wait) = blocking_reply();
        self.submit_then(writes, reply);
        wait()
    }

    /// Submits `writes`; `reply` is called with their result from the writer thread (SQLite)
    /// or from the driver's task that ran the group (PostgreSQL).
    pub(crate) fn submit_then(&self, writes: Vec<Write>, reply: Reply) {
        let job = Job {
            writes,
            reply,
            queued_at: Instant::now(),
        };
        let Some(jobs) = &self.jobs else {
            return job.finish(Err(abandoned()));
        };
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        if let Err(mpsc::SendError(job)) = jobs.send(job) {
            self.counters.queued.fetch_sub(1, Ordering::Relaxed);
            job.finish(Err(abandoned()));
        }
    }
}

impl Drop for GroupCommit {
    /// Lets the writer finish what is queued, then waits for it (it owns the write connection,
    /// which must be closed before the store is reopened).
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            if writer.thread().id() != std::thread::current().id() {
                let _ = writer.join();
            }
        }
    }
}
