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
//! A value is cached only if no change to it arrived between the ticket taken before its read
//! and its insertion (checked under the lock that changes take too): a read that may predate a
//! change is used once and not kept, so an acknowledged change is never undone by a read that
//! was in flight, on one node or several.
//!
//! Must not: decide what an entry means (that is the use-cases'), or hold material of a key
//! that was dropped.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
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

/// How many slots a table's change marks are kept in: a key's changes are told apart from
/// other keys' but for hash collisions (which only cost a read not cached).
const KEY_SLOTS: usize = 1024;

/// Cached entries, and for each slot of their hashes the count of changes when one of its
/// entries last changed. Both under one lock, which is what makes "no change to this entry
/// arrived while it was read" and its insertion one step.
struct Table<K, T, const SLOTS: usize> {
    entries: HashMap<K, Entry<T>>,
    changed: Box<[u64; SLOTS]>,
}

impl<K: Hash + Eq, T, const SLOTS: usize> Default for Table<K, T, SLOTS> {
    fn default() -> Self {
        Table {
            entries: HashMap::new(),
            changed: Box::new([0; SLOTS]),
        }
    }
}

fn slot<K: Hash, const SLOTS: usize>(k: &K) -> usize {
    if SLOTS == 1 {
        return 0;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    k.hash(&mut h);
    (h.finish() % SLOTS as u64) as usize
}

impl<K: Hash + Eq, T, const SLOTS: usize> Table<K, T, SLOTS> {
    /// Inserts what a read begun at `ticket` produced, unless a change to it arrived since
    /// the ticket: then the read may predate the change, and caching it would serve the old
    /// value after the change was acknowledged (the next use reads the store again).
    fn insert(&mut self, k: K, value: T, ticket: Ticket) {
        if self.changed[slot::<K, SLOTS>(&k)] > ticket.changes {
            return;
        }
        if self.entries.len() >= CACHE_CAPACITY {
            self.entries.clear();
        }
        let loaded_at = ticket.started;
        self.entries.insert(k, Entry { value, loaded_at });
    }

    /// Marks `k` changed as change number `n` (a read begun before is not cached).
    fn mark(&mut self, k: &K, n: u64) {
        self.changed[slot::<K, SLOTS>(k)] = n;
    }

    /// Marks `k` changed as change number `n` and drops it.
    fn changed(&mut self, k: &K, n: u64) {
        self.mark(k, n);
        self.entries.remove(k);
    }

    /// Marks everything changed as change number `n` and drops it.
    fn all_changed(&mut self, n: u64) {
        self.changed.fill(n);
        self.entries.clear();
    }
}

#[derive(Default)]
pub(super) struct Caches {
    keys: RwLock<Table<KeyId, Arc<LoadedKey>, KEY_SLOTS>>,
    /// Any alias change drops them all, so one slot.
    aliases: RwLock<Table<(Scope, AliasName), KeyId, 1>>,
    /// Changes delivered so far (own writes and the feed's), counted under the lock of the
    /// table they change.
    changes: AtomicU64,
    coherence: Option<Coherence>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches")
            .field("keys", &self.keys.read().entries.len())
            .field("aliases", &self.aliases.read().entries.len())
            .field("coherence", &self.coherence)
            .finish()
    }
}

impl Caches {
    pub(super) fn new(coherence: Option<Coherence>) -> Self {
        Caches {
            coherence,
            ..Default::default()
        }
    }

    /// Whether an entry may be used: always without a coherence bound (this node's own
    /// writes drop what they change); with one, while it was read less than the bound ago or
    /// the feed, which would have dropped it had it changed, has delivered every change
    /// committed up to less than the bound ago.
    fn fresh<T>(&self, e: &Entry<T>) -> bool {
        let Some(c) = &self.coherence else {
            return true;
        };
        let Some(cutoff) = Instant::now().checked_sub(c.bound) else {
            return true;
        };
        e.loaded_at > cutoff
            || c.feed
                .as_ref()
                .and_then(|f| f.delivered_through())
                .is_some_and(|t| t > cutoff)
    }

    /// Whether a coherence bound is configured (other nodes share the store).
    pub(super) fn bounded(&self) -> bool {
        self.coherence.is_some()
    }

    pub(super) fn ticket(&self) -> Ticket {
        Ticket {
            changes: self.changes.load(Ordering::Acquire),
            started: Instant::now(),
        }
    }

    pub(super) fn key(&self, id: &KeyId) -> Lookup<Arc<LoadedKey>> {
        match self.keys.read().entries.get(id) {
            Some(e) if self.fresh(e) => Lookup::Fresh(e.value.clone()),
            Some(e) => Lookup::Stale(e.value.clone()),
            None => Lookup::Missing,
        }
    }

    /// The cached key if it may be used as it is (for listings, which read the store
    /// otherwise).
    pub(super) fn fresh_key(&self, id: &KeyId) -> Option<Arc<LoadedKey>> {
        match self.key(id) {
            Lookup::Fresh(k) => Some(k),
            _ => None,
        }
    }

    pub(super) fn put_key(&self, id: KeyId, key: Arc<LoadedKey>, ticket: Ticket) {
        self.keys.write().insert(id, key, ticket);
    }

    pub(super) fn has_key(&self, id: &KeyId) -> bool {
        self.keys.read().entries.contains_key(id)
    }

    /// Replaces the cached key `id` by what `f` makes of it (keeping the entry's freshness),
    /// or drops it if `f` returns `None`: a change of this node's own, so a read begun before
    /// it is not cached over it.
    pub(super) fn update_key(&self, id: &KeyId, f: impl FnOnce(&LoadedKey) -> Option<LoadedKey>) {
        let mut keys = self.keys.write();
        keys.mark(id, self.changes.fetch_add(1, Ordering::AcqRel) + 1);
        let Some(entry) = keys.entries.get_mut(id) else {
            return;
        };
        match f(&entry.value) {
            Some(next) => entry.value = Arc::new(next),
            None => {
                keys.entries.remove(id);
            }
        }
    }

    pub(super) fn alias(&self, scope: &Scope, name: &AliasName) -> Option<KeyId> {
        self.aliases
            .read()
            .entries
            .get(&(scope.clone(), name.clone()))
            .filter(|e| self.fresh(e))
            .map(|e| e.value)
    }

    pub(super) fn put_alias(&self, scope: Scope, name: AliasName, id: KeyId, ticket: Ticket) {
        self.aliases.write().insert((scope, name), id, ticket);
    }

    pub(super) fn apply(&self, change: &Change) {
        // Counted under the table's lock: an insertion either sees this change (and is not
        // made, its read may predate it) or happened before it (and is dropped here).
        let next = || self.changes.fetch_add(1, Ordering::AcqRel) + 1;
        match change {
            Change::Key(id) => {
                let mut keys = self.keys.write();
                keys.changed(id, next());
            }
            Change::Aliases => {
                let mut aliases = self.aliases.write();
                aliases.all_changed(next());
            }
            Change::Everything => {
                let mut keys = self.keys.write();
                let mut aliases = self.aliases.write();
                let n = next();
                keys.all_changed(n);
                aliases.all_changed(n);
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
    fn a_value_read_while_its_change_arrived_is_not_cached() {
        // Without a coherence bound (one node) an entry lives until its next change, so one
        // cached from a read that predates a change would be served for good.
        let c = Caches::new(None);
        let (old, new) = (KeyId::generate(), KeyId::generate());
        let ticket = c.ticket();
        // UpdateAlias commits and applies its change while the read is in flight.
        c.apply(&Change::Aliases);
        c.put_alias(scope(), name(), old, ticket);
        assert_eq!(
            c.alias(&scope(), &name()),
            None,
            "the old target was cached"
        );
        // A read begun after the change is cached.
        c.put_alias(scope(), name(), new, c.ticket());
        assert_eq!(c.alias(&scope(), &name()), Some(new));
        // With a bound and a live feed too: the feed would vouch for it otherwise.
        let feed = Arc::new(Feed::default());
        let c = Caches::new(Some(Coherence {
            bound: BOUND,
            feed: Some(feed.clone()),
        }));
        let ticket = c.ticket();
        c.apply(&Change::Everything);
        c.put_alias(scope(), name(), old, ticket);
        *feed.0.lock() = Some(Instant::now());
        assert_eq!(c.alias(&scope(), &name()), None);
    }

    #[test]
    fn a_change_to_one_key_does_not_keep_another_from_being_cached() {
        let mut t: Table<u64, u64, KEY_SLOTS> = Table::default();
        let (a, b) = (
            1u64,
            (0..)
                .find(|k| slot::<u64, KEY_SLOTS>(k) != slot::<u64, KEY_SLOTS>(&1))
                .unwrap(),
        );
        let ticket = Ticket {
            started: Instant::now(),
            changes: 0,
        };
        t.changed(&a, 1);
        t.insert(b, 7, ticket);
        t.insert(a, 7, ticket);
        assert!(
            t.entries.contains_key(&b),
            "another key's change kept it out"
        );
        assert!(
            !t.entries.contains_key(&a),
            "a read that may predate its change was cached"
        );
        // Inserted before the change, dropped by it.
        let later = Ticket {
            changes: 1,
            ..ticket
        };
        t.insert(a, 8, later);
        assert!(t.entries.contains_key(&a));
        t.changed(&a, 2);
        assert!(!t.entries.contains_key(&a));
    }
}
