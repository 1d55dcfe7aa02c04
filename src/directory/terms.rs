//! Terms of use acceptances: per user, document and version, so a new version is asked for
//! again and the history stays for the audit.

use sqlx::Row;

use super::audit::record;
use super::{Actor, Directory, DirectoryError};
use crate::db::now;

impl Directory {
    /// The `id@version` of every terms version the user accepted.
    pub async fn accepted_terms(&self, user_id: &str) -> Result<Vec<String>, DirectoryError> {
        let rows = sqlx::query(
            "SELECT terms_id, version FROM terms_acceptances WHERE user_id = $1 ORDER BY accepted_at",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(format!(
                    "{}@{}",
                    r.try_get::<String, _>("terms_id")?,
                    r.try_get::<String, _>("version")?
                ))
            })
            .collect()
    }

    /// Records that the user accepted this version (again is harmless), audited; running
    /// gateways re-read the user's state through the revocation feed.
    pub async fn accept_terms(
        &self,
        user_id: &str,
        terms_id: &str,
        version: &str,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query(
            "INSERT INTO terms_acceptances (user_id, terms_id, version, accepted_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, terms_id, version) DO NOTHING",
        )
        .bind(user_id)
        .bind(terms_id)
        .bind(version)
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            record(
                &mut tx,
                &Actor::Gateway,
                "terms.accepted",
                Some(user_id),
                serde_json::json!({ "terms": terms_id, "version": version }),
            )
            .await?;
            Directory::access_changed(&mut tx, user_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
