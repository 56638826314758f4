//! The engine's caches of opened keys and alias targets, and how they stay true to changes
//! committed by other nodes sharing the store.
//!
//! A node's own writes drop what they change. Changes committed elsewhere arrive through the
//! backend's change feed ([`Kms::apply_change`](super::Kms::apply_change)); with a
//! [`Coherence`] bound configured, an entry is used only while it is provably fresh: read from
//! the store less than `bound` ago, or followed by a feed that has delivered every change
//! committed up to less than `bound` ago. Otherwise it is revalidated (a key whose row version
//! is unchanged keeps its opened material). So a dead or lagging feed costs a re-read per key
//! per `bound`, never a stale key beyond it.
//!
//! Must not: decide what an entry means (that is the use-cases'), or hold material of a key
//! that was dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use super::LoadedKey;
use crate::ids::{AliasName, KeyId, Scope};
use crate::store::{Change, ChangeFeed};

/// Cached entries beyond this many are dropped wholesale (simple and bounded; misses are cheap).
pub(super) const CACHE_CAPACITY: usize = 100_000;

/// How the caches follow changes committed by other nodes (see the module documentation).
#[derive(Debug, Clone)]
pub struct Coherence {
    /// A change committed on any node is seen here within this bound.
    pub bound: Duration,
    /// The backend's change feed, if it has one.
    pub feed: Option<Arc<dyn ChangeFeed>>,
}

struct Entry<T> {
    value: T,
    /// When the store read that produced the value began.
    loaded_at: Instant,
    /// Whether the change feed delivered nothing between that read and the insertion, so
    /// that the feed would have dropped this entry had it changed since.
    followed: bool,
}

/// Taken before reading the store for an entry, handed back to insert it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket {
    started: Instant,
    changes: u64,
}

/// A cached key and whether it may be used as it is.
pub(super) enum Lookup<T> {
    Fresh(T),
    /// Possibly stale: revalidate before use.
    Stale(T),
    Missing,
}

#[derive(Default)]
pub(super) struct Caches {
    keys: RwLock<HashMap<KeyId, Entry<Arc<LoadedKey>>>>,
    aliases: RwLock<HashMap<(Scope, AliasName), Entry<KeyId>>>,
    /// Changes delivered so far (own writes and the feed's).
    changes: AtomicU64,
    coherence: Option<Coherence>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches")
            .field("keys", &self.keys.read().len())
            .field("aliases", &self.aliases.read().len())
            .field("coherence", &self.coherence)
            .finish()
    }
}

fn insert<K: std::hash::Hash + Eq, T>(map: &RwLock<HashMap<K, Entry<T>>>, k: K, e: Entry<T>) {
    let mut map = map.write();
    if map.len() >= CACHE_CAPACITY {
        map.clear();
    }
    map.insert(k, e);
}

impl Caches {
    pub(super) fn new(coherence: Option<Coherence>) -> Self {
        Caches {
            coherence,
            ..Default::default()
        }
    }

    fn fresh<T>(&self, e: &Entry<T>) -> bool {
        let Some(c) = &self.coherence else {
            return true;
        };
        let Some(cutoff) = Instant::now().checked_sub(c.bound) else {
            return true;
        };
        e.loaded_at > cutoff
            || (e.followed
                && c.feed
                    .as_ref()
                    .and_then(|f| f.delivered_through())
                    .is_some_and(|t| t > cutoff))
    }

    pub(super) fn ticket(&self) -> Ticket {
        Ticket {
            changes: self.changes.load(Ordering::Acquire),
            started: Instant::now(),
        }
    }

    fn entry<T>(&self, value: T, ticket: Ticket) -> Entry<T> {
        Entry {
            value,
            loaded_at: ticket.started,
            followed: self.changes.load(Ordering::Acquire) == ticket.changes,
        }
    }

    pub(super) fn key(&self, id: &KeyId) -> Lookup<Arc<LoadedKey>> {
        match self.keys.read().get(id) {
            Some(e) if self.fresh(e) => Lookup::Fresh(e.value.clone()),
            Some(e) => Lookup::Stale(e.value.clone()),
            None => Lookup::Missing,
        }
    }

    /// The cached record of a key, fresh or not (for listings, which show only ids and ARNs).
    pub(super) fn any_key(&self, id: &KeyId) -> Option<Arc<LoadedKey>> {
        self.keys.read().get(id).map(|e| e.value.clone())
    }

    pub(super) fn put_key(&self, id: KeyId, key: Arc<LoadedKey>, ticket: Ticket) {
        insert(&self.keys, id, self.entry(key, ticket));
    }

    pub(super) fn has_key(&self, id: &KeyId) -> bool {
        self.keys.read().contains_key(id)
    }

    /// Replaces the cached key `id` by what `f` makes of it (keeping the entry's freshness),
    /// or drops it if `f` returns `None`.
    pub(super) fn update_key(&self, id: &KeyId, f: impl FnOnce(&LoadedKey) -> Option<LoadedKey>) {
        let mut keys = self.keys.write();
        let Some(entry) = keys.get_mut(id) else {
            return;
        };
        match f(&entry.value) {
            Some(next) => entry.value = Arc::new(next),
            None => {
                keys.remove(id);
            }
        }
    }

    pub(super) fn alias(&self, scope: &Scope, name: &AliasName) -> Option<KeyId> {
        self.aliases
            .read()
            .get(&(scope.clone(), name.clone()))
            .filter(|e| self.fresh(e))
            .map(|e| e.value)
    }

    pub(super) fn put_alias(&self, scope: Scope, name: AliasName, id: KeyId, ticket: Ticket) {
        insert(&self.aliases, (scope, name), self.entry(id, ticket));
    }

    pub(super) fn apply(&self, change: &Change) {
        // Counted first: a read in flight now must not be taken as followed by the feed.
        self.changes.fetch_add(1, Ordering::AcqRel);
        match change {
            Change::Key(id) => {
                self.keys.write().remove(id);
            }
            Change::Aliases => self.aliases.write().clear(),
            Change::Everything => {
                self.keys.write().clear();
                self.aliases.write().clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Feed(parking_lot::Mutex<Option<Instant>>);

    impl ChangeFeed for Feed {
        fn delivered_through(&self) -> Option<Instant> {
            *self.0.lock()
        }
    }

    fn scope() -> Scope {
        Scope::new("111111111111", "us-east-1")
    }

    fn name() -> AliasName {
        AliasName("alias/x".into())
    }

    const BOUND: Duration = Duration::from_millis(100);

    #[test]
    fn without_coherence_entries_live_until_invalidated() {
        let c = Caches::new(None);
        let id = KeyId::generate();
        c.put_alias(scope(), name(), id, c.ticket());
        std::thread::sleep(BOUND);
        assert_eq!(c.alias(&scope(), &name()), Some(id));
        c.apply(&Change::Aliases);
        assert_eq!(c.alias(&scope(), &name()), None);
    }

    #[test]
    fn entries_expire_after_the_bound_while_the_feed_is_silent() {
        let feed = Arc::new(Feed::default());
        let c = Caches::new(Some(Coherence {
            bound: BOUND,
            feed: Some(feed.clone()),
        }));
        let id = KeyId::generate();
        c.put_alias(scope(), name(), id, c.ticket());
        assert_eq!(c.alias(&scope(), &name()), Some(id));
        std::thread::sleep(BOUND + Duration::from_millis(20));
        assert_eq!(c.alias(&scope(), &name()), None, "no feed: stale");
        // A live feed keeps a followed entry fresh, however old.
        *feed.0.lock() = Some(Instant::now());
        assert_eq!(c.alias(&scope(), &name()), Some(id));
        // A feed that stops (lost connection) stops vouching after the bound.
        std::thread::sleep(BOUND + Duration::from_millis(20));
        assert_eq!(c.alias(&scope(), &name()), None);
    }

    #[test]
    fn an_entry_read_while_a_change_arrived_is_not_vouched_for_by_the_feed() {
        let feed = Arc::new(Feed::default());
        let c = Caches::new(Some(Coherence {
            bound: BOUND,
            feed: Some(feed.clone()),
        }));
        let id = KeyId::generate();
        let ticket = c.ticket();
        // The feed reports a change while the read is in flight; the read may predate it.
        c.apply(&Change::Key(KeyId::generate()));
        c.put_alias(scope(), name(), id, ticket);
        std::thread::sleep(BOUND + Duration::from_millis(20));
        *feed.0.lock() = Some(Instant::now());
        assert_eq!(c.alias(&scope(), &name()), None);
    }
}
