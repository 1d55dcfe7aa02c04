//! MFA methods in the directory: each user's TOTP authenticator (its secret sealed by
//! `mfa::Sealer`), recovery codes (hashed) and the wrong-code lock-out. Accepting a code
//! is one conditional UPDATE, so two instances (or two tabs) cannot both spend one step
//! or one recovery code.

use serde::Serialize;
use sqlx::Row;

use super::audit::record;
use super::users::end_sessions;
use super::{Actor, Directory, DirectoryError};
use crate::db::now;

/// A method as an admin sees it (never the secret).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MfaMethod {
    pub id: String,
    pub kind: String,
    pub confirmed: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A user's TOTP authenticator, as the check needs it.
#[derive(Debug, Clone)]
pub struct StoredTotp {
    pub id: String,
    pub sealed_secret: String,
    pub confirmed: bool,
    pub last_step: i64,
}

/// The answer to "may this account try a code now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempts {
    Open { failures: i64 },
    LockedUntil(i64),
}

/// What the row's sealed secret is bound to: moving it to another row does not open it.
pub fn seal_context(user_id: &str, method_id: &str) -> String {
    format!("mfa:{user_id}:{method_id}")
}

impl Directory {
    pub async fn mfa_methods(&self, user_id: &str) -> Result<Vec<MfaMethod>, DirectoryError> {
        let rows = sqlx::query(
            "SELECT id, kind, confirmed, created_at, last_used_at FROM mfa_methods \
             WHERE user_id = $1 ORDER BY created_at",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MfaMethod {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    confirmed: r.try_get::<i64, _>("confirmed")? != 0,
                    created_at: r.try_get("created_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                })
            })
            .collect()
    }

    /// The user's TOTP authenticator: the confirmed one, else the one being enrolled.
    pub async fn mfa_totp(&self, user_id: &str) -> Result<Option<StoredTotp>, DirectoryError> {
        let row = sqlx::query(
            "SELECT id, secret, confirmed, last_step FROM mfa_methods \
             WHERE user_id = $1 AND kind = 'totp' ORDER BY confirmed DESC, created_at DESC LIMIT 1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StoredTotp {
                id: r.try_get("id")?,
                sealed_secret: r.try_get("secret")?,
                confirmed: r.try_get::<i64, _>("confirmed")? != 0,
                last_step: r.try_get("last_step")?,
            })
        })
        .transpose()
    }

    /// Starts enrolling a TOTP authenticator: replaces any unconfirmed one. Refused when the
    /// user already has a confirmed one (an admin resets it first).
    pub async fn mfa_begin_totp(
        &self,
        user_id: &str,
        method_id: &str,
        sealed_secret: &str,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.write_tx().await?;
        let confirmed: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM mfa_methods WHERE user_id = $1 AND kind = 'totp' AND confirmed <> 0",
        )
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if confirmed > 0 {
            return Err(DirectoryError::Invalid(
                "an authenticator is already registered".into(),
            ));
        }
        sqlx::query(
            "DELETE FROM mfa_methods WHERE user_id = $1 AND kind = 'totp' AND confirmed = 0",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO mfa_methods (id, user_id, kind, secret, created_at) VALUES ($1, $2, 'totp', $3, $4)",
        )
        .bind(method_id)
        .bind(user_id)
        .bind(sealed_secret)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Confirms the authenticator being enrolled with the step its first code was for, and
    /// stores the recovery codes (hashed), replacing any earlier ones.
    pub async fn mfa_confirm_totp(
        &self,
        user_id: &str,
        method_id: &str,
        step: i64,
        recovery_hashes: &[String],
    ) -> Result<bool, DirectoryError> {
        let mut tx = self.write_tx().await?;
        let t = now();
        let n = sqlx::query(
            "UPDATE mfa_methods SET confirmed = $1, last_step = $2, last_used_at = $1 \
             WHERE id = $3 AND user_id = $4 AND confirmed = 0",
        )
        .bind(t)
        .bind(step)
        .bind(method_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for h in recovery_hashes {
            sqlx::query("INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id)
                .bind(h)
                .execute(&mut *tx)
                .await?;
        }
        record(
            &mut tx,
            &Actor::Gateway,
            "mfa.enrolled",
            Some(user_id),
            serde_json::json!({ "method": "totp", "id": method_id }),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Spends `step` of a confirmed authenticator: true only if no step at or after it was
    /// spent before (the replay check, atomic).
    pub async fn mfa_spend_step(&self, method_id: &str, step: i64) -> Result<bool, DirectoryError> {
        let n = sqlx::query(
            "UPDATE mfa_methods SET last_step = $1, last_used_at = $2 \
             WHERE id = $3 AND confirmed <> 0 AND last_step < $1",
        )
        .bind(step)
        .bind(now())
        .bind(method_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Spends a recovery code: true only the first time.
    pub async fn mfa_spend_recovery_code(
        &self,
        user_id: &str,
        code_hash: &str,
    ) -> Result<bool, DirectoryError> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query(
            "UPDATE mfa_recovery_codes SET used_at = $1 \
             WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(now())
        .bind(user_id)
        .bind(code_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            record(
                &mut tx,
                &Actor::Gateway,
                "mfa.recovery_code_used",
                Some(user_id),
                serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The user's passkeys: (method id, sealed webauthn-rs `Passkey`).
    pub async fn mfa_passkeys(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        let rows = sqlx::query(
            "SELECT id, secret FROM mfa_methods WHERE user_id = $1 AND kind = 'passkey' \
             AND confirmed <> 0 ORDER BY created_at",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("secret")?)))
            .collect()
    }

    /// Registers a passkey (the registration ceremony already proved it), audited.
    pub async fn mfa_add_passkey(
        &self,
        user_id: &str,
        method_id: &str,
        sealed: &str,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.write_tx().await?;
        let t = now();
        sqlx::query(
            "INSERT INTO mfa_methods (id, user_id, kind, secret, confirmed, created_at, last_used_at) \
             VALUES ($1, $2, 'passkey', $3, $4, $4, $4)",
        )
        .bind(method_id)
        .bind(user_id)
        .bind(sealed)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            &Actor::Gateway,
            "mfa.enrolled",
            Some(user_id),
            serde_json::json!({ "method": "passkey", "id": method_id }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a passkey's state after a use (its signature counter).
    pub async fn mfa_update_passkey(
        &self,
        method_id: &str,
        sealed: &str,
    ) -> Result<(), DirectoryError> {
        sqlx::query("UPDATE mfa_methods SET secret = $1, last_used_at = $2 WHERE id = $3")
            .bind(sealed)
            .bind(now())
            .bind(method_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Recovery codes not yet used.
    pub async fn mfa_recovery_codes_left(&self, user_id: &str) -> Result<i64, DirectoryError> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }

    /// Whether the account may try a code now.
    pub async fn mfa_attempts(&self, user_id: &str) -> Result<Attempts, DirectoryError> {
        let row = sqlx::query("SELECT failures, locked_until FROM mfa_lockouts WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        let (failures, until): (i64, i64) = match row {
            Some(r) => (r.try_get("failures")?, r.try_get("locked_until")?),
            None => (0, 0),
        };
        Ok(if until > now() {
            Attempts::LockedUntil(until)
        } else {
            Attempts::Open { failures }
        })
    }

    /// Counts a wrong code; returns how the account stands after it.
    pub async fn mfa_failed(&self, user_id: &str) -> Result<Attempts, DirectoryError> {
        let mut tx = self.write_tx().await?;
        let failures: i64 = sqlx::query("SELECT failures FROM mfa_lockouts WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("failures"))
            .transpose()?
            .unwrap_or(0)
            + 1;
        let lock = crate::mfa::lockout_secs(failures);
        let until = if lock > 0 { now() + lock } else { 0 };
        sqlx::query(
            "INSERT INTO mfa_lockouts (user_id, failures, locked_until) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET failures = $2, locked_until = $3",
        )
        .bind(user_id)
        .bind(failures)
        .bind(until)
        .execute(&mut *tx)
        .await?;
        if lock > 0 {
            record(
                &mut tx,
                &Actor::Gateway,
                "mfa.locked",
                Some(user_id),
                serde_json::json!({ "failures": failures, "locked_until": until }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(if lock > 0 {
            Attempts::LockedUntil(until)
        } else {
            Attempts::Open { failures }
        })
    }

    /// A right code: the count starts again.
    pub async fn mfa_succeeded(&self, user_id: &str) -> Result<(), DirectoryError> {
        sqlx::query("DELETE FROM mfa_lockouts WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// An admin's reset: every method, recovery code and lock-out of the user goes, and so
    /// do their sessions (a session's MFA rested on the method removed). Audited.
    pub async fn mfa_reset(&self, actor: &Actor, user_id: &str) -> Result<usize, DirectoryError> {
        let mut tx = self.write_tx().await?;
        let exists = sqlx::query("SELECT id FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Err(DirectoryError::NotFound(format!("user {user_id}")));
        }
        let n = sqlx::query("DELETE FROM mfa_methods WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for table in ["mfa_recovery_codes", "mfa_lockouts"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        end_sessions(&mut tx, user_id).await?;
        record(
            &mut tx,
            actor,
            "mfa.reset",
            Some(user_id),
            serde_json::json!({ "methods_removed": n }),
        )
        .await?;
        tx.commit().await?;
        Ok(n as usize)
    }
}
