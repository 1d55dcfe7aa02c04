//! What a partner's Shared Signals events change in the directory: a user's sessions end
//! (`session-revoked`, `credential-change`), or the partner's MFA from before a moment stops
//! counting (`assurance-level-change` downwards). Each is one transaction with its audit
//! event and a revocation-feed entry, so every gateway instance acts on the next request.

use sqlx::Row;

use super::audit::record;
use super::users::end_sessions;
use super::{Actor, Directory, DirectoryError};

impl Directory {
    /// When a partner last lowered the user's assurance, if ever.
    pub async fn assurance_lowered_at(&self, user_id: &str) -> Result<Option<i64>, DirectoryError> {
        Ok(
            sqlx::query("SELECT assurance_lowered_at FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get::<Option<i64>, _>("assurance_lowered_at"))
                .transpose()?
                .flatten(),
        )
    }

    /// Ends every session of the user because a partner said so (`action` names the event).
    pub async fn end_sessions_for_signal(
        &self,
        actor: &Actor,
        user_id: &str,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<u64, DirectoryError> {
        let mut tx = self.write_tx().await?;
        let n = end_sessions(&mut tx, user_id).await?;
        record(&mut tx, actor, action, Some(user_id), detail).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The partner's MFA performed before `at` no longer counts for the user.
    pub async fn lower_assurance(
        &self,
        actor: &Actor,
        user_id: &str,
        at: i64,
        detail: serde_json::Value,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE users SET assurance_lowered_at = $1 WHERE id = $2")
            .bind(at)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        Directory::access_changed(&mut tx, user_id).await?;
        record(
            &mut tx,
            actor,
            "ssf.assurance_lowered",
            Some(user_id),
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
