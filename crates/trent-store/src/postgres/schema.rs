//! The schema, versioned by the one row of `trent_schema`.
//!
//! Each entry of [`MIGRATIONS`] takes the schema from version `i` to `i + 1`; a new release
//! appends an entry and never edits an old one. Nodes that start together serialise on a
//! transaction-scoped advisory lock, so exactly one of them migrates and the others find the
//! work done. A database written by a newer release is refused, never downgraded.

use deadpool_postgres::Object;
use trent_core::store::StoreError;

use super::db_error;

/// Advisory lock keys ("TRNT" and a purpose), one namespace for Trent in a shared database.
pub const SCHEMA_LOCK: i64 = 0x5452_4E54_0000_0001;
pub(super) const BACKGROUND_LOCK: i64 = 0x5452_4E54_0000_0002;

/// The channel the triggers notify on.
pub(super) const CHANNEL: &str = "trent_changes";

/// The schema version this build writes and understands.
pub(super) const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Key ids are `KeyId::storage_bytes` (16 bytes, 17 for `mrk-` ids) in `bytea` (PostgreSQL orders
/// `bytea` bytewise, as `KeyId`'s `Ord`); alias
/// names are `text` in the "C" collation so that their order equals `String`'s. `state`,
/// `deletion_date` and `due_at` are derived from the record (whose `KeyMeta` is the JSON in
/// `meta`) and are always written from the same record in the same statement. The triggers
/// tell every node which key was updated or deleted, or that aliases changed ([`CHANNEL`]);
/// notifications are sent at commit, so a node never hears of a change it cannot yet read.
pub(super) const MIGRATIONS: &[&str] = &[
    // 0 -> 1
    r#"CREATE TABLE keys (
         id            bytea   NOT NULL PRIMARY KEY CHECK (length(id) = 16),
         account       text    NOT NULL,
         region        text    NOT NULL,
         version       bigint  NOT NULL CHECK (version >= 1),
         state         text    NOT NULL,
         deletion_date bigint,
         due_at        bigint,
         meta          text    NOT NULL,
         UNIQUE (account, region, id)
     );
     CREATE INDEX keys_by_due_at ON keys (due_at) WHERE due_at IS NOT NULL;
     CREATE TABLE key_material (
         key_id  bytea   NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
         version integer NOT NULL,
         sealed  bytea   NOT NULL,
         PRIMARY KEY (key_id, version)
     );
     CREATE TABLE aliases (
         account       text   NOT NULL,
         region        text   NOT NULL,
         name          text   NOT NULL COLLATE "C",
         target_key_id bytea  NOT NULL,
         created_at    bigint NOT NULL,
         updated_at    bigint NOT NULL,
         PRIMARY KEY (account, region, name),
         FOREIGN KEY (account, region, target_key_id)
             REFERENCES keys (account, region, id) ON DELETE CASCADE
     );
     CREATE INDEX aliases_by_target ON aliases (account, region, target_key_id, name);
     CREATE TABLE settings (
         name  text  NOT NULL PRIMARY KEY,
         value bytea NOT NULL
     );
     CREATE FUNCTION trent_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
         IF TG_OP = 'DELETE' THEN
             PERFORM pg_notify('trent_changes', 'k' || encode(OLD.id, 'hex'));
         ELSE
             PERFORM pg_notify('trent_changes', 'k' || encode(NEW.id, 'hex'));
         END IF;
         RETURN NULL;
     END $$;
     CREATE TRIGGER keys_changed AFTER INSERT OR UPDATE OR DELETE ON keys
         FOR EACH ROW EXECUTE FUNCTION trent_key_changed();
     CREATE FUNCTION trent_alias_changed() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
         PERFORM pg_notify('trent_changes', 'a');
         RETURN NULL;
     END $$;
     CREATE TRIGGER aliases_changed AFTER INSERT OR UPDATE OR DELETE ON aliases
         FOR EACH STATEMENT EXECUTE FUNCTION trent_alias_changed();"#,
    // 1 -> 2: the audit trail (see the SQLite schema and trent_core::audit).
    r#"CREATE TABLE audit_events (
         account   text   NOT NULL,
         seq       bigint NOT NULL,
         time      bigint NOT NULL,
         event_id  text   NOT NULL,
         body      text   NOT NULL,
         prev_hash bytea  NOT NULL,
         hash      bytea  NOT NULL,
         PRIMARY KEY (account, seq)
     );
     CREATE INDEX audit_events_by_time ON audit_events (account, time, seq);
     CREATE TABLE audit_attributes (
         account text   NOT NULL,
         name    text   NOT NULL,
         value   text   NOT NULL,
         time    bigint NOT NULL,
         seq     bigint NOT NULL,
         PRIMARY KEY (account, name, value, time, seq)
     );
     CREATE INDEX audit_attributes_by_seq ON audit_attributes (account, seq);
     CREATE TABLE audit_heads (
         account        text   NOT NULL PRIMARY KEY,
         seq            bigint NOT NULL,
         hash           bytea  NOT NULL,
         pruned_through bigint NOT NULL DEFAULT 0
     );"#,
    // 2 -> 3: multi-Region keys. A key's copies in several Regions share one id, so keys are
    // identified by (account, region, id) and so is their material; a multi-Region id's
    // storage form is 17 bytes (`KeyId::storage_bytes`). Existing rows keep everything.
    r#"ALTER TABLE key_material ADD COLUMN account text, ADD COLUMN region text;
     UPDATE key_material m SET account = k.account, region = k.region
         FROM keys k WHERE k.id = m.key_id;
     ALTER TABLE key_material ALTER COLUMN account SET NOT NULL,
         ALTER COLUMN region SET NOT NULL;
     ALTER TABLE key_material DROP CONSTRAINT key_material_key_id_fkey;
     ALTER TABLE key_material DROP CONSTRAINT key_material_pkey;
     ALTER TABLE key_material ADD PRIMARY KEY (account, region, key_id, version);
     ALTER TABLE keys DROP CONSTRAINT keys_pkey;
     ALTER TABLE keys ADD PRIMARY KEY (account, region, id);
     ALTER TABLE keys DROP CONSTRAINT keys_id_check;
     ALTER TABLE keys ADD CONSTRAINT keys_id_length CHECK (length(id) IN (16, 17));
     ALTER TABLE key_material ADD FOREIGN KEY (account, region, key_id)
         REFERENCES keys (account, region, id) ON DELETE CASCADE;
     CREATE INDEX keys_by_id ON keys (id);"#,
    // 3 -> 4: the audit attributes with one or two values (ReadOnly, EventSource,
    // ResourceType) move from the lookup index into the record's `tags`
    // (`trent_core::audit::AuditAttribute::is_indexed`), as in the SQLite schema's 6 -> 7.
    r#"ALTER TABLE audit_events ADD COLUMN tags text NOT NULL DEFAULT '';
     UPDATE audit_events e SET tags = t.tags
         FROM (SELECT account, seq,
                      E'\n' || string_agg(name || '=' || value, E'\n') || E'\n' AS tags
               FROM audit_attributes
               WHERE name IN ('ReadOnly', 'EventSource', 'ResourceType')
               GROUP BY account, seq) t
         WHERE e.account = t.account AND e.seq = t.seq;
     DELETE FROM audit_attributes WHERE name IN ('ReadOnly', 'EventSource', 'ResourceType');"#,
    // 4 -> 5: what a CreateKey costs beyond its rows. No index on the key id alone: every
    // lookup names the account and Region and uses the primary key (as in the SQLite schema's
    // 8 -> 9), and paging over all keys follows the primary key. No notification for a key's
    // INSERT: no node can hold a new key in its cache (misses are not cached), so telling every
    // node about it only cost the commit a NOTIFY and every node a cache invalidation.
    r#"DROP INDEX keys_by_id;
     DROP TRIGGER keys_changed ON keys;
     CREATE TRIGGER keys_changed AFTER UPDATE OR DELETE ON keys
         FOR EACH ROW EXECUTE FUNCTION trent_key_changed();"#,
    // 5 -> 6: the keys table's `UNIQUE (account, region, id)` of schema 1 duplicates the
    // primary key it has had since schema 3: a second identical B-tree written by every
    // CreateKey. The two foreign keys bound to it are re-created on the primary key.
    r#"ALTER TABLE aliases DROP CONSTRAINT aliases_account_region_target_key_id_fkey;
     ALTER TABLE key_material DROP CONSTRAINT key_material_account_region_key_id_fkey;
     ALTER TABLE keys DROP CONSTRAINT keys_account_region_id_key;
     ALTER TABLE key_material ADD CONSTRAINT key_material_account_region_key_id_fkey
         FOREIGN KEY (account, region, key_id) REFERENCES keys (account, region, id)
         ON DELETE CASCADE;
     ALTER TABLE aliases ADD CONSTRAINT aliases_account_region_target_key_id_fkey
         FOREIGN KEY (account, region, target_key_id) REFERENCES keys (account, region, id)
         ON DELETE CASCADE;"#,
    // 6 -> 7: a group of records sent before the group ahead of it has committed names the
    // chain heads it expects; this locks them (in byte order, as the locking upsert does,
    // waiting for a transaction still in flight that moved one), then compares them in a
    // statement of its own, whose snapshot sees what committed meanwhile, and fails the
    // transaction with a serialization failure if any has moved.
    r#"CREATE FUNCTION trent_expect_audit_heads(accounts text[], seqs bigint[], hashes bytea[])
     RETURNS void LANGUAGE plpgsql AS $$
     DECLARE
         matching integer;
     BEGIN
         PERFORM 1 FROM audit_heads WHERE account = ANY(accounts)
             ORDER BY account COLLATE "C" FOR UPDATE;
         SELECT count(*) INTO matching FROM audit_heads h
             JOIN unnest(accounts, seqs, hashes) AS e(account, seq, hash)
             ON h.account = e.account AND h.seq = e.seq AND h.hash = e.hash;
         IF matching <> cardinality(accounts) THEN
             RAISE EXCEPTION 'audit chain head moved' USING ERRCODE = 'serialization_failure';
         END IF;
     END $$;"#,
    // 7 -> 8: the signature nonces of the Alibaba dialect, claimed by every node that shares
    // the database so that a request answered by one node cannot be replayed to another
    // (`Store::claim_nonce`); each row is kept until its request's time check would refuse it.
    r#"CREATE TABLE signature_nonces (
         digest bytea  NOT NULL PRIMARY KEY CHECK (length(digest) = 16),
         until  bigint NOT NULL
     );
     CREATE INDEX signature_nonces_by_until ON signature_nonces (until);"#,
    // 8 -> 9: nothing. A build of commit f0b253b wrote version 9 with a BRIN index in place of
    // `audit_attributes_by_seq`, taken back before its release (the index decays as pruning
    // frees pages); 9 -> 10 repairs a database it wrote, and is all the others need.
    "SELECT 1",
    // 9 -> 10: the repair above (a no-op elsewhere), and a cheaper check of one chain's head.
    // A group of records almost always extends one chain. For one head the check is a single
    // statement: `SELECT ... FOR UPDATE` locks the head and, if it waited for a transaction
    // that moved it, returns the row as that transaction left it (READ COMMITTED reads the
    // locked row's newest version). The general form's generic plan (a sort, an aggregate, a
    // hash join, a bitmap scan) cost 8 % of PostgreSQL's CPU per Encrypt to start and stop, for
    // one row (docs/BENCHMARK-ANALYSIS.md).
    r#"CREATE INDEX IF NOT EXISTS audit_attributes_by_seq ON audit_attributes (account, seq);
     DROP INDEX IF EXISTS audit_attributes_by_time;
     CREATE OR REPLACE FUNCTION trent_expect_audit_heads(accounts text[], seqs bigint[], hashes bytea[])
     RETURNS void LANGUAGE plpgsql AS $$
     DECLARE
         matching integer;
         head_seq bigint;
         head_hash bytea;
     BEGIN
         IF cardinality(accounts) = 1 THEN
             SELECT seq, hash INTO head_seq, head_hash FROM audit_heads
                 WHERE account = accounts[1] FOR UPDATE;
             matching := CASE WHEN head_seq = seqs[1] AND head_hash = hashes[1] THEN 1 ELSE 0 END;
         ELSE
             PERFORM 1 FROM audit_heads WHERE account = ANY(accounts)
                 ORDER BY account COLLATE "C" FOR UPDATE;
             SELECT count(*) INTO matching FROM audit_heads h
                 JOIN unnest(accounts, seqs, hashes) AS e(account, seq, hash)
                 ON h.account = e.account AND h.seq = e.seq AND h.hash = e.hash;
         END IF;
         IF matching <> cardinality(accounts) THEN
             RAISE EXCEPTION 'audit chain head moved' USING ERRCODE = 'serialization_failure';
         END IF;
     END $$;"#,
];

/// The oldest PostgreSQL this build runs on, as `server_version_num`: 12, for
/// `plan_cache_mode` (`writes::GENERIC_PLANS`).
const MIN_SERVER_VERSION: i32 = 120_000;

/// Refuses a server older than [`MIN_SERVER_VERSION`] (`number` is its `server_version_num`,
/// `name` its `server_version`), so that a node says so when it starts rather than failing
/// every write.
fn supported(number: i32, name: &str) -> Result<(), StoreError> {
    if number >= MIN_SERVER_VERSION {
        return Ok(());
    }
    Err(StoreError::Backend(format!(
        "postgres: server version {name} is not supported; Trent needs PostgreSQL {} or later",
        MIN_SERVER_VERSION / 10_000
    )))
}

/// Creates or upgrades the schema in one transaction, under the schema lock, on a server
/// recent enough.
pub(super) async fn migrate(conn: &mut Object) -> Result<(), StoreError> {
    let server = conn
        .query_one(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version')",
            &[],
        )
        .await
        .map_err(db_error)?;
    supported(server.get(0), server.get(1))?;
    let tx = conn.transaction().await.map_err(db_error)?;
    // The pool's per-statement and lock timeouts are for requests: an upgrade that rewrites
    // large tables, and a node waiting for another's upgrade, take as long as they take
    // (bounded by MIGRATION_TIMEOUT around the whole call).
    tx.batch_execute("SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0")
        .await
        .map_err(db_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await
        .map_err(db_error)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS trent_schema (
             one     boolean NOT NULL PRIMARY KEY DEFAULT true CHECK (one),
             version integer NOT NULL
         )",
    )
    .await
    .map_err(db_error)?;
    let version: i32 = tx
        .query_opt("SELECT version FROM trent_schema", &[])
        .await
        .map_err(db_error)?
        .map(|r| r.get(0))
        .unwrap_or(0);
    if !(0..=SCHEMA_VERSION).contains(&version) {
        return Err(StoreError::Backend(format!(
            "postgres: database schema version {version} is not supported by this build \
             (supports up to {SCHEMA_VERSION}); upgrade Trent"
        )));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql).await.map_err(|e| {
            StoreError::Backend(format!("postgres: migration {from}: {}", db_error(e)))
        })?;
    }
    tx.execute(
        "INSERT INTO trent_schema (one, version) VALUES (true, $1)
         ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version",
        &[&SCHEMA_VERSION],
    )
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    tracing::info!(
        from = version,
        to = SCHEMA_VERSION,
        "postgres schema migrated"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_older_than_postgresql_12_are_refused_by_name() {
        let old = supported(110_022, "11.22").unwrap_err().to_string();
        assert!(
            old.contains("server version 11.22 is not supported"),
            "{old}"
        );
        assert!(old.contains("PostgreSQL 12 or later"), "{old}");
        assert!(supported(90_624, "9.6.24").is_err());
        assert!(supported(120_000, "12.0").is_ok());
        assert!(supported(150_004, "15.4 (Debian 15.4-1)").is_ok());
    }
}
