//! Session records read from an SQLite file on the calling thread.
//!
//! sqlx runs every SQLite connection on a worker thread of its own, so each store read is
//! a message to that thread and a wake-up back. After a restart, when every browser's first
//! request reads its session, that hop cost more than the read: two thread switches on a
//! busy core, and about 6 k instructions of channel bookkeeping per batch
//! (docs/benchmarks.md). Here each thread that reads sessions keeps a read-only connection
//! of its own and reads the records directly, while writes, purges and PostgreSQL stay on
//! sqlx.
//!
//! A read blocks its thread for as long as SQLite takes: tens of microseconds for a batch
//! of records in the page cache, the way nginx reads files from disk on its event loop.
//! Anything unusual (the file cannot be opened, a lock is busy, a statement fails) is
//! returned as an error, and the caller reads through sqlx instead, so this is only ever a
//! faster path, never a different answer.
//!
//! The connections stay open for the life of the store, holding the file as it was when
//! they opened it: an SQLite database is not to be replaced under a running gateway (its
//! WAL would not survive that either); restore a backup with the gateway stopped.

use std::cell::RefCell;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::SqliteConnectOptions;
use thread_local::ThreadLocal;

use super::SessionKey;

pub(super) struct SqliteReads {
    path: PathBuf,
    /// One connection per thread that reads; they close with the store.
    connections: ThreadLocal<RefCell<Connection>>,
}

impl SqliteReads {
    /// For a database URL naming an SQLite file; `None` for PostgreSQL and in-memory
    /// databases (another connection would see a different, empty database).
    pub(super) fn for_url(url: &str) -> Option<Self> {
        let options = url
            .strip_prefix("sqlite:")?
            .split_once('?')
            .map_or("", |(_, o)| o);
        let in_memory = url.contains(":memory:") || options.split('&').any(|o| o == "mode=memory");
        // The file as sqlx reads the URL (percent-decoded), so both open the same one.
        let sqlx_options = SqliteConnectOptions::from_str(url).ok()?;
        (!in_memory).then(|| Self {
            path: sqlx_options.get_filename().to_path_buf(),
            connections: ThreadLocal::new(),
        })
    }

    /// Calls `each` with the id hash and record of every stored session among `keys`
    /// (`statement` asks for `slots` of them: the keys, padded with the last one).
    pub(super) fn records(
        &self,
        statement: &str,
        slots: usize,
        keys: &[SessionKey],
        mut each: impl FnMut(&str, Option<&[u8]>),
    ) -> rusqlite::Result<()> {
        let Some(last) = keys.len().checked_sub(1) else {
            return Ok(());
        };
        let connection = self
            .connections
            .get_or_try(|| self.open().map(RefCell::new))?;
        let connection = connection.try_borrow_mut().map_err(|_| busy())?;
        let mut statement = connection.prepare_cached(statement)?;
        let hex = (0..slots).map(|i| keys[i.min(last)].to_hex());
        let mut rows = statement.query(rusqlite::params_from_iter(hex))?;
        while let Some(row) = rows.next()? {
            let id = row.get_ref(0)?.as_str()?;
            let record = row.get_ref(1)?.as_blob_or_null()?;
            each(id, record);
        }
        Ok(())
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait for a lock on a thread that serves requests: a busy database is read
        // through sqlx instead, whose worker thread may wait.
        connection.busy_timeout(Duration::ZERO)?;
        // As the sqlx connections do (db/mod.rs): pages through a memory map.
        connection.pragma_update(None, "mmap_size", 268_435_456)?;
        Ok(connection)
    }
}

/// The connection is already in use on this thread; cannot happen, since a read never
/// awaits, but it is an error to fall back on rather than a panic.
fn busy() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some("session reader already in use on this thread".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_are_read_directly() {
        let path = |url: &str| SqliteReads::for_url(url).map(|r| r.path);
        assert_eq!(
            path("sqlite:///var/lib/b/borderless.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/b/borderless.db"))
        );
        assert_eq!(
            path("sqlite://data/borderless.db"),
            Some(PathBuf::from("data/borderless.db"))
        );
        assert_eq!(path("sqlite:data/b.db"), Some(PathBuf::from("data/b.db")));
        assert_eq!(
            path("sqlite:///srv/my%20data/b.db"),
            Some(PathBuf::from("/srv/my data/b.db"))
        );
        assert_eq!(path("sqlite::memory:"), None);
        assert_eq!(path("sqlite://file.db?mode=memory&cache=shared"), None);
        assert_eq!(path("postgres://u@localhost/db"), None);
    }
}
