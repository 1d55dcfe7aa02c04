//! Where sessions live between requests and restarts. The trait keeps the cache and the
//! sign-in code independent of the database; SQLite is the embedded default, PostgreSQL the shared one.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::db::{Db, DbError};

use super::sqlite_reads::SqliteReads;
use super::{NewSession, Session, SessionKey, record};
use crate::policy::Strength;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session store: {0}")]
    Db(#[from] sqlx::Error),
    #[error("session store: {0}")]
    Open(#[from] DbError),
    #[error("session store: corrupt record: {0}")]
    Corrupt(String),
    /// One read's failure, reported to every request that waited for it.
    #[error(transparent)]
    Shared(Arc<StoreError>),
    #[error("session store: the read was abandoned")]
    Abandoned,
}

/// What `get_many` found: each stored session's key with the session, or with the reason its
/// record could not be read (that fails only the request that asked for it).
pub type Found = Vec<(SessionKey, Result<Session, StoreError>)>;

#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    async fn insert(&self, key: SessionKey, session: &Session) -> Result<(), StoreError>;
    async fn get(&self, key: SessionKey) -> Result<Option<Session>, StoreError>;
    /// The stored sessions among `keys`, each with its key; keys the store does not know
    /// are left out. One round trip per [`MAX_KEYS_PER_READ`] keys; an error here means the
    /// round trip failed, a record that cannot be read is an error beside its key.
    async fn get_many(&self, keys: &[SessionKey]) -> Result<Found, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            match self.get(*key).await {
                Ok(None) => {}
                Ok(Some(s)) => found.push((*key, Ok(s))),
                Err(e) => found.push((*key, Err(e))),
            }
        }
        Ok(found)
    }
    async fn delete(&self, key: SessionKey) -> Result<(), StoreError>;
    /// Deletes every session of a user and returns their keys so caches can drop them.
    async fn delete_user(&self, user_key: &str) -> Result<Vec<SessionKey>, StoreError>;
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;
}

/// Sessions in the gateway's database (SQLite or PostgreSQL).
pub struct SqlSessionStore {
    pool: AnyPool,
    /// For an SQLite file: records read on the calling thread, not through sqlx's worker.
    direct: Option<SqliteReads>,
}

impl SqlSessionStore {
    /// The rows of the sessions among `keys` (at most `MAX_KEYS_PER_READ`), read with one of
    /// `statements`.
    async fn fetch(
        &self,
        statements: &'static [String],
        keys: &[SessionKey],
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        let Some(last) = keys.len().checked_sub(1) else {
            return Ok(Vec::new());
        };
        let (sql, slots) = select_many(statements, keys.len());
        let mut query = sqlx::query(sql);
        for i in 0..slots {
            query = query.bind(keys[i.min(last)].to_hex());
        }
        query.fetch_all(&self.pool).await
    }

    /// Adds to `found` the sessions among `keys` (at most `MAX_KEYS_PER_READ`) that have a
    /// record, and to `without_record` the keys of those that do not.
    async fn fetch_records(
        &self,
        keys: &[SessionKey],
        found: &mut Found,
        without_record: &mut Vec<SessionKey>,
    ) -> Result<(), StoreError> {
        if let Some(direct) = &self.direct {
            let (sql, slots) = select_many(&SELECT_RECORDS, keys.len());
            let (mut read, mut read_without_record, mut bad_id) = (Vec::new(), Vec::new(), None);
            let result = direct.records(sql, slots, keys, |id, record| match key_from_hex(id) {
                Ok(key) => file_row(key, record, &mut read, &mut read_without_record),
                Err(e) => bad_id = Some(e),
            });
            match result {
                Ok(()) => {
                    // A row whose id is not a key fails the read, as it does through sqlx.
                    if let Some(e) = bad_id {
                        return Err(e);
                    }
                    found.append(&mut read);
                    without_record.append(&mut read_without_record);
                    return Ok(());
                }
                // Read again through sqlx, whose worker thread may wait for a lock.
                Err(e) => tracing::debug!(error = %e, "session records read through sqlx"),
            }
        }
        for row in self.fetch(&SELECT_RECORDS, keys).await? {
            let key = key_of(&row)?;
            let record = row.try_get::<Option<Vec<u8>>, _>(1)?;
            file_row(key, record.as_deref(), found, without_record);
        }
        Ok(())
    }

    pub fn new(db: &Db) -> Self {
        Self {
            pool: db.pool.clone(),
            direct: db.sqlite_url.as_deref().and_then(SqliteReads::for_url),
        }
    }

    /// Opens (creating if needed) the database and applies migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let db = Db::open(url).await?;
        Ok(Self::new(&db))
    }
}

/// The most keys one query of `get_many` asks for.
pub const MAX_KEYS_PER_READ: usize = 64;
const _: () = assert!(MAX_KEYS_PER_READ.is_power_of_two());

/// The readable columns a session is also stored in, and read from when it has no record
/// (it was written before records were).
const COLUMNS: &str = "id_hash, user_key, idp, issuer, subject, attributes, amr, acr, \
                       auth_time, created_at, expires_at, mfa, mfa_at";

/// `SELECT {columns} FROM sessions WHERE id_hash IN ($1, …, $n)` for n = 1, 2, 4, … 64. A
/// read is padded to the next of these sizes (with its last key again), so a connection
/// prepares at most seven statements of each kind.
fn statements(columns: &str) -> Vec<String> {
    let sizes = std::iter::successors(Some(1usize), |n| Some(n * 2));
    sizes
        .take_while(|n| *n <= MAX_KEYS_PER_READ)
        .map(|n| {
            let slots: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
            format!(
                "SELECT {columns} FROM sessions WHERE id_hash IN ({})",
                slots.join(", ")
            )
        })
        .collect()
}

/// Written once, on first use.
static SELECT_RECORDS: LazyLock<Vec<String>> = LazyLock::new(|| statements("id_hash, record"));
static SELECT_COLUMNS: LazyLock<Vec<String>> = LazyLock::new(|| statements(COLUMNS));

/// The statement among `statements` for `keys` keys (1 to `MAX_KEYS_PER_READ`) and how many
/// keys it takes.
fn select_many(statements: &'static [String], keys: usize) -> (&'static str, usize) {
    let slots = keys.clamp(1, MAX_KEYS_PER_READ).next_power_of_two();
    (&statements[slots.trailing_zeros() as usize], slots)
}

/// The key a row was stored under; it matched one of the keys asked for.
fn key_of(row: &AnyRow) -> Result<SessionKey, StoreError> {
    key_from_hex(&row.try_get::<String, _>(0)?)
}

/// A row of `SELECT_RECORDS`: its session decoded into `found`, or, when it has no
/// record, its key into `without_record` (to be read from the columns).
fn file_row(
    key: SessionKey,
    record: Option<&[u8]>,
    found: &mut Found,
    without_record: &mut Vec<SessionKey>,
) {
    match record {
        Some(bytes) => found.push((key, record::decode(bytes).map_err(StoreError::Corrupt))),
        None => without_record.push(key),
    }
}

fn key_from_hex(id: &str) -> Result<SessionKey, StoreError> {
    SessionKey::from_hex(id).ok_or_else(|| StoreError::Corrupt(format!("session id hash `{id}`")))
}

fn session_from_row(row: &AnyRow) -> Result<Session, StoreError> {
    let attributes: String = row.try_get("attributes")?;
    let amr: String = row.try_get("amr")?;
    let mfa = match (
        row.try_get::<Option<String>, _>("mfa")?,
        row.try_get::<Option<i64>, _>("mfa_at")?,
    ) {
        (Some(name), Some(at)) => Some((
            Strength::parse(&name)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown MFA strength {name}")))?,
            at,
        )),
        _ => None,
    };
    Ok(Session::from(NewSession {
        user_key: row.try_get("user_key")?,
        idp: row.try_get("idp")?,
        issuer: row.try_get("issuer")?,
        subject: row.try_get("subject")?,
        attributes: serde_json::from_str(&attributes)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        amr: serde_json::from_str(&amr).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        acr: row.try_get("acr")?,
        auth_time: row.try_get("auth_time")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        mfa,
    }))
}

#[async_trait]
impl SessionStore for SqlSessionStore {
    async fn insert(&self, key: SessionKey, s: &Session) -> Result<(), StoreError> {
        let attributes = serde_json::to_string(&s.attributes())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let amr = serde_json::to_string(&s.amr().collect::<Vec<_>>())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let record = record::encode(s).map_err(StoreError::Corrupt)?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_key, idp, issuer, subject, attributes, amr, acr, \
             auth_time, created_at, expires_at, mfa, mfa_at, record) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(key.to_hex())
        .bind(s.user_key())
        .bind(&*s.idp)
        .bind(&*s.issuer)
        .bind(s.subject())
        .bind(attributes)
        .bind(amr)
        .bind(s.acr())
        .bind(s.auth_time)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.mfa.map(|(strength, _)| strength.name()))
        .bind(s.mfa.map(|(_, at)| at))
        .bind(record)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get(&self, key: SessionKey) -> Result<Option<Session>, StoreError> {
        let found = self.get_many(&[key]).await?.into_iter().next();
        found.map(|(_, session)| session).transpose()
    }

    async fn get_many(&self, keys: &[SessionKey]) -> Result<Found, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        let mut without_record = Vec::new();
        for chunk in keys.chunks(MAX_KEYS_PER_READ) {
            self.fetch_records(chunk, &mut found, &mut without_record)
                .await?;
        }
        // Only sessions written before records were; they end with their expiry.
        for chunk in without_record.chunks(MAX_KEYS_PER_READ) {
            for row in self.fetch(&SELECT_COLUMNS, chunk).await? {
                found.push((key_of(&row)?, session_from_row(&row)));
            }
        }
        Ok(found)
    }

    async fn delete(&self, key: SessionKey) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(key.to_hex())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_user(&self, user_key: &str) -> Result<Vec<SessionKey>, StoreError> {
        let rows = sqlx::query("DELETE FROM sessions WHERE user_key = $1 RETURNING id_hash")
            .bind(user_key)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>("id_hash").ok())
            .filter_map(|h| SessionKey::from_hex(&h))
            .collect())
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{SessionId, session_of};

    async fn sqlite_store(dir: &tempfile::TempDir) -> SqlSessionStore {
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        SqlSessionStore::open(&url).await.expect("store")
    }

    fn subjects(found: Found) -> Vec<String> {
        let mut subjects: Vec<String> = found
            .into_iter()
            .map(|(_, s)| s.expect("readable").subject().to_string())
            .collect();
        subjects.sort();
        subjects
    }

    #[tokio::test]
    async fn an_sqlite_file_is_read_directly_and_sees_every_later_write() {
        let dir = tempfile::tempdir().expect("dir");
        let store = sqlite_store(&dir).await;
        assert!(store.direct.is_some(), "an SQLite file is read directly");
        let (a, b) = (SessionId::random().key(), SessionId::random().key());
        store.insert(a, &session_of("a", 60)).await.expect("insert");
        // The first read opens this thread's connection.
        assert_eq!(
            subjects(store.get_many(&[a, b]).await.expect("read")),
            ["a"]
        );
        // Written and deleted through sqlx after that connection opened: each read is a
        // transaction of its own, so it sees both.
        store.insert(b, &session_of("b", 60)).await.expect("insert");
        store.delete(a).await.expect("delete");
        assert_eq!(
            subjects(store.get_many(&[a, b]).await.expect("read")),
            ["b"]
        );
        // And it needs nothing of sqlx's pool.
        store.pool.close().await;
        assert_eq!(
            subjects(store.get_many(&[a, b]).await.expect("read")),
            ["b"]
        );
    }

    #[tokio::test]
    async fn a_direct_read_that_fails_is_made_again_through_sqlx() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = sqlite_store(&dir).await;
        let a = SessionId::random().key();
        store.insert(a, &session_of("a", 60)).await.expect("insert");
        // A file that cannot be opened read-only stands for any failure of the direct read.
        let missing = dir.path().join("missing").join("s.db");
        store.direct = SqliteReads::for_url(&format!("sqlite://{}", missing.display()));
        assert!(store.direct.is_some());
        assert_eq!(subjects(store.get_many(&[a]).await.expect("read")), ["a"]);
    }

    #[tokio::test]
    async fn in_memory_databases_are_read_through_sqlx() {
        let store = SqlSessionStore::open("sqlite::memory:")
            .await
            .expect("store");
        assert!(store.direct.is_none());
    }
}
