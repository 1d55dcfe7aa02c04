//! The session manager: a moka cache in front of the store. Lookups on the hot path hit the
//! cache; revocation removes from both, so it takes effect on the very next request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::future::Cache;

use super::batch::BatchedReads;
use super::{Session, SessionId, SessionKey, SessionStore, StoreError, now_unix};

/// How long an id the store does not know is answered from memory. Random cookies then cost
/// one store read per id and this long, not one per request; a real id is never in it
/// (ids are random 256-bit values, unknown to anyone before `create` returns them).
const UNKNOWN_TTL: Duration = Duration::from_secs(30);
const UNKNOWN_CAPACITY: u64 = 100_000;

pub struct SessionManager {
    store: Arc<dyn SessionStore>,
    /// Cache misses go through it, so a burst of them shares store reads.
    reads: Arc<BatchedReads>,
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
            reads: BatchedReads::new(store.clone()),
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
        let reads = self.reads.clone();
        // Single-flight: concurrent misses for one key share one store read (and misses
        // for different keys share batched reads).
        let loaded = self
            .cache
            .try_get_with(key, async move {
                match reads.get(key).await {
                    Ok(Some(s)) => Ok(s),
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
            Err(e) => match e.as_ref() {
                None => {
                    self.unknown.insert(key, ());
                    Ok(None)
                }
                Some(err) => Err(StoreError::Shared(err.clone())),
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
    use crate::session::{Found, SqlSessionStore, session_of};
    use tokio::sync::Semaphore;

    /// A store for a test: the reads it is given, and every write passed to its `inner`
    /// SQLite store.
    macro_rules! test_store {
        ($name:ident { $($reads:tt)* }) => {
            #[async_trait::async_trait]
            impl SessionStore for $name {
                $($reads)*
                async fn insert(&self, key: SessionKey, s: &Session) -> Result<(), StoreError> {
                    self.inner.insert(key, s).await
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
        };
    }

    fn session(expires_in: i64) -> Session {
        session_of("u", expires_in)
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

    test_store!(PausingStore {
        async fn get(&self, key: SessionKey) -> Result<Option<Session>, StoreError> {
            let read = self.inner.get(key).await;
            if !self.paused.swap(true, Ordering::SeqCst) {
                self.read_done.notify_one();
                self.release.notified().await;
            }
            read
        }
    });

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_session_revoked_during_a_store_read_is_not_cached_again() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let writer = SqlSessionStore::open(&url).await.expect("store");
        let id = stored_sessions(&writer, 1).await.remove(0);
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

    test_store!(CountingStore {
        async fn get(&self, key: SessionKey) -> Result<Option<Session>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.get(key).await
        }
    });

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
        let id = stored_sessions(&store.inner, 1).await.remove(0);
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

    /// Records the size of each batched read; holds every read until the test opens the
    /// gate, and fails the first instead when told to.
    struct GatedStore {
        inner: SqlSessionStore,
        batches: std::sync::Mutex<Vec<usize>>,
        gate: Semaphore,
        fail_first: bool,
    }

    test_store!(GatedStore {
        async fn get(&self, _: SessionKey) -> Result<Option<Session>, StoreError> {
            unreachable!("cache misses are read in batches")
        }
        async fn get_many(&self, keys: &[SessionKey]) -> Result<Found, StoreError> {
            let first = {
                let mut batches = self.batches.lock().expect("batches");
                batches.push(keys.len());
                batches.len() == 1
            };
            // The gate stays open once opened.
            drop(self.gate.acquire().await.expect("gate"));
            if first && self.fail_first {
                return Err(StoreError::Corrupt("the disk is on fire".into()));
            }
            self.inner.get_many(keys).await
        }
    });

    async fn gated(fail_first: bool) -> (tempfile::TempDir, Arc<GatedStore>, Arc<SessionManager>) {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = Arc::new(GatedStore {
            inner: SqlSessionStore::open(&url).await.expect("store"),
            batches: Default::default(),
            gate: Semaphore::new(0),
            fail_first,
        });
        let m = Arc::new(SessionManager::new(
            store.clone(),
            1000,
            Duration::from_secs(300),
        ));
        (dir, store, m)
    }

    /// `n` sessions written straight to `store` (subjects u0, u1, …), as a restart leaves them.
    async fn stored_sessions(store: &SqlSessionStore, n: usize) -> Vec<SessionId> {
        let ids: Vec<_> = (0..n).map(|_| SessionId::random()).collect();
        for (i, id) in ids.iter().enumerate() {
            store
                .insert(id.key(), &session_of(&format!("u{i}"), 3600))
                .await
                .expect("insert");
        }
        ids
    }

    /// A request for `id`'s session, under way.
    fn miss(
        m: &Arc<SessionManager>,
        id: &SessionId,
    ) -> tokio::task::JoinHandle<Result<Option<Arc<Session>>, StoreError>> {
        let (m, id) = (m.clone(), id.clone());
        tokio::spawn(async move { m.get(&id).await })
    }

    /// Waits until `reads` reads are held at the gate and `n` misses queue behind them.
    async fn until_queued(store: &GatedStore, m: &SessionManager, reads: usize, n: usize) {
        for _ in 0..500 {
            if store.batches.lock().expect("batches").len() == reads && m.reads.waiting() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{n} misses never queued behind {reads} reads");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn misses_for_different_sessions_share_store_reads_and_each_gets_its_own() {
        let (_dir, store, m) = gated(false).await;
        // 95 sessions only in the store (a restart), and 5 ids it never issued.
        let mut ids = Vec::new();
        for i in 0..100 {
            let id = SessionId::random();
            if i % 20 != 7 {
                store
                    .inner
                    .insert(id.key(), &session_of(&format!("u{i}"), 3600))
                    .await
                    .expect("insert");
            }
            ids.push(id);
        }
        // The first miss is read alone; once more than 64 wait behind it, a second reader
        // takes 64; the last 35 wait for whichever is back first.
        let mut tasks = vec![miss(&m, &ids[0])];
        until_queued(&store, &m, 1, 0).await;
        tasks.extend(ids[1..].iter().map(|id| miss(&m, id)));
        until_queued(&store, &m, 2, 35).await;
        store.gate.add_permits(Semaphore::MAX_PERMITS);
        for (i, t) in tasks.into_iter().enumerate() {
            let got = t.await.expect("join").expect("get");
            if i % 20 == 7 {
                assert!(
                    got.is_none(),
                    "request {i}: an id never issued found a session"
                );
            } else {
                let got = got.unwrap_or_else(|| panic!("request {i}: its session was not found"));
                assert_eq!(
                    got.subject(),
                    format!("u{i}"),
                    "request {i} got another's session"
                );
            }
        }
        // Three reads for 100 misses.
        let mut batches = store.batches.lock().expect("batches").clone();
        batches.sort();
        assert_eq!(batches, vec![1, 35, 64]);
        // Cached now: no further reads.
        assert!(m.get(&ids[0]).await.expect("get").is_some());
        assert_eq!(store.batches.lock().expect("batches").len(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_batched_read_fails_each_waiting_request_and_the_next_miss_reads_again() {
        let (_dir, store, m) = gated(true).await;
        let ids = stored_sessions(&store.inner, 3).await;
        let first = miss(&m, &ids[0]);
        until_queued(&store, &m, 1, 0).await;
        let second = miss(&m, &ids[1]);
        until_queued(&store, &m, 1, 1).await;
        store.gate.add_permits(Semaphore::MAX_PERMITS);
        let failed = first.await.expect("join");
        assert!(
            matches!(&failed, Err(e) if e.to_string().contains("on fire")),
            "the failing read's request: {failed:?}"
        );
        // The second request was in the next batch, which the store answered.
        let second = second.await.expect("join").expect("get").expect("session");
        assert_eq!(second.subject(), "u1");
        // The failure was not remembered as "no such session".
        let again = m.get(&ids[0]).await.expect("get").expect("session");
        assert_eq!(again.subject(), "u0");
        assert!(m.get(&ids[2]).await.expect("get").is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_record_that_cannot_be_read_fails_only_its_own_request_in_a_batch() {
        let (dir, store, m) = gated(false).await;
        let ids = stored_sessions(&store.inner, 3).await;
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let db = crate::db::Db::open(&url).await.expect("db");
        sqlx::query("UPDATE sessions SET record = $2 WHERE id_hash = $1")
            .bind(ids[1].key().to_hex())
            .bind(vec![1u8, 0xff])
            .execute(&db.pool)
            .await
            .expect("corrupt one record");
        // u0 is read alone; u1 (unreadable) and u2 share the next read.
        let first = miss(&m, &ids[0]);
        until_queued(&store, &m, 1, 0).await;
        let (broken, second) = (miss(&m, &ids[1]), miss(&m, &ids[2]));
        until_queued(&store, &m, 1, 2).await;
        store.gate.add_permits(Semaphore::MAX_PERMITS);
        let first = first.await.expect("join").expect("get").expect("session");
        assert_eq!(first.subject(), "u0");
        let second = second.await.expect("join").expect("get").expect("session");
        assert_eq!(second.subject(), "u2");
        let broken = broken.await.expect("join");
        assert!(
            matches!(&broken, Err(e) if e.to_string().contains("corrupt record")),
            "the unreadable record's request: {broken:?}"
        );
        assert_eq!(*store.batches.lock().expect("batches"), vec![1, 2]);
        // Not taken for an unknown id: the next request reads the store again.
        assert!(m.get(&ids[1]).await.is_err());
        assert_eq!(store.batches.lock().expect("batches").len(), 3);
    }

    /// A store whose first batched read panics.
    struct PanickingStore {
        inner: SqlSessionStore,
        panicked: std::sync::atomic::AtomicBool,
    }

    test_store!(PanickingStore {
        async fn get(&self, _: SessionKey) -> Result<Option<Session>, StoreError> {
            unreachable!("cache misses are read in batches")
        }
        async fn get_many(&self, keys: &[SessionKey]) -> Result<Found, StoreError> {
            assert!(
                self.panicked.swap(true, Ordering::SeqCst),
                "the first read panics"
            );
            self.inner.get_many(keys).await
        }
    });

    #[tokio::test]
    async fn a_reader_that_dies_answers_its_waiters_and_the_next_miss_reads_again() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = Arc::new(PanickingStore {
            inner: SqlSessionStore::open(&url).await.expect("store"),
            panicked: Default::default(),
        });
        let id = stored_sessions(&store.inner, 1).await.remove(0);
        let m = SessionManager::new(store, 100, Duration::from_secs(300));
        let abandoned = m.get(&id).await;
        assert!(
            matches!(&abandoned, Err(e) if e.to_string().contains("abandoned")),
            "the request whose read died: {abandoned:?}"
        );
        // A new reader starts: without one the request would wait forever.
        let again = tokio::time::timeout(Duration::from_secs(5), m.get(&id))
            .await
            .expect("no reader started for the next miss");
        assert!(again.expect("get").is_some());
    }
}
