//! Group commit, shared by the backends: concurrent `commit` callers share one transaction and
//! one durable flush (an fsync for SQLite, a WAL flush for PostgreSQL).
//!
//! Every caller enqueues its batch. If no leader is active the caller becomes the leader, takes
//! the queued batches (its own first) and runs them as one transaction; the others wait for
//! their own result. When the leader is done it hands leadership to the oldest waiting caller,
//! whose batch then leads the next group together with everything queued meanwhile. Each caller
//! leads at most one group, so no caller's latency grows with the load behind it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use parking_lot::Mutex;
use trent_core::store::{StoreError, Write};

/// Counters of the group commit, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Transactions committed or attempted (each is one durable flush when it commits).
    pub groups: u64,
    /// Batches (`commit` calls) those transactions carried.
    pub batches: u64,
}

/// The most batches one transaction takes; the rest wait for the next group.
const MAX_GROUP: usize = 256;

/// One caller's batch and the way back to it.
pub(crate) struct Job {
    pub(crate) writes: Vec<Write>,
    reply: mpsc::Sender<Signal>,
}

impl Job {
    /// Wakes the caller with its result. A caller that is gone no longer needs it.
    pub(crate) fn finish(self, result: Result<(), StoreError>) {
        let _ = self.reply.send(Signal::Done(result));
    }
}

#[cfg(test)]
impl Job {
    /// A job outside any queue, and a way to wait for its result.
    pub(crate) fn detached(writes: Vec<Write>) -> (Job, impl FnOnce() -> Result<(), StoreError>) {
        let (reply, answer) = mpsc::channel();
        let wait = move || match answer.recv() {
            Ok(Signal::Done(result)) => result,
            Ok(Signal::Lead) | Err(_) => Err(abandoned()),
        };
        (Job { writes, reply }, wait)
    }
}

enum Signal {
    Done(Result<(), StoreError>),
    /// The previous leader is done; the receiver leads the next group.
    Lead,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Invariant: `false` implies `jobs` is empty.
    leader_active: bool,
}

#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Queue>,
    groups: AtomicU64,
    batches: AtomicU64,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = self.queue.lock();
        f.debug_struct("GroupCommit")
            .field("queued", &q.jobs.len())
            .field("leader_active", &q.leader_active)
            .finish()
    }
}

fn abandoned() -> StoreError {
    StoreError::Backend("commit abandoned by the group leader (outcome unknown)".into())
}

impl GroupCommit {
    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            groups: self.groups.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
        }
    }

    /// Batches waiting for a leader.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queue.lock().jobs.len()
    }

    /// Submits `writes` and returns their result. `run` is called (on this thread) if this
    /// caller leads a group; it must call [`Job::finish`] on every job it is given.
    pub(crate) fn submit(
        &self,
        writes: Vec<Write>,
        run: impl FnOnce(Vec<Job>),
    ) -> Result<(), StoreError> {
        let (reply, answer) = mpsc::channel();
        let lead_now = {
            let mut q = self.queue.lock();
            q.jobs.push_back(Job { writes, reply });
            !std::mem::replace(&mut q.leader_active, true)
        };
        if !lead_now {
            match answer.recv() {
                Ok(Signal::Done(result)) => return result,
                Ok(Signal::Lead) => {}
                Err(_) => return Err(abandoned()),
            }
        }
        {
            // Hands leadership on even if `run` unwinds.
            let _handoff = Handoff(self);
            // Our job is at the front: a fresh leader found the queue empty, and leadership is
            // only handed to the front job.
            let group: Vec<Job> = {
                let mut q = self.queue.lock();
                let n = q.jobs.len().min(MAX_GROUP);
                q.jobs.drain(..n).collect()
            };
            self.groups.fetch_add(1, Ordering::Relaxed);
            self.batches
                .fetch_add(group.len() as u64, Ordering::Relaxed);
            run(group);
        }
        match answer.recv() {
            Ok(Signal::Done(result)) => result,
            Ok(Signal::Lead) | Err(_) => Err(abandoned()),
        }
    }
}

struct Handoff<'a>(&'a GroupCommit);

impl Drop for Handoff<'_> {
    fn drop(&mut self) {
        let mut q = self.0.queue.lock();
        while let Some(next) = q.jobs.front() {
            if next.reply.send(Signal::Lead).is_ok() {
                return;
            }
            // The caller stopped waiting (only possible if its thread died); nobody is left to
            // run its batch for or to tell, so drop it.
            q.jobs.pop_front();
        }
        q.leader_active = false;
    }
}
