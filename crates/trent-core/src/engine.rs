//! The use-cases: what each operation does to keys, independent of any wire format.
//!
//! Owns: resolving the four key reference forms, applying the state table before every
//! operation that names a key, compare-and-set writes with bounded retry, the in-memory cache of
//! decrypted key material (so cryptographic operations never touch the database), scheduled
//! deletion (lazily on access and by [`Kms::sweep`]).
//!
//! Must not: log or return key material or plaintext except as the documented result of an
//! operation; render wire errors.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use parking_lot::RwLock;

use trent_crypto::asymmetric::{self, PrivateKey};
use trent_crypto::mac::MacKey;
use trent_crypto::{AeadKey, SecretBytes};

use crate::audit::{AuditEvent, AuditHook, AuditPage, AuditQuery};
use crate::blob::{self, EncryptionContext};
use crate::clock::Clock;
use crate::error::{KmsError, NotFound};
use crate::ids::{AliasName, KeyId, KeyRef, Scope};
use crate::model::*;
use crate::principal::Identity;
use crate::state::{self, Dialect, KeyOp};
use crate::store::{Change, Store, StoreError, Write};
use crate::striped;

/// How often a write is tried before giving up on a key that other nodes keep changing. Writers
/// in this process queue per key ([`writers::WriteLocks`]) and never race each other; with the
/// jittered backoff these attempts span over a second of another node's continuous writes.
const MAX_WRITE_ATTEMPTS: usize = 32;
/// AWS's quota of tags per key.
pub const MAX_TAGS: usize = 50;

/// Who is calling, as established by authentication.
#[derive(Debug, Clone)]
pub struct Caller {
    pub scope: Scope,
    pub access_key_id: String,
    /// The principal the credential acts as, and its identity policy.
    pub identity: Arc<Identity>,
    /// Which vendor's rules apply where the vendors differ (state-table cells, transitions).
    pub dialect: Dialect,
    /// Where the request came from (`aws:SourceIp`, `aws:SecureTransport`).
    pub connection: Connection,
    /// The request's audit record, which commits with any change the request makes (see
    /// [`crate::audit`]); `None` when the trail is off.
    pub audit: Option<Arc<dyn AuditHook>>,
}

/// The connection a request arrived on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Connection {
    pub source_ip: Option<std::net::IpAddr>,
    /// Whether the request came over TLS.
    pub secure: bool,
}

mod asymmetric_ops;
mod cache;
mod gate;
mod grants;
mod import;
mod multi_region;
mod reseal;
mod rotation;
mod seed;
mod usage;
mod writers;

pub use asymmetric_ops::DataKeyPair;
pub use cache::Coherence;
use cache::{Caches, Lookup};
pub use gate::Facts;
pub use grants::{
    check_grant_tokens, CreatedGrant, GrantEntry, NewGrant, MAX_GRANTS_PER_KEY, MAX_GRANT_TOKENS,
};
pub use import::{ImportParameters, ImportRequest};
pub use multi_region::NewReplica;
pub use reseal::{reseal_key, ResealError};
pub use rotation::{KeyMaterialEntry, RotationStatus, DEFAULT_ROTATION_PERIOD_DAYS};
pub use seed::{SeedApplied, SeedError, SeedExport, SeedKey};
pub use usage::KeyLastUsage;

/// One version of a key's material, opened and prepared for its kind of cryptography.
#[derive(Debug)]
enum Material {
    Aead(AeadKey),
    /// Boxed: aws-lc's prepared HMAC state is over a kilobyte.
    Mac(Box<MacKey>),
    Private(PrivateKey),
}

/// A key in memory: its record and its material, opened and prepared. Dropped (and the key
/// structures freed by aws-lc, which cleanses them) when evicted or invalidated.
#[derive(Debug)]
pub struct LoadedKey {
    pub record: KeyRecord,
    /// Shared, so a view of the key without some of its material (expired, not yet swept)
    /// costs no unsealing.
    materials: Vec<(u32, Arc<Material>)>,
    /// When the key was last used; outlives this copy of the key (see [`usage`]).
    usage: Arc<usage::UsageCell>,
    /// The key policy, parsed.
    policy: gate::KeyPolicy,
    /// The record's ARN, formatted once rather than per request.
    arn: String,
}

impl LoadedKey {
    fn new(
        record: KeyRecord,
        materials: Vec<(u32, Arc<Material>)>,
        usage: Arc<usage::UsageCell>,
        policy: gate::KeyPolicy,
    ) -> Self {
        LoadedKey {
            arn: record.arn(),
            record,
            materials,
            usage,
            policy,
        }
    }

    pub fn arn(&self) -> String {
        self.arn.clone()
    }

    fn material(&self, version: u32) -> Option<&Material> {
        self.materials
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, m)| m.as_ref())
    }

    fn cipher(&self, version: u32) -> Option<&AeadKey> {
        match self.material(version) {
            Some(Material::Aead(c)) => Some(c),
            _ => None,
        }
    }

    /// The material new operations use. Usable keys always have it; a missing one is an
    /// internal inconsistency.
    fn current(&self) -> Result<(u32, &Material), KmsError> {
        let version = self
            .record
            .meta
            .current_material
            .ok_or_else(|| KmsError::internal("usable key without current material"))?;
        let material = self
            .material(version)
            .ok_or_else(|| KmsError::internal("current material version missing"))?;
        Ok((version, material))
    }

    /// The public key (DER SubjectPublicKeyInfo) of an asymmetric key with material.
    pub fn public_key_der(&self) -> Option<&[u8]> {
        match self.current() {
            Ok((_, Material::Private(k))) => Some(k.public_key_der()),
            _ => None,
        }
    }
}

/// Fresh material for a key of `spec`: AES-256 for symmetric keys, HMAC material as long as the
/// hash output, a PKCS#8 private key for asymmetric keys.
fn generate_material(spec: KeySpec) -> Result<SecretBytes, KmsError> {
    match spec.kind() {
        KeyKind::Symmetric => Ok(SecretBytes::random(trent_crypto::AES_256_KEY_LEN)?),
        KeyKind::Hmac(_) => Ok(SecretBytes::random(
            spec.hmac_material_len()
                .unwrap_or(trent_crypto::AES_256_KEY_LEN),
        )?),
        KeyKind::Asymmetric(pair) => Ok(asymmetric::generate_private_key(pair)?),
        KeyKind::Unsupported => Err(unsupported_spec(spec)),
    }
}

/// Prepares opened material for use; fails if it is not material of `spec`.
fn prepare_material(
    spec: KeySpec,
    material: &SecretBytes,
) -> Result<Material, trent_crypto::CryptoError> {
    match spec.kind() {
        KeyKind::Symmetric => AeadKey::new(material).map(Material::Aead),
        KeyKind::Hmac(alg) => Ok(Material::Mac(Box::new(MacKey::new(alg.hash(), material)))),
        KeyKind::Asymmetric(pair) => {
            PrivateKey::from_pkcs8(pair, material.expose()).map(Material::Private)
        }
        KeyKind::Unsupported => Err(trent_crypto::CryptoError),
    }
}

fn unsupported_spec(spec: KeySpec) -> KmsError {
    KmsError::UnsupportedOperation(format!("KeySpec {spec} is not supported by this server."))
}

/// What CreateKey takes, already decoded and checked for shape by the dialect.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub description: String,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsage,
    pub origin: Origin,
    pub policy: Option<String>,
    pub tags: Vec<(String, String)>,
    pub multi_region: bool,
    pub bypass_policy_lockout_safety_check: bool,
}

/// A page of results and the marker for the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_marker: Option<String>,
}

impl<T> Page<T> {
    /// A page from up to `limit + 1` items in order: the extra one, if there, only says that
    /// more follow, and the marker is the last item kept.
    fn from_overfetch(mut items: Vec<T>, limit: usize, marker: impl Fn(&T) -> String) -> Self {
        let next_marker = if items.len() > limit {
            items.truncate(limit);
            items.last().map(marker)
        } else {
            None
        };
        Page { items, next_marker }
    }
}

/// Result of a decryption.
#[derive(Debug)]
pub struct Decrypted {
    pub plaintext: SecretBytes,
    pub key: Arc<LoadedKey>,
}

/// Result of a re-encryption.
#[derive(Debug)]
pub struct ReEncrypted {
    pub ciphertext: Vec<u8>,
    pub source: Arc<LoadedKey>,
    pub destination: Arc<LoadedKey>,
}

/// Result of a data-key generation.
#[derive(Debug)]
pub struct DataKey {
    pub plaintext: SecretBytes,
    pub ciphertext: Vec<u8>,
    pub key: Arc<LoadedKey>,
}

/// The engine. Cheap to share (`Arc<Kms>`); all methods take `&self`.
#[derive(Debug)]
pub struct Kms {
    store: Arc<dyn Store>,
    root: AeadKey,
    clock: Arc<dyn Clock>,
    caches: Caches,
    /// Parsed key policies by key, with a fingerprint of the text they were parsed from.
    policies: RwLock<HashMap<KeyId, (u64, gate::KeyPolicy)>>,
    /// The ARNs of the users and roles the configuration names: the principals of Trent's
    /// accounts that a key policy may name.
    principals: HashSet<String>,
    usage: usage::Registry,
    /// When this engine started tracking key use (for keys made before tracking existed).
    started: Timestamp,
    /// Read-modify-writes of one key queue here (see [`writers`]).
    key_writers: writers::WriteLocks,
    /// The same for aliases; a separate set, so holding an alias's stripe never blocks on a
    /// key's.
    alias_writers: writers::WriteLocks,
    cache_hits: striped::Counter,
    cache_misses: striped::Counter,
}

/// How often a key was found opened in the cache, and how often it had to be read and unsealed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

/// Associated data sealing one material version at rest: binds it to its key and version.
/// Every copy of a multi-Region key (one id, several Regions) opens the same sealed bytes.
pub fn material_aad(id: &KeyId, version: u32) -> Vec<u8> {
    let mut aad = if id.is_multi_region() {
        b"trent/key-material/mrk/v1/".to_vec()
    } else {
        b"trent/key-material/v1/".to_vec()
    };
    aad.extend_from_slice(id.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

/// The default key policy AWS attaches when CreateKey has none.
pub fn default_policy(scope: &Scope) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": scope.root_principal()},
            "Action": "kms:*",
            "Resource": "*"
        }]
    }))
    .unwrap_or_default()
}

/// The only key policy name AWS has.
pub const POLICY_NAME: &str = "default";

impl Kms {
    pub fn new(store: Arc<dyn Store>, root: AeadKey, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            root,
            started: clock.now(),
            clock,
            caches: Caches::new(None),
            policies: RwLock::new(HashMap::new()),
            principals: HashSet::new(),
            usage: RwLock::new(HashMap::new()),
            key_writers: Default::default(),
            alias_writers: Default::default(),
            cache_hits: Default::default(),
            cache_misses: Default::default(),
        }
    }

    /// Key-cache counters since start (striped: one increment per key load).
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            hits: self.cache_hits.get(),
            misses: self.cache_misses.get(),
        }
    }

    /// Names the users and roles that exist (the configured principals), so key policies may
    /// name them.
    pub fn with_principals(mut self, arns: impl IntoIterator<Item = String>) -> Self {
        self.principals = arns.into_iter().collect();
        self
    }

    /// Makes the caches follow changes committed by other nodes sharing the store, within
    /// `coherence.bound` (see [`Coherence`]). Without it, only this node's writes invalidate.
    pub fn with_coherence(mut self, coherence: Coherence) -> Self {
        self.caches = Caches::new(Some(coherence));
        self
    }

    /// The invalidation hook: a change another node committed, from the store's change feed.
    pub fn apply_change(&self, change: &Change) {
        self.caches.apply(change);
    }

    /// Whether other nodes may change keys behind this node's cache (a coherence bound is
    /// configured).
    pub(super) fn shares_store(&self) -> bool {
        self.caches.bounded()
    }

    /// Whether the store answers now (for health checks).
    pub fn ping_store(&self) -> Result<(), StoreError> {
        self.store.ping()
    }

    /// See [`Store::claim_nonce`]; `now` in Unix seconds.
    pub fn claim_nonce(&self, digest: &[u8; 16], until: i64, now: i64) -> Result<bool, StoreError> {
        self.store.claim_nonce(digest, until, now)
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Commits a change a caller makes, with the caller's audit record in the same batch, so
    /// that the change and its record are durable together or not at all.
    fn commit(&self, caller: &Caller, mut writes: Vec<Write>) -> Result<(), StoreError> {
        let hook = with_record(caller, &mut writes);
        self.store.commit(writes)?;
        if let Some(h) = hook {
            h.committed();
        }
        Ok(())
    }

    /// [`Kms::commit`] without waiting: `done` gets the result once the writes (and the
    /// request's record) are durable.
    fn commit_then(
        &self,
        caller: &Caller,
        mut writes: Vec<Write>,
        done: impl FnOnce(Result<(), StoreError>) + Send + 'static,
    ) {
        let hook = with_record(caller, &mut writes).cloned();
        self.store.commit_then(
            writes,
            Box::new(move |result| {
                if let (Ok(()), Some(h)) = (&result, hook) {
                    h.committed();
                }
                done(result)
            }),
        )
    }

    // ----- the audit trail ----------------------------------------------------------------

    /// Commits a request's records on their own (a request that changed nothing), in one batch
    /// through the group commit, without waiting: `done` gets the result once they are durable
    /// (or refused).
    pub fn record_audit_then(
        &self,
        events: Vec<AuditEvent>,
        done: impl FnOnce(Result<(), KmsError>) + Send + 'static,
    ) {
        self.store.commit_then(
            events.into_iter().map(Write::Audit).collect(),
            Box::new(move |result| done(result.map_err(KmsError::from))),
        )
    }

    /// Looks records of `region` up (the caller's account is the query's; the dialect checked
    /// it), examining at most about `scan` records ([`crate::audit::lookup_in_region`]).
    pub fn audit_lookup(
        &self,
        query: &AuditQuery,
        region: &str,
        scan: usize,
    ) -> Result<AuditPage, KmsError> {
        Ok(crate::audit::lookup_in_region(
            self.store.as_ref(),
            query,
            region,
            scan,
        )?)
    }

    /// Prunes records older than `before` (retention); returns how many were removed.
    pub fn prune_audit(&self, before: Timestamp) -> Result<u64, KmsError> {
        Ok(self.store.audit_prune(before)?)
    }

    // ----- resolution and caching -------------------------------------------------------

    /// Keys never cross regions: an ARN of another region is refused naming that region, as AWS
    /// does. Other accounts' keys are reached by ARN; the gate decides whether the caller may
    /// use them.
    fn scoped(&self, caller: &Caller, scope: &Scope) -> Result<(), KmsError> {
        if scope.region != caller.scope.region {
            Err(KmsError::NotFound(NotFound::OtherRegion {
                region: scope.region.0.clone(),
            }))
        } else {
            Ok(())
        }
    }

    /// Turns any key reference into the key id it names, for an answer about a key the
    /// caller was just admitted to (another account's caller learns nothing here that the
    /// gate did not let it learn).
    pub fn resolve(&self, caller: &Caller, key: &KeyRef) -> Result<KeyId, KmsError> {
        self.resolve_scoped(caller, key).map(|(_, id)| id)
    }

    /// [`Kms::resolve`] before any admission: another account's missing key or alias is
    /// refused for `op` as one the caller may not use.
    pub fn resolve_for(&self, caller: &Caller, key: &KeyRef, op: KeyOp) -> Result<KeyId, KmsError> {
        self.resolve_admissible(caller, key, op, &Facts::default())
            .map(|(_, id)| id)
    }

    /// The scope (account and region) and id of the key a reference names. Alias names and
    /// key ids are the caller's own; ARNs may name another account's.
    fn resolve_scoped(&self, caller: &Caller, key: &KeyRef) -> Result<(Scope, KeyId), KmsError> {
        match key {
            KeyRef::Id(id) => Ok((caller.scope.clone(), *id)),
            KeyRef::KeyArn { scope, id } => {
                self.scoped(caller, scope)?;
                Ok((scope.clone(), *id))
            }
            KeyRef::Alias(name) => Ok((
                caller.scope.clone(),
                self.alias_target(&caller.scope, name)?,
            )),
            KeyRef::AliasArn { scope, name } => {
                self.scoped(caller, scope)?;
                Ok((scope.clone(), self.alias_target(scope, name)?))
            }
        }
    }

    fn alias_target(&self, scope: &Scope, name: &AliasName) -> Result<KeyId, KmsError> {
        if let Some(id) = self.caches.alias(scope, name) {
            return Ok(id);
        }
        let ticket = self.caches.ticket();
        let alias = self.store.get_alias(scope, name)?.ok_or_else(|| {
            KmsError::NotFound(NotFound::Alias {
                arn: scope.alias_arn(name),
            })
        })?;
        self.caches
            .put_alias(scope.clone(), name.clone(), alias.target, ticket);
        Ok(alias.target)
    }

    fn is_deleted(&self, record: &KeyRecord, now: Timestamp) -> bool {
        record.meta.state == KeyState::PendingDeletion
            && record.meta.deletion_date.is_some_and(|d| d <= now)
    }

    /// A key's stored record, for a write at `now`; one past its deletion date is gone.
    fn stored_key(&self, scope: &Scope, id: &KeyId, now: Timestamp) -> Result<KeyRecord, KmsError> {
        self.store
            .get_key(scope, id)?
            .filter(|r| !self.is_deleted(r, now))
            .ok_or_else(|| {
                KmsError::NotFound(NotFound::Key {
                    arn: scope.key_arn(id),
                })
            })
    }

    /// Loads a key for use, from the cache or the store. A key past its deletion date is gone.
    fn load(&self, scope: &Scope, id: &KeyId) -> Result<Arc<LoadedKey>, KmsError> {
        self.load_with(scope, id, false)
    }

    /// [`Kms::load`], revalidating a cached copy against the store however fresh it is.
    pub(super) fn reload(&self, scope: &Scope, id: &KeyId) -> Result<Arc<LoadedKey>, KmsError> {
        self.load_with(scope, id, true)
    }

    fn load_with(
        &self,
        scope: &Scope,
        id: &KeyId,
        revalidate: bool,
    ) -> Result<Arc<LoadedKey>, KmsError> {
        note_key(scope, id);
        let not_found = || {
            KmsError::NotFound(NotFound::Key {
                arn: scope.key_arn(id),
            })
        };
        let now = self.now();
        // The cache holds one copy per id: a multi-Region key's copy in another Region is a
        // miss here (and is replaced), never that key.
        let cached = match self.caches.key(id) {
            Lookup::Fresh(k) | Lookup::Stale(k) if k.record.scope != *scope => Lookup::Missing,
            Lookup::Fresh(k) if revalidate => Lookup::Stale(k),
            other => other,
        };
        let loaded = match cached {
            Lookup::Fresh(k) => {
                self.cache_hits.inc();
                k
            }
            stale_or_missing => {
                self.cache_misses.inc();
                let ticket = self.caches.ticket();
                let record = self.store.get_key(scope, id)?.ok_or_else(not_found)?;
                let loaded = match stale_or_missing {
                    // Revalidated: the same row version keeps its opened material.
                    Lookup::Stale(k) if k.record == record => k,
                    _ => Arc::new(self.open_materials(record)?),
                };
                self.caches.put_key(*id, loaded.clone(), ticket);
                loaded
            }
        };
        if loaded.record.scope != *scope || self.is_deleted(&loaded.record, now) {
            return Err(not_found());
        }
        if import::material_expired(&loaded.record, now) {
            // Expired imported material is gone from the moment ValidTo passes; the sweeper
            // makes that durable, until then every reader sees the key without it.
            let mut record = loaded.record.clone();
            import::expire_materials(&mut record, now);
            let materials = loaded
                .materials
                .iter()
                .filter(|(v, _)| record.is_imported(*v))
                .cloned()
                .collect();
            return Ok(Arc::new(LoadedKey::new(
                record,
                materials,
                loaded.usage.clone(),
                loaded.policy.clone(),
            )));
        }
        Ok(loaded)
    }

    /// The spec of a key, if it exists: only for deciding where an operation takes its key
    /// from, never returned to a caller.
    fn peek_spec(&self, scope: &Scope, id: &KeyId) -> Option<KeySpec> {
        self.load(scope, id).ok().map(|k| k.record.meta.key_spec)
    }

    fn open_materials(&self, record: KeyRecord) -> Result<LoadedKey, KmsError> {
        let mut materials = Vec::with_capacity(record.materials.len());
        for m in &record.materials {
            let material = self
                .root
                .open(&material_aad(&record.id, m.version), &m.sealed)?;
            materials.push((
                m.version,
                Arc::new(prepare_material(record.meta.key_spec, &material)?),
            ));
        }
        let policy = self.key_policy(&record);
        let usage = self.usage_cell(&record);
        Ok(LoadedKey::new(record, materials, usage, policy))
    }

    fn seal_material(
        &self,
        id: &KeyId,
        version: u32,
        material: &SecretBytes,
    ) -> Result<SealedMaterial, KmsError> {
        Ok(SealedMaterial {
            version,
            sealed: self
                .root
                .seal(&material_aad(id, version), material.expose())?,
        })
    }

    fn invalidate_key(&self, id: &KeyId) {
        self.caches.apply(&Change::Key(*id));
    }

    fn invalidate_aliases(&self) {
        self.caches.apply(&Change::Aliases);
    }

    /// Admits `op` on a key with no request facts beyond the key.
    fn usable(&self, caller: &Caller, key: &KeyRef, op: KeyOp) -> Result<Arc<LoadedKey>, KmsError> {
        self.admit_key(caller, key, op, &Facts::default())
    }

    /// Read-modify-write of one key with compare-and-set and bounded retry, admitted by the
    /// gate first and decided again on every fresh copy. `change` sees a fresh copy each
    /// attempt; if it leaves the metadata unchanged nothing is written.
    fn modify<R>(
        &self,
        caller: &Caller,
        key: &KeyRef,
        op: KeyOp,
        facts: &Facts<'_>,
        mut change: impl FnMut(&mut KeyRecord, Timestamp) -> Result<R, KmsError>,
    ) -> Result<(R, KeyRecord), KmsError> {
        let admitted = self.admit_key(caller, key, op, facts)?;
        let id = admitted.record.id;
        let scope = &admitted.record.scope;
        let _queued = self.key_writers.lock(&id);
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            if attempt > 0 {
                writers::backoff(attempt);
            }
            let now = self.now();
            let mut current = self.stored_key(scope, &id, now)?;
            // A write after ValidTo passed starts from the key without its expired material
            // (and so also makes the expiry durable).
            import::expire_materials(&mut current, now);
            self.decide_stored(caller, op, &current, facts)?;
            let mut next = current.clone();
            let out = change(&mut next, now)?;
            if next.meta == current.meta && next.materials == current.materials {
                return Ok((out, current));
            }
            next.version = current.version + 1;
            let mut writes = vec![Write::UpdateKey {
                record: next.clone(),
                expected_version: current.version,
            }];
            writes.extend(self.copy_writes(&current, &next)?);
            match self.commit(caller, writes) {
                Ok(()) => {
                    self.invalidate_key(&id);
                    return Ok((out, next));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(KmsError::Contention)
    }

    // ----- key lifecycle ----------------------------------------------------------------

    pub fn create_key(&self, caller: &Caller, new: NewKey) -> Result<KeyRecord, KmsError> {
        let record = self.new_key(caller, new)?;
        self.commit(caller, vec![Write::InsertKey(record.clone())])?;
        Ok(record)
    }

    /// [`Kms::create_key`] without waiting for the commit: `done` gets the key once it is
    /// durable (or the error), possibly on the store's writer thread, so an async caller awaits
    /// a one-shot reply instead of holding a thread. The key is generated on the calling
    /// thread: callers keep slow specs ([`KeySpec::slow_to_generate`]) off async workers.
    pub fn create_key_then(
        &self,
        caller: &Caller,
        new: NewKey,
        done: impl FnOnce(Result<KeyRecord, KmsError>) + Send + 'static,
    ) {
        match self.new_key(caller, new) {
            Err(e) => done(Err(e)),
            Ok(record) => self.commit_then(
                caller,
                vec![Write::InsertKey(record.clone())],
                move |result| done(result.map(|()| record).map_err(KmsError::from)),
            ),
        }
    }

    /// A new key as CreateKey makes it, checked and ready to insert.
    fn new_key(&self, caller: &Caller, new: NewKey) -> Result<KeyRecord, KmsError> {
        let facts = Facts {
            key_spec: Some(new.key_spec),
            key_usage: Some(new.key_usage),
            origin: Some(new.origin),
            multi_region: Some(new.multi_region),
            tags: (!new.tags.is_empty()).then_some(new.tags.as_slice()),
            bypass_lockout: Some(new.bypass_policy_lockout_safety_check),
            ..Facts::default()
        };
        self.admit(caller, KeyOp::CreateKey, None, &facts)?;
        if !new.tags.is_empty() {
            // AWS: tagging at creation needs kms:TagResource too.
            self.admit(caller, KeyOp::TagResource, None, &facts)?;
        }
        if new.key_spec.kind() == KeyKind::Unsupported {
            return Err(unsupported_spec(new.key_spec));
        }
        if !new.key_spec.usages().contains(&new.key_usage) {
            return Err(KmsError::Validation(format!(
                "KeyUsage {} is not compatible with KeySpec {}",
                new.key_usage, new.key_spec
            )));
        }
        if !matches!(new.origin, Origin::AwsKms | Origin::External) {
            return Err(KmsError::UnsupportedOperation(format!(
                "Origin {} is not supported by this server.",
                new.origin
            )));
        }
        let tags = merge_tags(&BTreeMap::new(), &new.tags)?;
        let parsed = new
            .policy
            .as_deref()
            .map(|p| self.checked_policy(caller, &caller.scope, p))
            .transpose()?
            .flatten();
        let policy = new
            .policy
            .clone()
            .unwrap_or_else(|| default_policy(&caller.scope));
        let id = if new.multi_region {
            KeyId::generate_multi_region()
        } else {
            KeyId::generate()
        };
        let now = self.now();
        note_key(&caller.scope, &id);
        let (state, materials, current_material) = match new.origin {
            Origin::External => (KeyState::PendingImport, vec![], None),
            _ => {
                let material = generate_material(new.key_spec)?;
                (
                    KeyState::Enabled,
                    vec![self.seal_material(&id, 1, &material)?],
                    Some(1),
                )
            }
        };
        let record = KeyRecord {
            id,
            scope: caller.scope.clone(),
            version: 1,
            meta: KeyMeta {
                description: new.description,
                key_spec: new.key_spec,
                key_usage: new.key_usage,
                origin: new.origin,
                state,
                created_at: now,
                deletion_date: None,
                pending_window_days: None,
                policy,
                tags,
                current_material,
                multi_region: new.multi_region,
                multi_region_set: new.multi_region.then(|| MultiRegionSet {
                    primary: caller.scope.region.0.clone(),
                    replicas: vec![],
                }),
                imports: vec![],
                last_material_version: current_material.unwrap_or(0),
                rotation: Rotation::default(),
                deletion_protection: None,
                usage: UsageTracking {
                    since: Some(now),
                    last: None,
                },
                grants: vec![],
            },
            materials,
        };
        if let Some(parsed) = &parsed {
            if !new.bypass_policy_lockout_safety_check {
                self.lockout_check(caller, &record, parsed)?;
            }
        }
        Ok(record)
    }

    pub fn describe_key(&self, caller: &Caller, key: &KeyRef) -> Result<Arc<LoadedKey>, KmsError> {
        self.usable(caller, key, KeyOp::DescribeKey)
    }

    pub fn list_keys(
        &self,
        caller: &Caller,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<KeyRecordRef>, KmsError> {
        self.admit(caller, KeyOp::ListKeys, None, &Facts::default())?;
        let mut cursor = marker
            .map(|m| KeyId::parse(m).ok_or(KmsError::InvalidMarker))
            .transpose()?;
        let now = self.now();
        let mut items: Vec<KeyRecordRef> = Vec::with_capacity(limit);
        // Keys past their deletion date may stay in the store until the sweeper runs; they
        // are skipped, and more are fetched so the page stays full.
        loop {
            let batch = self
                .store
                .list_keys(&caller.scope, cursor.as_ref(), limit + 1)?;
            let exhausted = batch.len() <= limit;
            for id in batch {
                if items.len() == limit {
                    let next_marker = items.last().map(|k| k.id.to_string());
                    return Ok(Page { items, next_marker });
                }
                cursor = Some(id);
                let cached = self
                    .caches
                    .fresh_key(&id)
                    .map(|k| k.record.clone())
                    .filter(|r| r.scope == caller.scope);
                let record = match cached {
                    Some(r) => Some(r),
                    None => self.store.get_key(&caller.scope, &id)?,
                };
                if let Some(r) = record.filter(|r| !self.is_deleted(r, now)) {
                    items.push(KeyRecordRef { id, arn: r.arn() });
                }
            }
            if exhausted {
                return Ok(Page {
                    items,
                    next_marker: None,
                });
            }
        }
    }

    pub fn enable_key(&self, caller: &Caller, key: &KeyRef) -> Result<KeyRecord, KmsError> {
        self.set_state(
            caller,
            key,
            KeyOp::EnableKey,
            KeyState::Enabled,
            &Facts::default(),
        )
    }

    pub fn disable_key(&self, caller: &Caller, key: &KeyRef) -> Result<KeyRecord, KmsError> {
        let facts = Facts {
            usage_days: true,
            ..Facts::default()
        };
        self.set_state(caller, key, KeyOp::DisableKey, KeyState::Disabled, &facts)
    }

    fn set_state(
        &self,
        caller: &Caller,
        key: &KeyRef,
        op: KeyOp,
        to: KeyState,
        facts: &Facts<'_>,
    ) -> Result<KeyRecord, KmsError> {
        let ((), record) = self.modify(caller, key, op, facts, |r, _| {
            r.meta.state = to;
            Ok(())
        })?;
        Ok(record)
    }

    /// Schedules deletion after `window_days` (the dialect has checked its range).
    pub fn schedule_key_deletion(
        &self,
        caller: &Caller,
        key: &KeyRef,
        window_days: u32,
    ) -> Result<KeyRecord, KmsError> {
        let facts = Facts {
            pending_window_days: Some(window_days),
            usage_days: true,
            ..Facts::default()
        };
        let ((), record) =
            self.modify(caller, key, KeyOp::ScheduleKeyDeletion, &facts, |r, now| {
                // The one place deletion protection is enforced, for callers of either dialect;
                // checked after the state table, so a key already pending deletion answers as such.
                if r.meta.deletion_protection.is_some() {
                    return Err(KmsError::DeletionProtected { arn: r.arn() });
                }
                // AWS keeps a multi-Region primary with replicas: it waits, unusable, in
                // PendingReplicaDeletion, and its waiting period starts when its last replica
                // is deleted.
                let has_replicas = r.multi_region_type() == Some(MultiRegionKeyType::Primary)
                    && r.meta
                        .multi_region_set
                        .as_ref()
                        .is_some_and(|s| !s.replicas.is_empty());
                if has_replicas {
                    r.meta.state = KeyState::PendingReplicaDeletion;
                    r.meta.deletion_date = None;
                } else {
                    r.meta.state = KeyState::PendingDeletion;
                    r.meta.deletion_date = Some(now.plus_days(window_days));
                }
                r.meta.pending_window_days = Some(window_days);
                Ok(())
            })?;
        Ok(record)
    }

    pub fn cancel_key_deletion(
        &self,
        caller: &Caller,
        key: &KeyRef,
    ) -> Result<KeyRecord, KmsError> {
        let ((), record) = self.modify(
            caller,
            key,
            KeyOp::CancelKeyDeletion,
            &Facts::default(),
            |r, _| {
                r.meta.state =
                    state::cancel_deletion_target(caller.dialect, r.meta.origin, r.has_material());
                r.meta.deletion_date = None;
                r.meta.pending_window_days = None;
                Ok(())
            },
        )?;
        Ok(record)
    }

    pub fn update_key_description(
        &self,
        caller: &Caller,
        key: &KeyRef,
        description: String,
    ) -> Result<(), KmsError> {
        self.modify(
            caller,
            key,
            KeyOp::UpdateKeyDescription,
            &Facts::default(),
            |r, _| {
                r.meta.description = description.clone();
                Ok(())
            },
        )?;
        Ok(())
    }

    /// Turns deletion protection on (with its description) or off (`None`).
    pub fn set_deletion_protection(
        &self,
        caller: &Caller,
        key: &KeyRef,
        protection: Option<DeletionProtection>,
    ) -> Result<(), KmsError> {
        self.modify(
            caller,
            key,
            KeyOp::SetDeletionProtection,
            &Facts::default(),
            |r, _| {
                r.meta.deletion_protection = protection.clone();
                Ok(())
            },
        )?;
        Ok(())
    }

    /// Does whatever is due: destroys keys whose deletion date has passed, deletes imported
    /// material whose ValidTo has passed, rotates keys whose rotation date has come. Safe to run
    /// on several nodes at once (each write names the version it saw; a loser skips the key,
    /// which the winner has handled). Returns how many keys it changed.
    pub fn sweep(&self, limit: usize) -> Result<usize, KmsError> {
        let now = self.now();
        let mut changed = 0;
        let mut destroyed = false;
        for (scope, id) in self.store.keys_due(now, limit)? {
            let Some(record) = self.store.get_key(&scope, &id)? else {
                continue;
            };
            let writes = if self.is_deleted(&record, now) {
                destroyed = true;
                let mut writes = vec![Write::DeleteKey {
                    scope,
                    id,
                    expected_version: record.version,
                }];
                writes.extend(self.after_copy_deleted(&record, now)?);
                writes
            } else {
                let mut next = record.clone();
                self.do_due_work(&mut next, now)?;
                if next == record {
                    continue;
                }
                next.version = record.version + 1;
                let mut writes = vec![Write::UpdateKey {
                    record: next.clone(),
                    expected_version: record.version,
                }];
                writes.extend(self.copy_writes(&record, &next)?);
                writes
            };
            match self.store.commit(writes) {
                Ok(()) => changed += 1,
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
            self.invalidate_key(&id);
        }
        if destroyed {
            self.invalidate_aliases();
        }
        Ok(changed)
    }

    /// The scheduled work due on a key that is not being destroyed.
    fn do_due_work(&self, record: &mut KeyRecord, now: Timestamp) -> Result<(), KmsError> {
        import::expire_materials(record, now);
        self.rotate_if_due(record, now)
    }

    // ----- cryptography -----------------------------------------------------------------

    fn require_symmetric(
        key: &LoadedKey,
        op: &str,
        algorithm: EncryptionAlgorithm,
    ) -> Result<(), KmsError> {
        let r = &key.record;
        if r.meta.key_usage != KeyUsage::EncryptDecrypt {
            return Err(KmsError::InvalidKeyUsage(format!(
                "{} key usage is {} which is not valid for {op}.",
                r.arn(),
                r.meta.key_usage
            )));
        }
        if r.meta.key_spec != KeySpec::SymmetricDefault
            || algorithm != EncryptionAlgorithm::SymmetricDefault
        {
            return Err(KmsError::InvalidKeyUsage(format!(
                "Algorithm {algorithm} is incompatible with key spec {}.",
                r.meta.key_spec
            )));
        }
        Ok(())
    }

    fn seal(
        key: &LoadedKey,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KmsError> {
        let (version, Material::Aead(cipher)) = key.current()? else {
            return Err(KmsError::internal("symmetric key without AES material"));
        };
        let header = blob::header(&key.record.id, version);
        let sealed = cipher.seal(&blob::associated_data(&header, context), plaintext)?;
        Ok(blob::encode(&header, &sealed))
    }

    pub fn encrypt(
        &self,
        caller: &Caller,
        key: &KeyRef,
        plaintext: &[u8],
        context: &EncryptionContext,
        algorithm: EncryptionAlgorithm,
    ) -> Result<(Vec<u8>, Arc<LoadedKey>), KmsError> {
        let facts = Facts {
            encryption_context: Some(context),
            encryption_algorithm: Some(algorithm),
            ..Facts::default()
        };
        let loaded = self.admit_key(caller, key, KeyOp::Encrypt, &facts)?;
        let blob = Self::encrypt_with(&loaded, "Encrypt", plaintext, context, algorithm)?;
        self.note_use(&loaded, KeyOp::Encrypt);
        Ok((blob, loaded))
    }

    pub fn decrypt(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        key: Option<&KeyRef>,
        context: &EncryptionContext,
        algorithm: EncryptionAlgorithm,
    ) -> Result<Decrypted, KmsError> {
        let out = self.open(
            caller,
            ciphertext,
            key,
            context,
            algorithm,
            KeyOp::Decrypt,
            "Decrypt",
            None,
        )?;
        self.note_use(&out.key, KeyOp::Decrypt);
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn open(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        key: Option<&KeyRef>,
        context: &EncryptionContext,
        algorithm: EncryptionAlgorithm,
        op: KeyOp,
        op_name: &str,
        same_key: Option<bool>,
    ) -> Result<Decrypted, KmsError> {
        if key.is_none() && algorithm.oaep().is_some() {
            // Raw RSA ciphertext does not say which key made it.
            return Err(KmsError::Validation(format!(
                "KeyId is required to decrypt with EncryptionAlgorithm {algorithm}."
            )));
        }
        let facts = Facts {
            encryption_context: Some(context),
            encryption_algorithm: Some(algorithm),
            same_key,
            ..Facts::default()
        };
        if let Some(loaded) = self.named_asymmetric(caller, key, op, &facts)? {
            // A ciphertext of ours names the key that made it: a named key that did not make
            // it is the wrong key, whatever its usage (AWS checks this before the usage).
            let ours = blob::decode(ciphertext);
            if loaded.record.meta.key_usage != KeyUsage::EncryptDecrypt
                && ours.is_some_and(|b| b.key_id != loaded.record.id)
            {
                return Err(KmsError::IncorrectKey);
            }
            let plaintext =
                Self::decrypt_asymmetric(&loaded, op_name, ciphertext, context, algorithm)?;
            return Ok(Decrypted {
                plaintext,
                key: loaded,
            });
        }
        let parsed = blob::decode(ciphertext).ok_or(KmsError::InvalidCiphertext)?;
        // Decided on the key the ciphertext names; a named key must be that key (and may be
        // another account's, by ARN).
        let recorded = KeyRef::Id(parsed.key_id);
        let target = match key {
            Some(named) => {
                if self.resolve_admissible(caller, named, op, &facts)?.1 != parsed.key_id {
                    // Another account's key is the wrong one only for a caller it admits (its
                    // state aside); anyone else learns nothing of it.
                    if gate::is_foreign(caller, named) {
                        if let Err(e @ KmsError::AccessDenied(_)) =
                            self.admit_key(caller, named, op, &facts)
                        {
                            return Err(e);
                        }
                    }
                    return Err(KmsError::IncorrectKey);
                }
                named
            }
            None => &recorded,
        };
        let loaded = match self.admit_key(caller, target, op, &facts) {
            Ok(k) => k,
            Err(KmsError::NotFound(_)) => return Err(KmsError::CiphertextKeyInaccessible),
            Err(e) => return Err(e),
        };
        Self::require_symmetric(&loaded, op_name, algorithm)?;
        let header = blob::header(&parsed.key_id, parsed.material_version);
        let cipher = loaded
            .cipher(parsed.material_version)
            .ok_or(KmsError::InvalidCiphertext)?;
        let plaintext = cipher
            .open(&blob::associated_data(&header, context), parsed.sealed)
            .map_err(|_| KmsError::InvalidCiphertext)?;
        Ok(Decrypted {
            plaintext,
            key: loaded,
        })
    }

    /// Decrypts under the source key and encrypts under the destination, without the plaintext
    /// leaving the server. Returns the new blob, the source key and the destination key.
    #[allow(clippy::too_many_arguments)]
    pub fn re_encrypt(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        source_key: Option<&KeyRef>,
        source_context: &EncryptionContext,
        source_algorithm: EncryptionAlgorithm,
        destination_key: &KeyRef,
        destination_context: &EncryptionContext,
        destination_algorithm: EncryptionAlgorithm,
    ) -> Result<ReEncrypted, KmsError> {
        // kms:ReEncryptOnSameKey: the destination against the source key the request names,
        // or else the key the ciphertext names.
        let destination_facts = Facts {
            encryption_context: Some(destination_context),
            encryption_algorithm: Some(destination_algorithm),
            ..Facts::default()
        };
        let (to_scope, to_id) = self.resolve_admissible(
            caller,
            destination_key,
            KeyOp::ReEncryptTo,
            &destination_facts,
        )?;
        let from = match source_key {
            Some(named) => self.resolve_scoped(caller, named).ok(),
            None => blob::decode(ciphertext).map(|b| (caller.scope.clone(), b.key_id)),
        };
        let same_key = Some(from.is_some_and(|(scope, id)| scope == to_scope && id == to_id));
        let facts = Facts {
            same_key,
            ..destination_facts
        };
        let destination = self.admit_key(caller, destination_key, KeyOp::ReEncryptTo, &facts)?;
        // The destination is checked before anything is decrypted.
        Self::check_encryption(
            &destination,
            "ReEncrypt",
            destination_context,
            destination_algorithm,
        )?;
        let source = self.open(
            caller,
            ciphertext,
            source_key,
            source_context,
            source_algorithm,
            KeyOp::ReEncryptFrom,
            "ReEncrypt",
            same_key,
        )?;
        let ciphertext = Self::encrypt_with(
            &destination,
            "ReEncrypt",
            source.plaintext.expose(),
            destination_context,
            destination_algorithm,
        )?;
        // Each key records the use, as AWS's does.
        self.note_use(&source.key, KeyOp::ReEncryptFrom);
        self.note_use(&destination, KeyOp::ReEncryptTo);
        Ok(ReEncrypted {
            ciphertext,
            source: source.key,
            destination,
        })
    }

    /// A fresh data key of `len` bytes, returned in plaintext and encrypted under `key`.
    pub fn generate_data_key(
        &self,
        caller: &Caller,
        key: &KeyRef,
        len: usize,
        context: &EncryptionContext,
        op: KeyOp,
    ) -> Result<DataKey, KmsError> {
        let facts = Facts {
            encryption_context: Some(context),
            encryption_algorithm: Some(EncryptionAlgorithm::SymmetricDefault),
            ..Facts::default()
        };
        let loaded = self.admit_key(caller, key, op, &facts)?;
        let op_name = match op {
            KeyOp::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
            _ => "GenerateDataKey",
        };
        Self::require_symmetric(&loaded, op_name, EncryptionAlgorithm::SymmetricDefault)?;
        let plaintext = SecretBytes::random(len)?;
        let ciphertext = Self::seal(&loaded, plaintext.expose(), context)?;
        self.note_use(&loaded, op);
        Ok(DataKey {
            plaintext,
            ciphertext,
            key: loaded,
        })
    }

    pub fn generate_random(&self, caller: &Caller, len: usize) -> Result<SecretBytes, KmsError> {
        self.admit(caller, KeyOp::GenerateRandom, None, &Facts::default())?;
        Ok(SecretBytes::random(len)?)
    }

    // ----- aliases ----------------------------------------------------------------------

    pub fn create_alias(
        &self,
        caller: &Caller,
        name: AliasName,
        target: &KeyRef,
    ) -> Result<(), KmsError> {
        reject_reserved(&name)?;
        let facts = Facts {
            alias: Some(&name),
            ..Facts::default()
        };
        let target = self.admit_key(caller, target, KeyOp::CreateAlias, &facts)?;
        let now = self.now();
        let alias = AliasRecord {
            scope: caller.scope.clone(),
            name: name.clone(),
            target: target.record.id,
            created_at: now,
            updated_at: now,
        };
        match self.commit(caller, vec![Write::InsertAlias(alias)]) {
            Ok(()) => Ok(()),
            Err(StoreError::AliasExists) => Err(KmsError::AlreadyExists(format!(
                "An alias with the name {} already exists",
                caller.scope.alias_arn(&name)
            ))),
            Err(e) => Err(e.into()),
        }
    }

    fn existing_alias(&self, caller: &Caller, name: &AliasName) -> Result<AliasRecord, KmsError> {
        self.store.get_alias(&caller.scope, name)?.ok_or_else(|| {
            KmsError::NotFound(NotFound::Alias {
                arn: caller.scope.alias_arn(name),
            })
        })
    }

    /// Read-modify-write of one existing alias with compare-and-set on its target and bounded
    /// retry: `change` sees the alias as it is now and returns the write to make.
    fn modify_alias(
        &self,
        caller: &Caller,
        name: &AliasName,
        mut change: impl FnMut(&AliasRecord) -> Result<Write, KmsError>,
    ) -> Result<(), KmsError> {
        reject_reserved(name)?;
        let _queued = self.alias_writers.lock(&(&caller.scope, name));
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            if attempt > 0 {
                writers::backoff(attempt);
            }
            let current = self.existing_alias(caller, name)?;
            match self.commit(caller, vec![change(&current)?]) {
                Ok(()) => {
                    self.invalidate_aliases();
                    return Ok(());
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(KmsError::Contention)
    }

    /// Points an alias at another key. Only the destination key's state matters; the caller
    /// needs kms:UpdateAlias on the alias, the destination key and the current one.
    pub fn update_alias(
        &self,
        caller: &Caller,
        name: AliasName,
        target: &KeyRef,
    ) -> Result<(), KmsError> {
        reject_reserved(&name)?;
        let facts = Facts {
            alias: Some(&name),
            ..Facts::default()
        };
        let destination = self.admit_key(caller, target, KeyOp::UpdateAlias, &facts)?;
        self.modify_alias(caller, &name, |current| {
            let old = self.admit_key(
                caller,
                &KeyRef::Id(current.target),
                KeyOp::UpdateAliasCurrent,
                &Facts::default(),
            );
            match old {
                Ok(old) => {
                    let (o, d) = (&old.record.meta, &destination.record.meta);
                    if o.key_spec != d.key_spec || o.key_usage != d.key_usage {
                        return Err(KmsError::Validation(format!(
                            "{} key usage and key spec must match those of the current target key.",
                            destination.arn()
                        )));
                    }
                }
                // Destroyed meanwhile (its aliases go with it): the alias's own compare-and-set
                // settles that. A refusal is final: moving an alias away from a key needs
                // kms:UpdateAlias on that key too, or a caller could redirect an alias others
                // encrypt with to a key of their own.
                Err(KmsError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            Ok(Write::RetargetAlias {
                alias: AliasRecord {
                    target: destination.record.id,
                    updated_at: self.now(),
                    ..current.clone()
                },
                expected_target: current.target,
            })
        })
    }

    pub fn delete_alias(&self, caller: &Caller, name: AliasName) -> Result<(), KmsError> {
        let facts = Facts {
            alias: Some(&name),
            ..Facts::default()
        };
        self.modify_alias(caller, &name, |current| {
            // The alias and its key; an alias whose key is gone needs only the alias.
            match self.admit(
                caller,
                KeyOp::DeleteAlias,
                Some(&KeyRef::Id(current.target)),
                &facts,
            ) {
                Err(KmsError::NotFound(_)) => {
                    self.admit(caller, KeyOp::DeleteAlias, None, &facts)?;
                }
                other => {
                    other?;
                }
            }
            Ok(Write::DeleteAlias {
                scope: caller.scope.clone(),
                name: name.clone(),
                expected_target: current.target,
            })
        })
    }

    pub fn list_aliases(
        &self,
        caller: &Caller,
        key: Option<&KeyRef>,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<AliasRecord>, KmsError> {
        let target = self
            .admit(caller, KeyOp::ListAliases, key, &Facts::default())?
            .map(|k| k.record.id);
        let after = marker
            .map(|m| AliasName::parse(m).map_err(|_| KmsError::InvalidMarker))
            .transpose()?;
        let items =
            self.store
                .list_aliases(&caller.scope, target.as_ref(), after.as_ref(), limit + 1)?;
        Ok(Page::from_overfetch(items, limit, |a| a.name.0.clone()))
    }

    // ----- tags -------------------------------------------------------------------------

    pub fn tag_resource(
        &self,
        caller: &Caller,
        key: &KeyRef,
        tags: &[(String, String)],
    ) -> Result<(), KmsError> {
        let facts = Facts {
            tags: Some(tags),
            ..Facts::default()
        };
        self.modify(caller, key, KeyOp::TagResource, &facts, |r, _| {
            r.meta.tags = merge_tags(&r.meta.tags, tags)?;
            Ok(())
        })?;
        Ok(())
    }

    pub fn untag_resource(
        &self,
        caller: &Caller,
        key: &KeyRef,
        tag_keys: &[String],
    ) -> Result<(), KmsError> {
        let facts = Facts {
            tag_keys: Some(tag_keys),
            ..Facts::default()
        };
        self.modify(caller, key, KeyOp::UntagResource, &facts, |r, _| {
            for k in tag_keys {
                r.meta.tags.remove(k);
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Removes every tag of a key (Alibaba's UntagResources with `All`): an UntagResource of
    /// the tag keys the key has, so that policies on which tags may be removed
    /// (`aws:TagKeys`) decide it as they would naming them. A tag added meanwhile stays.
    pub fn untag_all(&self, caller: &Caller, key: &KeyRef) -> Result<(), KmsError> {
        // Read without deciding anything: the gate decides on the untagging below, and
        // answers for a key that cannot be read. Another account's key is not read at all
        // (the gate refuses it before looking it up, and its tags must not reach the facts
        // that refusal is decided on).
        let tag_keys: Vec<String> = if gate::is_foreign(caller, key) {
            Vec::new()
        } else {
            self.resolve_scoped(caller, key)
                .and_then(|(scope, id)| self.load(&scope, &id))
                .map(|k| k.record.meta.tags.keys().cloned().collect())
                .unwrap_or_default()
        };
        self.untag_resource(caller, key, &tag_keys)
    }

    pub fn list_resource_tags(
        &self,
        caller: &Caller,
        key: &KeyRef,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<(String, String)>, KmsError> {
        let loaded = self.usable(caller, key, KeyOp::ListResourceTags)?;
        let tags = &loaded.record.meta.tags;
        if marker.is_some_and(|m| !tags.contains_key(m)) {
            return Err(KmsError::InvalidMarker);
        }
        let items: Vec<(String, String)> = tags
            .iter()
            .filter(|(k, _)| marker.is_none_or(|m| k.as_str() > m))
            .take(limit + 1)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Page::from_overfetch(items, limit, |(k, _)| k.clone()))
    }

    // ----- key policies -----------------------------------------------------------------

    pub fn get_key_policy(
        &self,
        caller: &Caller,
        key: &KeyRef,
        name: &str,
    ) -> Result<String, KmsError> {
        check_policy_name(name)?;
        Ok(self
            .usable(caller, key, KeyOp::GetKeyPolicy)?
            .record
            .meta
            .policy
            .clone())
    }

    pub fn put_key_policy(
        &self,
        caller: &Caller,
        key: &KeyRef,
        name: &str,
        policy: String,
        bypass_lockout: bool,
    ) -> Result<(), KmsError> {
        check_policy_name(name)?;
        let facts = Facts {
            bypass_lockout: Some(bypass_lockout),
            ..Facts::default()
        };
        self.modify(caller, key, KeyOp::PutKeyPolicy, &facts, |r, _| {
            if let Some(parsed) = self.checked_policy(caller, &r.scope, &policy)? {
                if !bypass_lockout {
                    self.lockout_check(caller, r, &parsed)?;
                }
            }
            r.meta.policy = policy.clone();
            Ok(())
        })?;
        Ok(())
    }

    pub fn list_key_policies(
        &self,
        caller: &Caller,
        key: &KeyRef,
    ) -> Result<Vec<String>, KmsError> {
        self.usable(caller, key, KeyOp::ListKeyPolicies)?;
        Ok(vec![POLICY_NAME.to_owned()])
    }
}

/// A key id and ARN, as ListKeys returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecordRef {
    pub id: KeyId,
    pub arn: String,
}

/// Names the key an operation acts on in the current span, when the span has a `key_arn` field
/// (the server's request span, for its log line). Costs nothing when no span wants it.
///
/// One operation may load its key more than once (admission, then a write and its retries), and
/// a log formatter appends every recorded value, so a key already noted in this span is skipped.
/// Adds the request's audit record to its writes, so that it commits with them; the hook to
/// tell once they are durable.
fn with_record<'a>(caller: &'a Caller, writes: &mut Vec<Write>) -> Option<&'a Arc<dyn AuditHook>> {
    let hook = caller.audit.as_ref();
    if let Some(h) = hook {
        let records = h.record_for(writes);
        writes.extend(records.into_iter().map(Write::Audit));
    }
    hook
}

fn note_key(scope: &Scope, id: &KeyId) {
    thread_local! {
        static NOTED: std::cell::Cell<Option<(tracing::Id, KeyId)>> = const { std::cell::Cell::new(None) };
    }
    let span = tracing::Span::current();
    if !span.has_field("key_arn") {
        return;
    }
    let this = span.id().map(|s| (s, *id));
    let seen = NOTED.with(|n| {
        let last = n.take();
        let seen = last.is_some() && last == this;
        n.set(this);
        seen
    });
    if !seen {
        span.record("key_arn", scope.key_arn(id));
    }
}

fn reject_reserved(name: &AliasName) -> Result<(), KmsError> {
    if name.is_reserved() {
        return Err(KmsError::ReservedAlias {
            name: name.0.clone(),
        });
    }
    Ok(())
}

fn check_policy_name(name: &str) -> Result<(), KmsError> {
    if name == POLICY_NAME {
        Ok(())
    } else {
        Err(KmsError::NotFound(NotFound::Policy {
            name: name.to_owned(),
        }))
    }
}

/// Applies new tags over existing ones with AWS's rules: no `aws:` prefix, no duplicate keys in
/// one request, at most [`MAX_TAGS`] per key.
fn merge_tags(
    existing: &BTreeMap<String, String>,
    new: &[(String, String)],
) -> Result<BTreeMap<String, String>, KmsError> {
    let mut seen = std::collections::HashSet::new();
    let mut tags = existing.clone();
    for (k, v) in new {
        // AWS refuses the prefix in any case (`AWS:`, `Aws:`).
        if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(KmsError::Tag(
                "Tags beginning with aws: are reserved".into(),
            ));
        }
        if !seen.insert(k.as_str()) {
            return Err(KmsError::Tag("Duplicate tag keys".into()));
        }
        tags.insert(k.clone(), v.clone());
    }
    if tags.len() > MAX_TAGS {
        return Err(KmsError::Tag("Too many tags".into()));
    }
    Ok(tags)
}
