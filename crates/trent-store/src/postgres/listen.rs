//! The change feed: a connection of its own that `LISTEN`s for the triggers' notifications.
//!
//! Every notification becomes a [`Change`] handed to the engine's cache. A heartbeat round
//! trip every [`HEARTBEAT`] proves the connection alive: notifications committed before a
//! heartbeat was sent have been delivered once its answer arrives (PostgreSQL sends pending
//! notifications before it answers a query), so [`Listener::delivered_through`] is the send
//! time of the last answered heartbeat. If the connection breaks, that instant stops moving
//! and the engine falls back to revalidating cached keys; on reconnection the whole cache is
//! dropped ([`Change::Everything`]), since notifications may have been missed in between.

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;
use trent_core::ids::KeyId;
use trent_core::store::{Change, ChangeFeed};

use super::schema::CHANNEL;

/// The `application_name` of the feed's session.
pub const APPLICATION_NAME: &str = "trent-changes";

/// How often the feed proves its connection alive. Well under the coherence bound.
pub const HEARTBEAT: Duration = Duration::from_millis(200);

/// The state of the change feed, shared with the engine (read on every cached key use, so
/// lock-free).
#[derive(Debug)]
pub struct Listener {
    base: Instant,
    /// Nanoseconds after `base` of the last answered heartbeat's send time; 0: none yet.
    delivered_through: AtomicU64,
}

impl Default for Listener {
    fn default() -> Self {
        Listener {
            base: Instant::now(),
            delivered_through: AtomicU64::new(0),
        }
    }
}

impl Listener {
    fn delivered(&self, sent: Instant) {
        let nanos = u64::try_from(sent.saturating_duration_since(self.base).as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        self.delivered_through.fetch_max(nanos, Ordering::Release);
    }
}

impl ChangeFeed for Listener {
    fn delivered_through(&self) -> Option<Instant> {
        match self.delivered_through.load(Ordering::Acquire) {
            0 => None,
            n => Some(self.base + Duration::from_nanos(n)),
        }
    }
}

fn parse(payload: &str) -> Change {
    match payload.strip_prefix('k').map(hex_id) {
        Some(Some(id)) => Change::Key(id),
        // Alias changes, and anything this build does not understand: drop what may be stale.
        _ if payload == "a" => Change::Aliases,
        _ => Change::Everything,
    }
}

fn hex_id(text: &str) -> Option<KeyId> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..text.len() / 2)
        .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    KeyId::from_storage(&bytes)
}

/// Runs the feed forever, reconnecting after any failure.
pub(super) async fn run(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    listener: Arc<Listener>,
    on_change: Arc<dyn Fn(Change) + Send + Sync>,
    retry_every: Duration,
) {
    let mut connected_before = false;
    loop {
        if let Err(e) = session(&config, tls.clone(), &listener, &on_change).await {
            if connected_before {
                tracing::warn!(error = %e, "postgres change feed lost; revalidating cached keys until it is back");
            } else {
                tracing::debug!(error = %e, "postgres change feed not connected");
            }
        }
        connected_before = true;
        tokio::time::sleep(retry_every.min(Duration::from_millis(500))).await;
    }
}

async fn session(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
    listener: &Listener,
    on_change: &Arc<dyn Fn(Change) + Send + Sync>,
) -> Result<(), String> {
    let (client, mut connection) = config.connect(tls).await.map_err(|e| e.to_string())?;
    let forward = on_change.clone();
    let mut messages = tokio::spawn(async move {
        while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) => forward(parse(n.payload())),
                Ok(_) => {}
                Err(e) => return e.to_string(),
            }
        }
        "connection closed".to_owned()
    });
    let work = async {
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(|e| e.to_string())?;
        // Anything may have changed while nobody listened.
        on_change(Change::Everything);
        loop {
            let sent = Instant::now();
            tokio::time::timeout(HEARTBEAT * 5, client.simple_query("SELECT 1"))
                .await
                .map_err(|_| "heartbeat timed out".to_owned())?
                .map_err(|e| e.to_string())?;
            listener.delivered(sent);
            tokio::time::sleep(HEARTBEAT).await;
        }
    };
    let result = tokio::select! {
        r = work => r,
        ended = &mut messages => Err(ended.unwrap_or_else(|e| e.to_string())),
    };
    messages.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        let id = KeyId::generate();
        let hex: String = id.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse(&format!("k{hex}")), Change::Key(id));
        let mrk = KeyId::generate_multi_region();
        let hex: String = mrk
            .storage_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(parse(&format!("k{hex}")), Change::Key(mrk));
        assert_eq!(parse("a"), Change::Aliases);
        assert_eq!(parse("kzz"), Change::Everything);
        assert_eq!(parse("?"), Change::Everything);
    }
}
