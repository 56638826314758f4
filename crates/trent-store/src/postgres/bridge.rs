//! The driver's own runtime, and the one way synchronous [`Store`](trent_core::store::Store)
//! calls reach it.
//!
//! `tokio-postgres` is async; the `Store` trait is not, and its callers are of two kinds: the
//! server's async workers (a cache miss on a read) and its blocking pool (writes, the sweeper).
//! Running the driver on the caller's runtime would need `block_on` inside a runtime (a panic)
//! or would let the waiting thread starve the very runtime that must make progress. So the
//! driver has a small multi-thread runtime of its own; a call spawns its future there and
//! waits for the answer: inside `block_in_place` when the caller is a worker of a multi-thread
//! runtime (the runtime moves its other tasks to another worker meanwhile), plainly otherwise.
//! Every call is bounded by the request timeout, so no caller waits forever on a database
//! that does not answer.

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};
use trent_core::store::StoreError;

/// Threads of the driver runtime: they only move bytes between sockets and callers.
const DRIVER_THREADS: usize = 2;

pub(super) struct Bridge {
    runtime: Option<Runtime>,
    handle: Handle,
    timeout: Duration,
}

impl Bridge {
    pub(super) fn new(timeout: Duration) -> Result<Bridge, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(DRIVER_THREADS)
            .thread_name("trent-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("postgres: cannot start driver: {e}")))?;
        Ok(Bridge {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            timeout,
        })
    }

    /// Runs `f` with the driver runtime as the current one (to build what spawns on it).
    pub(super) fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = self.handle.enter();
        f()
    }

    pub(super) fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        self.handle.spawn(fut);
    }

    /// The driver runtime, for the writer thread to run each group on.
    pub(super) fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Runs `fut` on the driver runtime and waits for its result, at most the request timeout.
    pub(super) fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.runner().run(fut)
    }

    /// What [`Bridge::run`] needs, for a thread that outlives no store (schema migration).
    pub(super) fn runner(&self) -> Runner {
        Runner {
            handle: self.handle.clone(),
            timeout: self.timeout,
        }
    }
}

#[derive(Clone)]
pub(super) struct Runner {
    handle: Handle,
    timeout: Duration,
}

impl Runner {
    /// The same runner with another bound on each call.
    pub(super) fn with_timeout(self, timeout: Duration) -> Runner {
        Runner { timeout, ..self }
    }

    /// See [`Bridge::run`].
    pub(super) fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let timeout = self.timeout;
        self.handle.spawn(async move {
            let _ = tx.send(within(timeout, fut).await);
        });
        let wait = move || {
            rx.recv().unwrap_or_else(|_| {
                Err(StoreError::Backend(
                    "postgres: the driver stopped before answering".into(),
                ))
            })
        };
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }
}

/// `fut`'s result, or an error once `timeout` has passed without one.
pub(super) async fn within<T>(
    timeout: Duration,
    fut: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Backend(format!(
                "postgres: no answer within {} ms",
                timeout.as_millis()
            )))
        })
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is forbidden inside another runtime; in the
        // background, it is allowed anywhere.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
