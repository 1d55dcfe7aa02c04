//! Email passcodes in the `passcodes` table: issued (hashed with a per-code salt), checked
//! in constant time, used once, and locked per address after too many wrong tries. Each
//! operation is one write transaction, so two instances (or two tabs) checking codes for
//! the same address at once cannot both count as the last allowed try.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

use super::{Directory, DirectoryError};

/// What issuing a code came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Issued {
    /// Stored; any older code for the address no longer counts.
    Stored,
    /// The address is locked until then (unix seconds): no code was stored.
    Locked { until: i64 },
}

/// What checking a typed code came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// The newest code, in time: it is used up now.
    Valid,
    /// Wrong, expired or no code at all; `left` more tries before the lock-out.
    Wrong { left: u32 },
    /// Too many wrong tries: locked until then (unix seconds), whatever was typed.
    Locked { until: i64 },
}

/// The lock-out rules the check applies.
#[derive(Debug, Clone, Copy)]
pub struct Lockout {
    pub max_failures: u32,
    pub lock_secs: i64,
}

fn hash(salt: &str, address: &str, code: &str) -> String {
    let mut h = Sha256::new();
    for part in [salt, address, code] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn new_salt() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Directory {
    /// Stores `code` as the only valid one for `address` until `expires_at`. The failure
    /// count carries over: asking for a new code does not buy new guesses.
    pub async fn issue_passcode(
        &self,
        address: &str,
        code: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Issued, DirectoryError> {
        let mut tx = self.write_tx().await?;
        let locked: Option<i64> =
            sqlx::query("SELECT locked_until FROM passcodes WHERE address = $1")
                .bind(address)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("locked_until"))
                .transpose()?;
        if let Some(until) = locked.filter(|u| *u > now) {
            return Ok(Issued::Locked { until });
        }
        let salt = new_salt();
        sqlx::query(
            "INSERT INTO passcodes (address, salt, code_hash, expires_at, failures, locked_until) \
             VALUES ($1, $2, $3, $4, 0, 0) \
             ON CONFLICT (address) DO UPDATE SET salt = $2, code_hash = $3, expires_at = $4",
        )
        .bind(address)
        .bind(&salt)
        .bind(hash(&salt, address, code))
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Issued::Stored)
    }

    /// Checks a typed code. A try against an address with no code counts as a failure too,
    /// so the lock-out behaves alike for every address.
    pub async fn check_passcode(
        &self,
        address: &str,
        code: &str,
        now: i64,
        rules: Lockout,
    ) -> Result<Checked, DirectoryError> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "SELECT salt, code_hash, expires_at, failures, locked_until FROM passcodes WHERE address = $1",
        )
        .bind(address)
        .fetch_optional(&mut *tx)
        .await?;
        let (salt, stored, expires_at, failures, locked_until) = match row {
            Some(r) => (
                r.try_get::<Option<String>, _>("salt")?,
                r.try_get::<Option<String>, _>("code_hash")?,
                r.try_get::<Option<i64>, _>("expires_at")?,
                r.try_get::<i64, _>("failures")?,
                r.try_get::<i64, _>("locked_until")?,
            ),
            None => (None, None, None, 0, 0),
        };
        if locked_until > now {
            return Ok(Checked::Locked {
                until: locked_until,
            });
        }
        let matches = match (&salt, &stored, expires_at) {
            (Some(salt), Some(stored), Some(exp)) if exp > now => bool::from(
                hash(salt, address, code)
                    .as_bytes()
                    .ct_eq(stored.as_bytes()),
            ),
            _ => false,
        };
        if matches {
            // Used once: the row goes, and with it the failure count.
            sqlx::query("DELETE FROM passcodes WHERE address = $1")
                .bind(address)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Checked::Valid);
        }
        let failures = failures + 1;
        let result = if failures >= i64::from(rules.max_failures) {
            // Locked: the code dies too, so the lock cannot be waited out with it.
            let until = now + rules.lock_secs;
            sqlx::query(
                "INSERT INTO passcodes (address, failures, locked_until) VALUES ($1, 0, $2) \
                 ON CONFLICT (address) DO UPDATE SET salt = NULL, code_hash = NULL, \
                 expires_at = NULL, failures = 0, locked_until = $2",
            )
            .bind(address)
            .bind(until)
            .execute(&mut *tx)
            .await?;
            tracing::warn!(target: "borderless::security", address, "too many wrong passcodes; address locked");
            Checked::Locked { until }
        } else {
            sqlx::query(
                "INSERT INTO passcodes (address, failures) VALUES ($1, $2) \
                 ON CONFLICT (address) DO UPDATE SET failures = $2",
            )
            .bind(address)
            .bind(failures)
            .execute(&mut *tx)
            .await?;
            Checked::Wrong {
                left: rules.max_failures.saturating_sub(failures as u32),
            }
        };
        tx.commit().await?;
        Ok(result)
    }

    /// Drops rows with no live code and no lock, so guesses at random addresses leave
    /// nothing behind for long.
    pub async fn purge_passcodes(&self, now: i64) -> Result<u64, DirectoryError> {
        let r = sqlx::query(
            "DELETE FROM passcodes WHERE locked_until <= $1 AND (expires_at IS NULL OR expires_at <= $1)",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Lockout = Lockout {
        max_failures: 3,
        lock_secs: 900,
    };

    async fn dir() -> (tempfile::TempDir, Directory) {
        let t = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", t.path().join("d.db").display());
        let d = Directory::open(&url).await.expect("open");
        (t, d)
    }

    #[tokio::test]
    async fn only_the_newest_code_counts_and_only_once() {
        let (_t, d) = dir().await;
        let a = "guest@partner.test";
        assert_eq!(
            d.issue_passcode(a, "11111111", 0, 600)
                .await
                .expect("issue"),
            Issued::Stored
        );
        assert_eq!(
            d.issue_passcode(a, "22222222", 1, 600)
                .await
                .expect("issue"),
            Issued::Stored
        );
        assert_eq!(
            d.check_passcode(a, "11111111", 2, RULES)
                .await
                .expect("check"),
            Checked::Wrong { left: 2 },
            "a resend invalidates the older code"
        );
        assert_eq!(
            d.check_passcode(a, "22222222", 3, RULES)
                .await
                .expect("check"),
            Checked::Valid
        );
        assert_eq!(
            d.check_passcode(a, "22222222", 4, RULES)
                .await
                .expect("check"),
            Checked::Wrong { left: 2 },
            "single use"
        );
    }

    #[tokio::test]
    async fn expired_codes_fail_and_failures_lock_the_address_through_resends() {
        let (_t, d) = dir().await;
        let a = "guest@partner.test";
        d.issue_passcode(a, "12345678", 0, 600)
            .await
            .expect("issue");
        assert_eq!(
            d.check_passcode(a, "12345678", 600, RULES)
                .await
                .expect("check"),
            Checked::Wrong { left: 2 },
            "expired at its expiry"
        );
        d.issue_passcode(a, "12345678", 601, 1200)
            .await
            .expect("issue");
        assert_eq!(
            d.check_passcode(a, "00000000", 602, RULES)
                .await
                .expect("c"),
            Checked::Wrong { left: 1 }
        );
        assert_eq!(
            d.check_passcode(a, "00000000", 603, RULES)
                .await
                .expect("c"),
            Checked::Locked { until: 603 + 900 }
        );
        // Locked: the right code no longer helps and no new code is issued.
        assert_eq!(
            d.check_passcode(a, "12345678", 604, RULES)
                .await
                .expect("c"),
            Checked::Locked { until: 1503 }
        );
        assert_eq!(
            d.issue_passcode(a, "87654321", 605, 1200)
                .await
                .expect("issue"),
            Issued::Locked { until: 1503 }
        );
        // After the lock: a fresh code works.
        d.issue_passcode(a, "87654321", 1503, 2000)
            .await
            .expect("issue");
        assert_eq!(
            d.check_passcode(a, "87654321", 1504, RULES)
                .await
                .expect("c"),
            Checked::Valid
        );
    }

    #[tokio::test]
    async fn guesses_at_an_address_without_a_code_lock_it_the_same_way() {
        let (_t, d) = dir().await;
        let a = "nobody@partner.test";
        for left in [2, 1] {
            assert_eq!(
                d.check_passcode(a, "00000000", 10, RULES).await.expect("c"),
                Checked::Wrong { left }
            );
        }
        assert!(matches!(
            d.check_passcode(a, "00000000", 10, RULES).await.expect("c"),
            Checked::Locked { .. }
        ));
        assert_eq!(
            d.purge_passcodes(10).await.expect("purge"),
            0,
            "the lock stays"
        );
        assert_eq!(d.purge_passcodes(10 + 900).await.expect("purge"), 1);
    }
}
