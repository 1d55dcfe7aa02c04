//! Where flows wait: `MemoryFlows` (one process, bounded moka cache) or `SqlFlows` (the
//! gateway's database, so a callback or consent may reach any instance). Ids are stored as
//! SHA-256 hashes, so reading the table does not let anyone continue someone's sign-in.
//! `Flows` is what handlers use: put a flow, take back the kind they expect.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::flow::{
    Flow, Handoff, MAX_FLOW_TTL, PendingConsent, PendingPasscode, PendingPasskey, PendingSignIn,
    SamlPosted, is_token, random_token,
};
use crate::db::{Db, now};
use crate::session::StoreError;

#[async_trait]
pub trait FlowStore: Send + Sync + 'static {
    /// Stores `flow` under `key` until `expires_at` (Unix seconds).
    async fn put(&self, key: &str, flow: Flow, expires_at: i64) -> Result<(), StoreError>;
    /// Removes and returns the flow under `key` if it has not expired.
    async fn take(&self, key: &str) -> Result<Option<Flow>, StoreError>;
    async fn purge_expired(&self) -> Result<u64, StoreError>;
}

fn store_key(id: &str) -> String {
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The handlers' view: put a flow under a fresh id, take back one of a given kind. Taking
/// consumes whatever the id names; a flow of another kind (a handoff code sent as a
/// `state`, say) is gone and answers `None`.
#[derive(Clone)]
pub struct Flows {
    store: Arc<dyn FlowStore>,
}

macro_rules! take_kind {
    ($name:ident, $variant:ident, $ty:ty) => {
        pub async fn $name(&self, id: &str) -> Result<Option<$ty>, StoreError> {
            Ok(match self.take(id).await? {
                Some(Flow::$variant(f)) => Some(f),
                Some(other) => {
                    tracing::warn!(target: "borderless::security", kind = other.kind(), "a flow id was used for another step");
                    None
                }
                None => None,
            })
        }
    };
}

impl Flows {
    pub fn new(store: Arc<dyn FlowStore>) -> Self {
        Self { store }
    }

    /// Stores `flow` under a new random id and returns the id.
    pub async fn put(&self, flow: Flow) -> Result<String, StoreError> {
        let id = random_token();
        self.put_as(&id, flow).await?;
        Ok(id)
    }

    /// Stores `flow` under an id the caller generated with `random_token` (the OAuth
    /// `state`, which must be known before the flow is complete).
    pub async fn put_as(&self, id: &str, flow: Flow) -> Result<(), StoreError> {
        let expires_at = now() + flow.ttl().as_secs() as i64;
        self.store.put(&store_key(id), flow, expires_at).await
    }

    async fn take(&self, id: &str) -> Result<Option<Flow>, StoreError> {
        if !is_token(id) {
            return Ok(None);
        }
        self.store.take(&store_key(id)).await
    }

    take_kind!(take_sign_in, AwaitingIdp, PendingSignIn);
    take_kind!(take_consent, AwaitingConsent, PendingConsent);
    take_kind!(take_handoff, Handoff, Handoff);
    take_kind!(take_passcode, AwaitingPasscode, PendingPasscode);
    take_kind!(take_saml_posted, SamlPosted, SamlPosted);
    take_kind!(take_passkey, AwaitingPasskey, PendingPasskey);

    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.store.purge_expired().await
    }
}

/// A flow in memory until its expiry. The cache may hold clones of the `Arc` a while
/// after a removal, so the flow sits in a slot that the one taker empties.
struct Slot {
    expires_at: i64,
    flow: Mutex<Option<Flow>>,
}

/// Flows in this process's memory, at most `capacity` of them.
pub struct MemoryFlows {
    cache: moka::future::Cache<String, Arc<Slot>>,
}

impl MemoryFlows {
    pub fn new(capacity: u64) -> Self {
        Self {
            cache: moka::future::Cache::builder()
                .time_to_live(MAX_FLOW_TTL)
                .max_capacity(capacity)
                .build(),
        }
    }
}

#[async_trait]
impl FlowStore for MemoryFlows {
    async fn put(&self, key: &str, flow: Flow, expires_at: i64) -> Result<(), StoreError> {
        self.cache
            .insert(
                key.to_string(),
                Arc::new(Slot {
                    expires_at,
                    flow: Mutex::new(Some(flow)),
                }),
            )
            .await;
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Flow>, StoreError> {
        let Some(entry) = self.cache.remove(key).await else {
            return Ok(None);
        };
        let flow = entry.flow.lock().map(|mut s| s.take()).unwrap_or(None);
        Ok(flow.filter(|_| entry.expires_at > now()))
    }

    async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.cache.run_pending_tasks().await;
        Ok(0)
    }
}

/// Flows in the `flows` table.
pub struct SqlFlows {
    pool: sqlx::AnyPool,
}

impl SqlFlows {
    pub fn new(db: &Db) -> Self {
        Self {
            pool: db.pool.clone(),
        }
    }
}

#[async_trait]
impl FlowStore for SqlFlows {
    async fn put(&self, key: &str, flow: Flow, expires_at: i64) -> Result<(), StoreError> {
        let data = serde_json::to_string(&flow).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("INSERT INTO flows (id_hash, kind, data, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(key)
            .bind(flow.kind())
            .bind(data)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Flow>, StoreError> {
        // One statement: of two instances taking the same id at once, one gets the row.
        let row = sqlx::query("DELETE FROM flows WHERE id_hash = $1 RETURNING data, expires_at")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: i64 = row.try_get("expires_at")?;
        if expires_at <= now() {
            return Ok(None);
        }
        let data: String = row.try_get("data")?;
        serde_json::from_str(&data)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn purge_expired(&self) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM flows WHERE expires_at <= $1")
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}
