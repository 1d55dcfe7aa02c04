//! Users: guests and members, their state, pinned identity, and everything that ends access.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::audit::record;
use super::{Actor, Directory, DirectoryError};
use crate::db::now;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum UserType {
    Guest,
    Member,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum UserState {
    PendingAcceptance,
    Accepted,
}

impl UserType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Guest => "Guest",
            Self::Member => "Member",
        }
    }
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingAcceptance => "PendingAcceptance",
            Self::Accepted => "Accepted",
        }
    }
}

/// A user object, in the shape of Graph's user (camelCase when serialized).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub user_type: UserType,
    #[serde(rename = "externalUserState")]
    pub state: UserState,
    #[serde(rename = "userPrincipalName")]
    pub upn: String,
    pub mail: String,
    pub display_name: String,
    pub company: Option<String>,
    pub invited_by: Option<String>,
    pub sponsor: Option<String>,
    pub created_at: i64,
    pub redeemed_at: Option<i64>,
    pub last_sign_in_at: Option<i64>,
    pub expires_at: Option<i64>,
    #[serde(rename = "accountDisabled")]
    pub disabled: bool,
    pub idp: Option<String>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
}

pub(crate) const USER_COLUMNS: &str = "id, user_type, state, upn, mail, display_name, company, \
    invited_by, sponsor, created_at, redeemed_at, last_sign_in_at, expires_at, disabled, idp, \
    issuer, subject";

impl User {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, DirectoryError> {
        let user_type = match r.try_get::<String, _>("user_type")?.as_str() {
            "Guest" => UserType::Guest,
            "Member" => UserType::Member,
            other => return Err(DirectoryError::Corrupt(format!("user_type {other}"))),
        };
        let state = match r.try_get::<String, _>("state")?.as_str() {
            "PendingAcceptance" => UserState::PendingAcceptance,
            "Accepted" => UserState::Accepted,
            other => return Err(DirectoryError::Corrupt(format!("state {other}"))),
        };
        Ok(Self {
            id: r.try_get("id")?,
            user_type,
            state,
            upn: r.try_get("upn")?,
            mail: r.try_get("mail")?,
            display_name: r.try_get("display_name")?,
            company: r.try_get("company")?,
            invited_by: r.try_get("invited_by")?,
            sponsor: r.try_get("sponsor")?,
            created_at: r.try_get("created_at")?,
            redeemed_at: r.try_get("redeemed_at")?,
            last_sign_in_at: r.try_get("last_sign_in_at")?,
            expires_at: r.try_get("expires_at")?,
            disabled: r.try_get::<i64, _>("disabled")? != 0,
            idp: r.try_get("idp")?,
            issuer: r.try_get("issuer")?,
            subject: r.try_get("subject")?,
        })
    }

    /// True when the user may sign in at all (not disabled, not past an expiry).
    pub fn is_active(&self, now: i64) -> bool {
        !self.disabled && self.expires_at.is_none_or(|e| now < e)
    }
}

/// The fields of a new user.
pub struct NewUser<'a> {
    pub user_type: UserType,
    pub state: UserState,
    pub upn: &'a str,
    pub mail: &'a str,
    pub display_name: &'a str,
    pub invited_by: Option<&'a str>,
    pub identity: Option<(&'a str, &'a str, &'a str)>,
}

pub(crate) async fn insert(
    tx: &mut Transaction<'_, Any>,
    u: &NewUser<'_>,
) -> Result<String, DirectoryError> {
    let id = super::new_id();
    let t = now();
    let (idp, issuer, subject) = match u.identity {
        Some((a, b, c)) => (Some(a), Some(b), Some(c)),
        None => (None, None, None),
    };
    sqlx::query(
        "INSERT INTO users (id, user_type, state, upn, mail, display_name, invited_by, sponsor, \
         created_at, redeemed_at, disabled, idp, issuer, subject) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, 0, $10, $11, $12)",
    )
    .bind(&id)
    .bind(u.user_type.as_str())
    .bind(u.state.as_str())
    .bind(u.upn)
    .bind(u.mail)
    .bind(u.display_name)
    .bind(u.invited_by)
    .bind(t)
    .bind(u.identity.map(|_| t))
    .bind(idp)
    .bind(issuer)
    .bind(subject)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Ends every session of a user: deletes them from the store and tells every gateway process
/// (through the revocation feed) to drop them from its cache.
pub(crate) async fn end_sessions(
    tx: &mut Transaction<'_, Any>,
    user_id: &str,
) -> Result<u64, DirectoryError> {
    let n = sqlx::query("DELETE FROM sessions WHERE user_key = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Directory::access_changed(tx, user_id).await?;
    Ok(n)
}

impl Directory {
    pub async fn user(&self, id: &str) -> Result<Option<User>, DirectoryError> {
        self.user_where("id = $1", id).await
    }

    pub async fn user_by_mail(&self, mail: &str) -> Result<Option<User>, DirectoryError> {
        self.user_where("mail = $1", &mail.to_ascii_lowercase())
            .await
    }

    /// `key` is an id, a mail address or a UPN: what an operator types.
    pub async fn find_user(&self, key: &str) -> Result<User, DirectoryError> {
        let lower = key.to_ascii_lowercase();
        for (cond, v) in [("id = $1", key), ("mail = $1", &lower), ("upn = $1", key)] {
            if let Some(u) = self.user_where(cond, v).await? {
                return Ok(u);
            }
        }
        Err(DirectoryError::NotFound(format!("user {key}")))
    }

    pub async fn user_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<User>, DirectoryError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE issuer = $1 AND subject = $2"
        ))
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(User::from_row).transpose()
    }

    async fn user_where(&self, cond: &str, v: &str) -> Result<Option<User>, DirectoryError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE {cond}"))
            .bind(v)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(User::from_row).transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<User>, DirectoryError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY created_at, mail"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(User::from_row).collect()
    }

    /// A member signing in from an IdP marked `members = true` for the first time.
    pub async fn create_member(
        &self,
        mail: &str,
        display_name: &str,
        identity: (&str, &str, &str),
    ) -> Result<User, DirectoryError> {
        let mut tx = self.write_tx().await?;
        let id = insert(
            &mut tx,
            &NewUser {
                user_type: UserType::Member,
                state: UserState::Accepted,
                upn: mail,
                mail,
                display_name,
                invited_by: None,
                identity: Some(identity),
            },
        )
        .await?;
        record(
            &mut tx,
            &Actor::Gateway,
            "user.member_created",
            Some(&id),
            serde_json::json!({ "mail": mail, "idp": identity.0 }),
        )
        .await?;
        tx.commit().await?;
        self.user(&id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("user {id}")))
    }

    pub async fn record_sign_in(&self, user_id: &str) -> Result<(), DirectoryError> {
        sqlx::query("UPDATE users SET last_sign_in_at = $1 WHERE id = $2")
            .bind(now())
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Disables (or enables) a user; disabling ends their sessions at once.
    pub async fn set_disabled(
        &self,
        actor: &Actor,
        user_id: &str,
        disabled: bool,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
            .bind(i64::from(disabled))
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(DirectoryError::NotFound(format!("user {user_id}")));
        }
        if disabled {
            end_sessions(&mut tx, user_id).await?;
        } else {
            Directory::access_changed(&mut tx, user_id).await?;
        }
        let action = if disabled {
            "user.disabled"
        } else {
            "user.enabled"
        };
        record(&mut tx, actor, action, Some(user_id), serde_json::json!({})).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets (or clears) the date after which the user may no longer sign in. A date already
    /// past ends their sessions at once, like disabling.
    pub async fn set_expiry(
        &self,
        actor: &Actor,
        user_id: &str,
        expires_at: Option<i64>,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("UPDATE users SET expires_at = $1 WHERE id = $2")
            .bind(expires_at)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(DirectoryError::NotFound(format!("user {user_id}")));
        }
        if expires_at.is_some_and(|t| t <= now()) {
            end_sessions(&mut tx, user_id).await?;
        } else {
            // Live sessions now end at the new date: caches must learn it.
            Directory::access_changed(&mut tx, user_id).await?;
        }
        record(
            &mut tx,
            actor,
            "user.expiry_set",
            Some(user_id),
            serde_json::json!({ "expiresAt": expires_at }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a user with their invitations, memberships and assignments, and ends their
    /// sessions.
    pub async fn remove_user(&self, actor: &Actor, user_id: &str) -> Result<User, DirectoryError> {
        let user = self
            .user(user_id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("user {user_id}")))?;
        let mut tx = self.write_tx().await?;
        end_sessions(&mut tx, user_id).await?;
        sqlx::query("DELETE FROM assignments WHERE principal_type = 'user' AND principal_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        record(
            &mut tx,
            actor,
            "user.removed",
            Some(user_id),
            serde_json::json!({ "mail": user.mail, "upn": user.upn }),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Puts an accepted guest back to PendingAcceptance: unpins the identity, ends sessions and
    /// revokes open invitations. The caller may then send a new invitation.
    pub async fn reset_redemption(
        &self,
        actor: &Actor,
        user_id: &str,
    ) -> Result<User, DirectoryError> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query(
            "UPDATE users SET state = 'PendingAcceptance', idp = NULL, issuer = NULL, \
             subject = NULL, redeemed_at = NULL WHERE id = $1 AND user_type = 'Guest'",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(DirectoryError::NotFound(format!("guest user {user_id}")));
        }
        sqlx::query(
            "UPDATE invitations SET status = 'Revoked' \
             WHERE user_id = $1 AND status = 'PendingAcceptance'",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        end_sessions(&mut tx, user_id).await?;
        record(
            &mut tx,
            actor,
            "user.redemption_reset",
            Some(user_id),
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        self.user(user_id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("user {user_id}")))
    }

    /// The ids of apps a user is assigned to, directly or through a group.
    pub async fn assigned_apps(&self, user_id: &str) -> Result<Vec<String>, DirectoryError> {
        let rows = sqlx::query(
            "SELECT DISTINCT app FROM assignments WHERE \
               (principal_type = 'user' AND principal_id = $1) OR \
               (principal_type = 'group' AND principal_id IN \
                  (SELECT group_id FROM group_members WHERE user_id = $1)) \
             ORDER BY app",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("app").map_err(Into::into))
            .collect()
    }

    /// The names of the groups a user is a member of; Conditional Access assigns by name.
    pub async fn group_names_of(&self, user_id: &str) -> Result<Vec<String>, DirectoryError> {
        let rows = sqlx::query(
            "SELECT g.name FROM groups g JOIN group_members m ON m.group_id = g.id \
             WHERE m.user_id = $1 ORDER BY g.name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("name").map_err(Into::into))
            .collect()
    }

    /// Revocation feed entries after `seq`: (seq, user id). The gateway polls this.
    pub async fn revocations_since(&self, seq: i64) -> Result<Vec<(i64, String)>, DirectoryError> {
        let rows = sqlx::query(
            "SELECT seq, user_id FROM revocations WHERE seq > $1 ORDER BY seq LIMIT 1000",
        )
        .bind(seq)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("user_id")?)))
            .collect()
    }

    /// Deletes feed entries written before `before` (Unix seconds).
    pub async fn purge_revocations(&self, before: i64) -> Result<u64, DirectoryError> {
        Ok(sqlx::query("DELETE FROM revocations WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// The newest revocation seq, where a starting gateway begins to poll.
    pub async fn last_revocation(&self) -> Result<i64, DirectoryError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM revocations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("seq")?)
    }

    /// Tells running gateways (through the revocation feed) to drop what they cached for a
    /// user: sessions reload from the store, assignments are read again.
    pub(crate) async fn access_changed(
        tx: &mut Transaction<'_, Any>,
        user_id: &str,
    ) -> Result<(), DirectoryError> {
        sqlx::query("INSERT INTO revocations (user_id, at) VALUES ($1, $2)")
            .bind(user_id)
            .bind(now())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}
