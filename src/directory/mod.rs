//! The guest directory: users (guests and members), invitations, groups, app assignments,
//! admin API keys, audit events and the revocation feed, in the gateway's database.
//!
//! Every change that matters to security is one transaction that also writes its audit
//! event, so the log and the state cannot disagree.

pub mod address;
pub mod audit;
pub mod groups;
pub mod invitations;
pub mod keys;
pub mod mfa;
pub mod passcodes;
pub mod replay;
pub mod signals;
pub mod terms;
pub mod users;

use sqlx::AnyPool;

use crate::db::{Backend, Db};

pub use audit::AuditEvent;
pub use invitations::{EmailStatus, Invitation, InvitationStatus};
pub use users::{User, UserState, UserType};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// An error shared by every caller waiting on one cached load.
    #[error(transparent)]
    Shared(#[from] std::sync::Arc<DirectoryError>),
}

/// Who did something, for the audit log and permission checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The local command line (whoever can read the database is an admin).
    Cli,
    /// A named admin API key.
    ApiKey(String),
    /// A signed-in user of the directory.
    User { id: String, mail: String },
    /// The gateway itself (redemption, sign-in).
    Gateway,
    /// A partner's Shared Signals transmitter (its partner entry's name).
    Partner(String),
}

impl Actor {
    pub fn label(&self) -> String {
        match self {
            Actor::Cli => "cli".into(),
            Actor::ApiKey(name) => format!("api-key:{name}"),
            Actor::User { mail, .. } => format!("user:{mail}"),
            Actor::Gateway => "gateway".into(),
            Actor::Partner(name) => format!("partner:{name}"),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Actor::Cli | Actor::ApiKey(_) | Actor::Gateway)
    }
}

#[derive(Clone, Debug)]
pub struct Directory {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

impl Directory {
    pub fn new(db: &Db) -> Self {
        Self {
            pool: db.pool.clone(),
            backend: db.backend,
        }
    }

    /// A transaction that will write. On SQLite it takes the write lock at `BEGIN
    /// IMMEDIATE`: a deferred transaction that read first and then tries to write after
    /// another process committed fails at once with "database is locked" (its snapshot is
    /// stale, so the busy timeout cannot help); an immediate one waits its turn instead.
    pub(crate) async fn write_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// The connection pool, for the few callers that run their own queries (tests, tools).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Opens the database at `url` (running migrations).
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        Ok(Self::new(&Db::open(url).await?))
    }
}

/// A random v4 UUID, the form Graph uses for object ids.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn parse_json_list(s: &str) -> Result<Vec<String>, DirectoryError> {
    serde_json::from_str(s).map_err(|e| DirectoryError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write transaction that read first, while another process commits a write: with a
    /// deferred BEGIN its own write would fail at once (stale snapshot); with IMMEDIATE the
    /// other writer waits for it, and both succeed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_transaction_never_fails_on_another_writer() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let ours = Directory::open(&url).await.expect("open");
        let theirs = Directory::open(&url).await.expect("open");
        let mut tx = ours.write_tx().await.expect("begin");
        sqlx::query("SELECT COUNT(*) FROM revocations")
            .fetch_one(&mut *tx)
            .await
            .expect("read");
        let other = tokio::spawn(async move {
            sqlx::query("INSERT INTO revocations (user_id, at) VALUES ('them', 0)")
                .execute(theirs.pool())
                .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        sqlx::query("INSERT INTO revocations (user_id, at) VALUES ('us', 0)")
            .execute(&mut *tx)
            .await
            .expect("our write after theirs began");
        tx.commit().await.expect("commit");
        other
            .await
            .expect("join")
            .expect("their write waited and succeeded");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revocations")
            .fetch_one(ours.pool())
            .await
            .expect("count");
        assert_eq!(n, 2);
    }
}
