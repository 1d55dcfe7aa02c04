//! Store reads for different sessions, made while one is already under way, share the next
//! one. Just after a restart every browser's first request misses the cache; read one by
//! one, each paid a round trip to the database (for SQLite, two thread switches and the
//! pool's bookkeeping) that cost more than the rest of the request. Batched, a burst of
//! misses costs one query per [`MAX_KEYS_PER_READ`] sessions, and a lone miss is read at
//! once, as before.
//!
//! The first miss starts a reader task; misses that arrive while it waits for the database
//! queue up and are read together as soon as it is back. When more wait than the running
//! readers take in one read each, another reader starts, up to [`MAX_READERS`]: a database
//! a network round trip away would otherwise cap a burst at 64 sessions per round trip.
//! The same key is never asked for twice at once, because the cache lets one caller per key
//! through (`SessionManager::get_cold`).

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::store::MAX_KEYS_PER_READ;
use super::{Session, SessionKey, SessionStore, StoreError};

type Answer = Result<Option<Arc<Session>>, Arc<StoreError>>;

/// Reads under way at once, at most: below the database pool's size (8 for SQLite), so
/// sign-ins and the admin API still find a connection during a burst.
pub(super) const MAX_READERS: usize = 4;

pub(super) struct BatchedReads {
    store: Arc<dyn SessionStore>,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<(SessionKey, oneshot::Sender<Answer>)>,
    /// Reader tasks running; each takes what is waiting until nothing is.
    readers: usize,
}

impl BatchedReads {
    pub(super) fn new(store: Arc<dyn SessionStore>) -> Arc<Self> {
        Arc::new(Self {
            store,
            queue: Mutex::default(),
        })
    }

    /// The stored session under `key`, read with whatever else is waiting.
    pub(super) async fn get(self: &Arc<Self>, key: SessionKey) -> Answer {
        let (tx, rx) = oneshot::channel();
        let start_reader = {
            let mut queue = self.lock();
            queue.waiting.push((key, tx));
            // More waiting than the running readers take in one read each.
            let backlog = queue.waiting.len() > MAX_KEYS_PER_READ * queue.readers;
            let start = backlog && queue.readers < MAX_READERS;
            queue.readers += usize::from(start);
            start
        };
        if start_reader {
            // A task of its own, not the caller's: a request that is cancelled (the client
            // went away) must not strand the others waiting in its batch.
            tokio::spawn(self.clone().read_while_waiting());
        }
        rx.await.unwrap_or(Err(Arc::new(StoreError::Abandoned)))
    }

    async fn read_while_waiting(self: Arc<Self>) {
        let mut stop = StopGuard {
            reads: &self,
            normal: false,
        };
        loop {
            let batch: Vec<_> = {
                let mut queue = self.lock();
                if queue.waiting.is_empty() {
                    queue.readers -= 1;
                    stop.normal = true;
                    return;
                }
                let n = queue.waiting.len().min(MAX_KEYS_PER_READ);
                queue.waiting.drain(..n).collect()
            };
            let keys: Vec<SessionKey> = batch.iter().map(|(key, _)| *key).collect();
            match self.store.get_many(&keys).await {
                Ok(found) => {
                    let found: Vec<(SessionKey, Answer)> = found
                        .into_iter()
                        .map(|(k, read)| (k, read.map(|s| Some(Arc::new(s))).map_err(Arc::new)))
                        .collect();
                    for (key, tx) in batch {
                        let answer = found.iter().find(|(k, _)| *k == key).map(|(_, a)| a);
                        // A send fails only when the request was cancelled meanwhile.
                        let _ = tx.send(answer.cloned().unwrap_or(Ok(None)));
                    }
                }
                Err(e) => {
                    let e = Arc::new(e);
                    for (_, tx) in batch {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
        }
    }

    /// How many misses wait for the next read.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding the lock; a poisoned queue is still consistent.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// When a reader ends other than by finding the queue empty (a panic, or its runtime
/// shutting down) and it was the last, the requests still waiting are answered with an
/// error, and the next miss starts a new reader.
struct StopGuard<'a> {
    reads: &'a BatchedReads,
    normal: bool,
}

impl Drop for StopGuard<'_> {
    fn drop(&mut self) {
        if !self.normal {
            let mut queue = self.reads.lock();
            queue.readers -= 1;
            if queue.readers == 0 {
                queue.waiting.clear();
            }
        }
    }
}
