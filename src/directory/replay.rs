//! SAML assertion ids already used, kept until their assertion expires: one INSERT decides,
//! so of two instances receiving the same response only one accepts it.

use sha2::{Digest, Sha256};

use super::{Directory, DirectoryError};

impl Directory {
    /// Records the first use of assertion `id` from `issuer`; false if it was used before.
    pub async fn first_use_of_assertion(
        &self,
        issuer: &str,
        id: &str,
        expires_at: i64,
    ) -> Result<bool, DirectoryError> {
        let mut h = Sha256::new();
        h.update(issuer.as_bytes());
        h.update([0u8]);
        h.update(id.as_bytes());
        let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let r = sqlx::query(
            "INSERT INTO saml_assertions (id_hash, expires_at) VALUES ($1, $2) ON CONFLICT (id_hash) DO NOTHING",
        )
        .bind(key)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn purge_assertion_ids(&self, now: i64) -> Result<u64, DirectoryError> {
        let r = sqlx::query("DELETE FROM saml_assertions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}
