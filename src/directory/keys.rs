//! Admin API keys: shown once at creation, stored only as SHA-256, revocable.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::audit::record;
use super::{Actor, Directory, DirectoryError};
use crate::db::now;

/// Keys start with this so they are recognisable in a secret scanner.
pub const KEY_PREFIX: &str = "blk_";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminKey {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Directory {
    /// Creates a key and returns it with its secret, which is not stored anywhere.
    pub async fn create_admin_key(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<(AdminKey, String), DirectoryError> {
        if name.is_empty() || name.len() > 64 {
            return Err(DirectoryError::Invalid(
                "a key name has 1 to 64 characters".into(),
            ));
        }
        let secret = format!("{KEY_PREFIX}{}", crate::token::random_token());
        let id = super::new_id();
        let mut tx = self.write_tx().await?;
        let inserted = sqlx::query(
            "INSERT INTO admin_keys (id, name, key_hash, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(name)
        .bind(hash_secret(&secret))
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(DirectoryError::Invalid(format!(
                "a key named {name} exists"
            )));
        }
        record(
            &mut tx,
            actor,
            "admin_key.created",
            Some(&id),
            serde_json::json!({ "name": name }),
        )
        .await?;
        tx.commit().await?;
        let key = self
            .admin_keys()
            .await?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or_else(|| DirectoryError::NotFound(format!("key {id}")))?;
        Ok((key, secret))
    }

    pub async fn admin_keys(&self) -> Result<Vec<AdminKey>, DirectoryError> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, revoked_at, last_used_at FROM admin_keys ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AdminKey {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                })
            })
            .collect()
    }

    /// Revokes a key by name or id.
    pub async fn revoke_admin_key(&self, actor: &Actor, key: &str) -> Result<(), DirectoryError> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query(
            "UPDATE admin_keys SET revoked_at = $1 \
             WHERE (id = $2 OR name = $2) AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(key)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(DirectoryError::NotFound(format!("active key {key}")));
        }
        record(
            &mut tx,
            actor,
            "admin_key.revoked",
            None,
            serde_json::json!({ "key": key }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The name of the active key with this secret, if any.
    pub async fn verify_admin_key(&self, secret: &str) -> Result<Option<String>, DirectoryError> {
        if !secret.starts_with(KEY_PREFIX) {
            return Ok(None);
        }
        let row = sqlx::query(
            "UPDATE admin_keys SET last_used_at = $1 \
             WHERE key_hash = $2 AND revoked_at IS NULL RETURNING name",
        )
        .bind(now())
        .bind(hash_secret(secret))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("name")).transpose()?)
    }
}
