//! The one database behind sessions and the directory: an SQLite file (the embedded default)
//! or PostgreSQL (several gateway instances sharing one directory).
//!
//! Queries go through sqlx's `Any` driver with `$1` placeholders, which both backends accept,
//! so each query is written once. The DDL differs a little (auto-increment), so each backend
//! has its own migration folder with the same versions.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("src/db/migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("src/db/migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database URL must start with sqlite:// or postgres://, got `{0}`")]
    Scheme(String),
    #[error("database folder {0}: {1}")]
    Folder(String, std::io::Error),
}

/// A migrated connection pool.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// The URL the pool connected with, for an SQLite database: the session store also
    /// reads that file directly (`session/sqlite_reads.rs`).
    pub sqlite_url: Option<String>,
}

impl Db {
    /// Connects (creating an SQLite file and its folder if needed) and applies migrations.
    pub async fn open(url: &str) -> Result<Self, DbError> {
        install_default_drivers();
        let backend = backend_of(url)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite(url)?,
            Backend::Postgres => url.to_string(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            // A ping per acquire is a round trip to the connection's worker thread for
            // SQLite, which has no network to lose; a session cache miss paid it on every
            // read (docs/benchmarks.md). PostgreSQL keeps it: a server restart leaves dead
            // connections in the pool.
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets the CLI write while a running gateway reads; the busy
                        // timeout makes concurrent writers wait instead of failing. Reads
                        // through a memory map (up to 256 MB of the file) skip a read() and
                        // a copy per page: after a restart, when every browser's first
                        // request reads its session, that took 8 % off their latency
                        // (docs/benchmarks.md).
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA mmap_size = 268435456")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let sqlite_url = (backend == Backend::Sqlite).then_some(url);
        Ok(Self {
            pool,
            backend,
            sqlite_url,
        })
    }
}

fn backend_of(url: &str) -> Result<Backend, DbError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(DbError::Scheme(url.chars().take(20).collect()))
    }
}

/// SQLite creates the file only when asked (`mode=rwc`) and never its folder; a fresh
/// checkout has no `data/` yet.
fn prepare_sqlite(url: &str) -> Result<String, DbError> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .map(|p| p.split('?').next().unwrap_or(p))
        && let Some(dir) = std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| DbError::Folder(dir.display().to_string(), e))?;
    }
    Ok(if url.contains("mode=") || url.contains(":memory:") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    crate::session::now_unix()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_ask_for_creation_once() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}/sub/x.db", dir.path().display());
        assert!(prepare_sqlite(&url).expect("ok").ends_with("x.db?mode=rwc"));
        assert!(dir.path().join("sub").is_dir());
        assert_eq!(
            prepare_sqlite("sqlite://a.db?mode=ro").expect("ok"),
            "sqlite://a.db?mode=ro"
        );
        assert!(backend_of("mysql://x").is_err());
        assert_eq!(
            backend_of("postgresql://u@h/db").expect("pg"),
            Backend::Postgres
        );
    }
}
