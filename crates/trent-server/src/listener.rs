//! Accepting and serving connections, with every wait bounded.
//!
//! Owns: the connection cap (a connection beyond it waits in the kernel's backlog until one
//! closes, so the process never runs out of file descriptors its store needs), the header-read
//! timeout (a connection that has not delivered a request's headers within it, counted from
//! the connection's start or the end of the previous response, is closed: this is both the
//! idle keep-alive timeout and the bound on a client stalled mid-header), the same bound on a
//! client that stops taking a response's bytes ([`Stalled`]: hyper reads no further request
//! while a response is unwritten, so without it such a client would hold its connection and
//! its slot for ever), and shutdown that finishes within a grace period whatever clients do.
//! Must not look inside requests.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tower::{Service, ServiceExt};

use crate::tls::Tls;

/// The bounds on connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// See the module documentation (also the bound on a response's write that makes no
    /// progress).
    pub header_read_timeout: Duration,
    /// How long shutdown waits for in-flight requests before closing every connection.
    pub shutdown_grace: Duration,
}

/// File descriptors kept for everything but client connections: the store's connections and
/// WAL, the lock file, the runtime, logs.
pub const RESERVED_FDS: u64 = 128;
/// Connections served at once when the open-file limit does not bound them lower.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// The connection cap for an open-file limit: below it by [`RESERVED_FDS`], and never above
/// [`DEFAULT_MAX_CONNECTIONS`] unless configured.
pub fn max_connections_for(open_files: Option<u64>) -> usize {
    match open_files {
        Some(n) => usize::try_from(n.saturating_sub(RESERVED_FDS))
            .unwrap_or(usize::MAX)
            .clamp(1, DEFAULT_MAX_CONNECTIONS),
        None => DEFAULT_MAX_CONNECTIONS,
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets in-flight requests finish
/// for at most `limits.shutdown_grace` and returns.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: Limits,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a little
                    // rather than spin, then go on.
                    tracing::warn!(cause = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = with_peer(&app, peer, tls.is_some());
        let (http, tls, watcher) = (http.clone(), tls.clone(), graceful.watcher());
        // A connection's errors (a client gone, a timeout, a failed handshake) are the
        // client's business. The TLS handshake runs here, in the connection's own task, so a
        // client stalled mid-handshake holds up nobody (and is dropped after its timeout).
        let stream = Stalled::new(stream, limits.header_read_timeout);
        tokio::spawn(async move {
            match tls {
                None => {
                    let _ = watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await;
                }
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => {
                        let _ = watcher
                            .watch(http.serve_connection(TokioIo::new(stream), service))
                            .await;
                    }
                    Err(e) => tracing::debug!(%peer, "{e}"),
                },
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(
                grace_secs = limits.shutdown_grace.as_secs(),
                "connections still open after the shutdown grace period; closing them"
            );
        }
    }
}

/// A connection whose writes fail once they have made no progress for `limit`: the peer
/// stopped reading (its window stays closed). Reads are bounded by hyper's header-read timeout
/// and the body-read timeout.
struct Stalled<T> {
    inner: T,
    limit: Duration,
    /// Armed while a write waits for the peer.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<T> Stalled<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Stalled {
            inner,
            limit,
            deadline: None,
        }
    }

    /// After a write or flush returned `result`: progress disarms the deadline; waiting arms
    /// it, and past it the write fails.
    fn watch<R>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if result.is_ready() {
            self.deadline = None;
            return result;
        }
        let limit = self.limit;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took no response bytes within the timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Stalled<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Stalled<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, result)
    }
}

/// Marks a request that arrived over TLS (`aws:SecureTransport`).
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// The service for one connection: each request carries the peer's address as axum's
/// `ConnectInfo` (for `aws:SourceIp` and the audit record's `sourceIPAddress`), and an
/// [`OverTls`] mark when it came over TLS.
fn with_peer<S: Service<Request<Incoming>> + Clone>(
    app: &S,
    peer: SocketAddr,
    secure: bool,
) -> TowerToHyperService<
    tower::util::MapRequest<S, impl FnMut(Request<Incoming>) -> Request<Incoming> + Clone>,
> {
    TowerToHyperService::new(
        app.clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                if secure {
                    request.extensions_mut().insert(OverTls);
                }
                request
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_below_the_open_file_limit() {
        assert_eq!(
            max_connections_for(Some(1024)),
            1024 - RESERVED_FDS as usize
        );
        assert_eq!(
            max_connections_for(Some(1_048_576)),
            DEFAULT_MAX_CONNECTIONS
        );
        assert_eq!(max_connections_for(Some(10)), 1);
        assert_eq!(max_connections_for(None), DEFAULT_MAX_CONNECTIONS);
    }
}
