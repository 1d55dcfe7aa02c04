//! The session manager: a moka cache in front of the store. Lookups on the hot path hit the
//! cache; revocation removes from both, so it takes effect on the very next request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::future::Cache;

use super::{Session, SessionId, SessionKey, SessionStore, StoreError, now_unix};

/// How long an id the store does not know is answered from memory. Random cookies then cost
/// one store read per id and this long, not one per request; a real id is never in it
/// (ids are random 256-bit values, unknown to anyone before `create` returns them).
const UNKNOWN_TTL: Duration = Duration::from_secs(30);
const UNKNOWN_CAPACITY: u64 = 100_000;

pub struct SessionManager {
    store: Arc<dyn SessionStore>,
    cache: Cache<SessionKey, Arc<Session>, DigestHash>,
    /// Ids the store recently said it does not have.
    unknown: moka::sync::Cache<SessionKey, ()>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Bumped by every revocation, after the store changed and before the cache is
    /// cleared. A miss that sees it move while it read the store may hold a session read
    /// before the revocation, so it drops what it cached (see `get`).
    revocations: AtomicU64,
}

/// Hashes a `SessionKey` by its first eight bytes. The key is a SHA-256 output, evenly
/// spread already, and only ids the gateway issued (random) are ever inserted, so nobody can
/// crowd a bucket; SipHash over all 32 bytes cost more than the rest of the cache lookup.
/// (`unknown` keeps the default hasher: ids a client made up are inserted there.)
#[derive(Clone, Copy)]
pub struct DigestHash;

impl std::hash::BuildHasher for DigestHash {
    type Hasher = DigestHasher;
    fn build_hasher(&self) -> DigestHasher {
        DigestHasher(0)
    }
}

pub struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        // The array's length is written first as its own `write_usize` (mixed in below);
        // the digest's first eight bytes then make the hash.
        if let Some(head) = bytes.first_chunk::<8>() {
            self.0 ^= u64::from_le_bytes(*head);
        } else {
            for b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(*b);
            }
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl SessionManager {
    pub fn new(store: Arc<dyn SessionStore>, capacity: u64, ttl: Duration) -> Self {
        let cache = Cache::builder()
            .max_capacity(capacity)
            // One lifetime for every entry, not one per session: a per-entry expiry costs
            // a timer node per session (~30 bytes, docs/benchmarks.md), and a session past
            // its own expiry is refused on every read anyway (`get`).
            .time_to_live(ttl)
            .support_invalidation_closures()
            .build_with_hasher(DigestHash);
        Self {
            store,
            cache,
            unknown: moka::sync::Cache::builder()
                .time_to_live(UNKNOWN_TTL)
                .max_capacity(UNKNOWN_CAPACITY)
                .build(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            revocations: AtomicU64::new(0),
        }
    }

    /// Stores a new session under a fresh id and returns the id for the cookie.
    pub async fn create(&self, session: Session) -> Result<SessionId, StoreError> {
        let id = SessionId::random();
        self.store.insert(id.key(), &session).await?;
        self.cache.insert(id.key(), Arc::new(session)).await;
        Ok(id)
    }

    /// The live session for a cookie id, or `None` when unknown, revoked or expired.
    pub async fn get(&self, id: &SessionId) -> Result<Option<Arc<Session>>, StoreError> {
        let key = id.key();
        if let Some(s) = self.cache.get(&key).await {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((!s.is_expired(now_unix())).then_some(s));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        // Boxed: the store read would otherwise make every request's state as large as it.
        Box::pin(self.get_cold(key)).await
    }

    /// A session not in the cache: from the store, one read for all concurrent callers.
    async fn get_cold(&self, key: SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        if self.unknown.contains_key(&key) {
            return Ok(None);
        }
        let before = self.revocations.load(Ordering::SeqCst);
        let store = self.store.clone();
        // Single-flight: concurrent misses for one key share one store read.
        let loaded = self
            .cache
            .try_get_with(key, async move {
                match store.get(key).await {
                    Ok(Some(s)) => Ok(Arc::new(s)),
                    Ok(None) => Err(None),
                    Err(e) => Err(Some(e)),
                }
            })
            .await;
        if self.revocations.load(Ordering::SeqCst) != before {
            // A revocation ran while the store was read; what was loaded (and cached) may
            // predate it. The revocation's own invalidate may have run before the insert,
            // so drop the entry here and ask the store again, uncached.
            self.cache.invalidate(&key).await;
            let now = now_unix();
            return Ok(self
                .store
                .get(key)
                .await?
                .filter(|s| !s.is_expired(now))
                .map(Arc::new));
        }
        match loaded {
            Ok(s) if !s.is_expired(now_unix()) => Ok(Some(s)),
            Ok(_) => Ok(None),
            Err(e) => match Arc::try_unwrap(e) {
                Ok(None) => {
                    self.unknown.insert(key, ());
                    Ok(None)
                }
                Ok(Some(err)) => Err(err),
                Err(shared) => match shared.as_ref() {
                    None => {
                        self.unknown.insert(key, ());
                        Ok(None)
                    }
                    Some(err) => Err(StoreError::Corrupt(err.to_string())),
                },
            },
        }
    }

    /// Revokes one session.
    pub async fn revoke(&self, id: &SessionId) -> Result<(), StoreError> {
        self.revoke_key(id.key()).await
    }

    pub async fn revoke_key(&self, key: SessionKey) -> Result<(), StoreError> {
        self.store.delete(key).await?;
        self.revocations.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate(&key).await;
        Ok(())
    }

    /// Revokes every session of a user; returns how many there were.
    pub async fn revoke_user(&self, user_key: &str) -> Result<usize, StoreError> {
        let keys = self.store.delete_user(user_key).await?;
        self.revocations.fetch_add(1, Ordering::SeqCst);
        // Every cached session is also in the store (`create` writes the store first), so the
        // keys the store returns are all the cache can hold for this user.
        for k in &keys {
            self.cache.invalidate(k).await;
        }
        Ok(keys.len())
    }

    /// Drops a user's sessions from this process's cache only: another process already
    /// changed the store (the revocation feed says so). Live sessions reload on next use.
    pub fn forget_user(&self, user_key: &str) {
        self.revocations.fetch_add(1, Ordering::SeqCst);
        let user_key = user_key.to_string();
        if let Err(e) = self
            .cache
            .invalidate_entries_if(move |_, s| s.user_key() == user_key)
        {
            tracing::error!("cannot drop cached sessions: {e}");
        }
    }

    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.store.purge_expired(now_unix()).await
    }

    /// (hits, misses) since start, for the cache hit ratio metric.
    pub fn cache_stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SqlSessionStore;

    fn session(expires_in: i64) -> Session {
        let now = now_unix();
        Session::from(crate::session::NewSession {
            user_key: "iss#u".into(),
            idp: "op".into(),
            issuer: "iss".into(),
            subject: "u".into(),
            attributes: Default::default(),
            amr: vec![],
            acr: None,
            auth_time: now,
            created_at: now,
            expires_at: now + expires_in,
            mfa: None,
        })
    }

    #[tokio::test]
    async fn expired_sessions_are_not_served_even_from_the_cache() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = SqlSessionStore::open(&url).await.expect("store");
        let m = SessionManager::new(Arc::new(store), 100, Duration::from_secs(300));
        let live = m.create(session(3600)).await.expect("create");
        let dead = m.create(session(-1)).await.expect("create");
        assert!(m.get(&live).await.expect("get").is_some());
        assert!(m.get(&dead).await.expect("get").is_none());
        assert_eq!(m.purge_expired().await.expect("purge"), 1);
    }

    /// A store whose first read pauses after reading, until the test lets it finish.
    struct PausingStore {
        inner: SqlSessionStore,
        paused: std::sync::atomic::AtomicBool,
        read_done: tokio::sync::Notify,
        release: tokio::sync::Notify,
    }

    #[async_trait::async_trait]
    impl SessionStore for PausingStore {
        async fn insert(&self, key: SessionKey, s: &Session) -> Result<(), StoreError> {
            self.inner.insert(key, s).await
        }
        async fn get(&self, key: SessionKey) -> Result<Option<Session>, StoreError> {
            let read = self.inner.get(key).await;
            if !self.paused.swap(true, Ordering::SeqCst) {
                self.read_done.notify_one();
                self.release.notified().await;
            }
            read
        }
        async fn delete(&self, key: SessionKey) -> Result<(), StoreError> {
            self.inner.delete(key).await
        }
        async fn delete_user(&self, user_key: &str) -> Result<Vec<SessionKey>, StoreError> {
            self.inner.delete_user(user_key).await
        }
        async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
            self.inner.purge_expired(now).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_session_revoked_during_a_store_read_is_not_cached_again() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let writer = SqlSessionStore::open(&url).await.expect("store");
        let id = SessionId::random();
        writer
            .insert(id.key(), &session(3600))
            .await
            .expect("insert");
        let store = Arc::new(PausingStore {
            inner: SqlSessionStore::open(&url).await.expect("store"),
            paused: Default::default(),
            read_done: tokio::sync::Notify::new(),
            release: tokio::sync::Notify::new(),
        });
        let m = Arc::new(SessionManager::new(
            store.clone(),
            100,
            Duration::from_secs(300),
        ));
        // A request misses the cache and reads the session from the store…
        let reader = tokio::spawn({
            let (m, id) = (m.clone(), id.clone());
            async move { m.get(&id).await }
        });
        store.read_done.notified().await;
        // …the session is revoked while that read is in flight…
        let revoke = tokio::spawn({
            let (m, id) = (m.clone(), id.clone());
            async move { m.revoke(&id).await }
        });
        revoke.await.expect("join").expect("revoke");
        // …and the read finishes with the row it saw before.
        store.release.notify_one();
        let _ = reader.await.expect("join");
        // The next request must not find the revoked session in the cache.
        let next = m.get(&id).await.expect("get");
        assert!(
            next.is_none(),
            "the revoked session came back from the cache"
        );
    }

    /// Counts store reads.
    struct CountingStore {
        inner: SqlSessionStore,
        reads: AtomicU64,
    }

    #[async_trait::async_trait]
    impl SessionStore for CountingStore {
        async fn insert(&self, key: SessionKey, s: &Session) -> Result<(), StoreError> {
            self.inner.insert(key, s).await
        }
        async fn get(&self, key: SessionKey) -> Result<Option<Session>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.get(key).await
        }
        async fn delete(&self, key: SessionKey) -> Result<(), StoreError> {
            self.inner.delete(key).await
        }
        async fn delete_user(&self, user_key: &str) -> Result<Vec<SessionKey>, StoreError> {
            self.inner.delete_user(user_key).await
        }
        async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
            self.inner.purge_expired(now).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_ids_cost_one_store_read_and_cold_ones_one_for_all() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = Arc::new(CountingStore {
            inner: SqlSessionStore::open(&url).await.expect("store"),
            reads: AtomicU64::new(0),
        });
        let m = Arc::new(SessionManager::new(
            store.clone(),
            100,
            Duration::from_secs(300),
        ));
        // A random cookie, sent 100 times: one store read.
        let random = SessionId::random();
        for _ in 0..100 {
            assert!(m.get(&random).await.expect("get").is_none());
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);
        // A real session only in the store (just after a restart), asked for by 100
        // requests at once: one store read, and all 100 get it.
        let id = SessionId::random();
        store
            .inner
            .insert(id.key(), &session(3600))
            .await
            .expect("insert");
        let barrier = Arc::new(tokio::sync::Barrier::new(100));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (m, id, barrier) = (m.clone(), id.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    m.get(&id).await
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.expect("join").expect("get").is_some());
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
    }
}
