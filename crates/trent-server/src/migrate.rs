//! `trent migrate --from sqlite://OLD --to postgres://NEW`: copies a whole store (keys with
//! their material, aliases, the root-key check value, the audit trail with its hash chains
//! unchanged) into an empty PostgreSQL database, for a user who outgrows one machine. Verified
//! afterwards by counts, by opening a sample of the copied material with the root key, and by
//! verifying every copied chain against the source's heads.
//!
//! Must not: write into a database that already holds keys (no merging of two stores), or
//! touch the source.

use std::collections::BTreeSet;

use trent_core::audit::{verify_store, ChainHead};
use trent_core::engine::material_aad;
use trent_core::store::{Store, StoreError, Write};
use trent_core::{KeyId, Scope};
use trent_crypto::AeadKey;
use trent_store::postgres::{is_postgres_url, redact};
use trent_store::{PgOptions, PgStore, SqliteStore};

/// Keys copied per transaction.
const BATCH: usize = 100;
/// Keys whose material is opened to verify the copy.
const SAMPLE: usize = 20;

/// What was copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub keys: u64,
    pub materials: u64,
    pub aliases: u64,
    pub verified_sample: usize,
    /// Audit records copied (every chain verified in the target).
    pub audit_records: u64,
}

fn err(what: &str) -> impl Fn(StoreError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Opens both stores, copies, verifies. `root` must be the root key that sealed the source.
pub fn run(from: &str, to: &str, root: &AeadKey) -> Result<Copied, String> {
    let source_path = from
        .strip_prefix("sqlite://")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| format!("--from must be sqlite://PATH, not {:?}", redact(from)))?;
    if !is_postgres_url(to) {
        return Err(format!(
            "--to must be postgres://… or postgresql://…, not {:?}",
            redact(to)
        ));
    }
    if !std::path::Path::new(source_path).is_file() {
        return Err(format!("no SQLite store at {source_path}"));
    }
    let source = SqliteStore::open(source_path.as_ref()).map_err(err("source"))?;
    let target = PgStore::open(PgOptions::new(to)).map_err(err("target"))?;
    let (keys, _, aliases) = target.counts().map_err(err("target"))?;
    if keys != 0 || aliases != 0 {
        return Err(format!(
            "the target database already holds {keys} keys and {aliases} aliases; migrate into an empty database"
        ));
    }
    if !target.audit_heads().map_err(err("target"))?.is_empty() {
        return Err(
            "the target database already holds audit records; migrate into an empty database"
                .into(),
        );
    }
    if let Some(check) = source.root_check().map_err(err("source"))? {
        target.init_root_check(check).map_err(err("target"))?;
    }
    // Keys, in batches; each batch is one transaction.
    let mut scopes = BTreeSet::new();
    let mut sample: Vec<(Scope, KeyId)> = Vec::new();
    let mut after = None;
    loop {
        let ids = source
            .all_key_ids(after.as_ref(), BATCH)
            .map_err(err("source"))?;
        let Some(last) = ids.last() else { break };
        after = Some(last.clone());
        let mut writes = Vec::with_capacity(ids.len());
        for (scope, id) in ids {
            let Some(mut record) = source.get_key(&scope, &id).map_err(err("source"))? else {
                continue;
            };
            // The copy starts its own row history.
            record.version = 1;
            if sample.len() < SAMPLE && !record.materials.is_empty() {
                sample.push((scope.clone(), id));
            }
            scopes.insert((scope.account.0.clone(), scope.region.0.clone()));
            writes.push(Write::InsertKey(record));
        }
        target.commit(writes).map_err(err("target"))?;
    }
    // Aliases, scope by scope.
    for (account, region) in scopes {
        let scope = Scope::new(account, region);
        let mut after = None;
        loop {
            let page = source
                .list_aliases(&scope, None, after.as_ref(), BATCH)
                .map_err(err("source"))?;
            let Some(last) = page.last() else { break };
            after = Some(last.name.clone());
            target
                .commit(page.into_iter().map(Write::InsertAlias).collect())
                .map_err(err("target"))?;
        }
    }
    let audit_records = copy_audit(&source, &target)?;
    // Verification: the same counts, and sampled material opens under the root key to the
    // same secret as the source's.
    let (want, got) = (
        source.counts().map_err(err("source"))?,
        target.counts().map_err(err("target"))?,
    );
    if want != got {
        return Err(format!(
            "verification failed: source has (keys, materials, aliases) = {want:?}, target {got:?}"
        ));
    }
    for (scope, id) in &sample {
        let (Some(old), Some(new)) = (
            source.get_key(scope, id).map_err(err("source"))?,
            target.get_key(scope, id).map_err(err("target"))?,
        ) else {
            return Err(format!("verification failed: key {id} missing"));
        };
        if old.meta != new.meta || old.materials.len() != new.materials.len() {
            return Err(format!("verification failed: key {id} differs"));
        }
        for (a, b) in old.materials.iter().zip(&new.materials) {
            let aad = material_aad(id, b.version);
            let opened_new = root.open(&aad, &b.sealed).map_err(|_| {
                format!(
                    "verification failed: key {id} material {} does not open under this root key",
                    b.version
                )
            })?;
            let opened_old = root
                .open(&material_aad(id, a.version), &a.sealed)
                .map_err(|_| format!("verification failed: key {id} material {} does not open in the source either: wrong root key?", a.version))?;
            if a.version != b.version || opened_new.expose() != opened_old.expose() {
                return Err(format!(
                    "verification failed: key {id} material {} differs",
                    b.version
                ));
            }
        }
    }
    Ok(Copied {
        keys: got.0,
        materials: got.1,
        aliases: got.2,
        verified_sample: sample.len(),
        audit_records,
    })
}

/// Copies every account's chain verbatim, a page per transaction, then verifies each copied
/// chain end to end against the source's head. Returns the records copied.
fn copy_audit(source: &SqliteStore, target: &PgStore) -> Result<u64, String> {
    const PAGE: usize = 1000;
    let heads = source.audit_heads().map_err(err("source"))?;
    let mut copied = 0;
    for (account, head) in &heads {
        let mut after = head.pruned_through;
        loop {
            // Up to the head read above: records appended since (a source still in use)
            // are not part of this copy.
            let mut page = source
                .audit_chain(account, after, PAGE)
                .map_err(err("source"))?;
            let read = page.len();
            page.retain(|r| r.seq <= head.seq);
            let (Some(first), Some(last)) = (page.first(), page.last()) else {
                break;
            };
            let attributes = source
                .audit_attributes(account, first.seq, last.seq)
                .map_err(err("source"))?;
            let so_far = ChainHead {
                seq: last.seq,
                hash: last.hash,
                pruned_through: head.pruned_through,
            };
            let last_seq = last.seq;
            after = last_seq;
            copied += page.len() as u64;
            let more = read == PAGE && last_seq < head.seq;
            target
                .import_audit(account, page, attributes, so_far)
                .map_err(err("target"))?;
            if !more {
                break;
            }
        }
        // The source's head, exactly (for a chain pruned to nothing, it is all there is).
        target
            .import_audit(account, Vec::new(), Vec::new(), *head)
            .map_err(err("target"))?;
    }
    if target.audit_heads().map_err(err("target"))? != heads {
        return Err("verification failed: the audit chain heads differ".into());
    }
    for report in verify_store(target).map_err(err("target"))? {
        if let Some(fault) = report.fault {
            return Err(format!(
                "verification failed: the copied audit chain of {} is broken: {fault:?}",
                report.account
            ));
        }
    }
    Ok(copied)
}
