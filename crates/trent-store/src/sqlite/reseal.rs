//! Root-key rotation's one transaction: every key record and the root-key check value,
//! rewritten by the caller's re-sealing functions, committed together or not at all.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use trent_core::ids::{AccountId, Region, Scope};
use trent_core::model::KeyRecord;
use trent_core::store::StoreError;

use super::{backend, decode_key, decode_key_id, SqliteStore};

/// What a re-seal rewrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    pub keys: usize,
    pub materials: usize,
    pub root_check: bool,
}

impl SqliteStore {
    /// Passes every key record to `key` and the root-key check value to `check`, and stores
    /// what they return, in one immediate transaction: a failure anywhere (an error from either
    /// function) leaves the store as it was. Key ids, versions and everything but the sealed
    /// bytes and metadata are kept. Meant for a store no server is using.
    pub fn reseal_all(
        &self,
        mut key: impl FnMut(&mut KeyRecord) -> Result<(), String>,
        check: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
    ) -> Result<Resealed, StoreError> {
        let mut conn = self.writer.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let mut done = Resealed::default();
        let rows = tx
            .prepare(
                "SELECT id, account, region, version, meta FROM keys ORDER BY account, region, id",
            )
            .map_err(backend)?
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        for (id, account, region, version, meta) in rows {
            let materials = tx
                .prepare_cached(
                    "SELECT version, sealed FROM key_material
                     WHERE key_id = ?1 AND account = ?2 AND region = ?3",
                )
                .map_err(backend)?
                .query_map(params![id, account, region], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            let scope = Scope {
                account: AccountId(account.clone()),
                region: Region(region.clone()),
            };
            let mut record = decode_key(decode_key_id(&id)?, &scope, version, &meta, materials)?;
            key(&mut record).map_err(StoreError::Backend)?;
            let meta = serde_json::to_string(&record.meta).map_err(backend)?;
            tx.execute(
                "UPDATE keys SET meta = ?1 WHERE id = ?2 AND account = ?3 AND region = ?4",
                params![meta, id, account, region],
            )
            .map_err(backend)?;
            for m in &record.materials {
                tx.execute(
                    "UPDATE key_material SET sealed = ?1
                     WHERE key_id = ?2 AND account = ?3 AND region = ?4 AND version = ?5",
                    params![m.sealed, id, account, region, m.version],
                )
                .map_err(backend)?;
                done.materials += 1;
            }
            done.keys += 1;
        }
        let stored: Option<Vec<u8>> = tx
            .query_row("SELECT sealed FROM root_check WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(backend)?;
        if let Some(sealed) = stored {
            let resealed = check(&sealed).map_err(StoreError::Backend)?;
            tx.execute(
                "UPDATE root_check SET sealed = ?1 WHERE id = 1",
                params![resealed],
            )
            .map_err(backend)?;
            done.root_check = true;
        }
        tx.commit().map_err(backend)?;
        // The WAL still holds the pages as sealed under the old key: fold it into the database
        // (where secure_delete has overwritten the old bytes) and empty it.
        let (busy, _, _): (i64, i64, i64) = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(backend)?;
        if busy != 0 {
            return Err(StoreError::Backend(
                "sqlite: re-sealed, but the WAL could not be checkpointed (another connection is reading)".into(),
            ));
        }
        Ok(done)
    }
}
