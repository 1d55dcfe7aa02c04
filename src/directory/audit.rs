//! The audit log: who did what to whom, written in the same transaction as the change.

use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use super::{Actor, Directory, DirectoryError};
use crate::db::now;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: serde_json::Value,
}

pub(crate) async fn record(
    tx: &mut Transaction<'_, Any>,
    actor: &Actor,
    action: &str,
    target: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), DirectoryError> {
    sqlx::query(
        "INSERT INTO audit_events (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now())
    .bind(actor.label())
    .bind(action)
    .bind(target)
    .bind(detail.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Directory {
    /// Events at or after `since` (Unix seconds), oldest first, at most `limit`.
    pub async fn audit_since(
        &self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, DirectoryError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, target, detail FROM audit_events \
             WHERE at >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(AuditEvent {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: serde_json::from_str(&detail)
                        .map_err(|e| DirectoryError::Corrupt(e.to_string()))?,
                })
            })
            .collect()
    }

    /// Writes one event on its own (sign-in refusals and other events without a change).
    pub async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.write_tx().await?;
        record(&mut tx, actor, action, target, detail).await?;
        tx.commit().await?;
        Ok(())
    }
}
