//! Invitations: created with a random single-use link secret (only its hash is stored),
//! redeemed atomically, re-sent with a fresh secret.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::address::Address;
use super::audit::record;
use super::keys::hash_secret;
use super::users::{NewUser, USER_COLUMNS, insert as insert_user};
use super::{Actor, Directory, DirectoryError, User, UserState, UserType};
use crate::db::now;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum InvitationStatus {
    PendingAcceptance,
    Accepted,
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EmailStatus {
    NotRequested,
    Queued,
    Sent,
    Failed,
}

impl EmailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRequested => "NotRequested",
            Self::Queued => "Queued",
            Self::Sent => "Sent",
            Self::Failed => "Failed",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub id: String,
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub redirect_url: String,
    pub apps: Vec<String>,
    pub groups: Vec<String>,
    pub invited_by: String,
    pub message: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub status: InvitationStatus,
    pub redeemed_at: Option<i64>,
    pub email_status: EmailStatus,
    pub email_error: Option<String>,
    pub email_attempts: i64,
}

const INVITATION_COLUMNS: &str = "id, user_id, email, display_name, redirect_url, apps, groups, \
    invited_by, message, created_at, expires_at, status, redeemed_at, email_status, email_error, \
    email_attempts";

impl Invitation {
    fn from_row(r: &AnyRow) -> Result<Self, DirectoryError> {
        let status = match r.try_get::<String, _>("status")?.as_str() {
            "PendingAcceptance" => InvitationStatus::PendingAcceptance,
            "Accepted" => InvitationStatus::Accepted,
            "Revoked" => InvitationStatus::Revoked,
            other => return Err(DirectoryError::Corrupt(format!("status {other}"))),
        };
        let email_status = match r.try_get::<String, _>("email_status")?.as_str() {
            "NotRequested" => EmailStatus::NotRequested,
            "Queued" => EmailStatus::Queued,
            "Sent" => EmailStatus::Sent,
            "Failed" => EmailStatus::Failed,
            other => return Err(DirectoryError::Corrupt(format!("email_status {other}"))),
        };
        Ok(Self {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            email: r.try_get("email")?,
            display_name: r.try_get("display_name")?,
            redirect_url: r.try_get("redirect_url")?,
            apps: super::parse_json_list(&r.try_get::<String, _>("apps")?)?,
            groups: super::parse_json_list(&r.try_get::<String, _>("groups")?)?,
            invited_by: r.try_get("invited_by")?,
            message: r.try_get("message")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            status,
            redeemed_at: r.try_get("redeemed_at")?,
            email_status,
            email_error: r.try_get("email_error")?,
            email_attempts: r.try_get("email_attempts")?,
        })
    }

    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }
}

/// A checked invitation request (address parsed, apps and groups known, permission given).
pub struct NewInvitation<'a> {
    pub email: &'a Address,
    pub upn: &'a str,
    pub display_name: &'a str,
    pub redirect_url: &'a str,
    pub apps: &'a [String],
    /// Group ids.
    pub groups: &'a [String],
    pub message: Option<&'a str>,
    pub send_email: bool,
    pub ttl_secs: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum InviteResult {
    /// A new guest and invitation.
    Invited,
    /// The guest was still pending: a fresh link replaces the old one.
    Reinvited,
    /// The guest had already accepted: nothing to redeem, grants were added.
    AlreadyAccepted,
}

pub struct Invited {
    pub result: InviteResult,
    pub user: User,
    pub invitation: Option<Invitation>,
    /// The link secret, present when there is a new link to send.
    pub secret: Option<String>,
}

/// Why a redemption did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemRefusal {
    Unknown,
    AlreadyRedeemed,
    Expired,
    Revoked,
    /// The invited user is disabled or past their expiry.
    UserInactive,
}

impl Directory {
    /// Invites one guest in its own transaction.
    pub async fn invite(
        &self,
        actor: &Actor,
        new: &NewInvitation<'_>,
    ) -> Result<Invited, DirectoryError> {
        let mut tx = self.write_tx().await?;
        let out = invite_in(&mut tx, actor, new).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Invites many guests in one transaction (the bulk path: one fsync, not thousands).
    pub async fn invite_many(
        &self,
        actor: &Actor,
        rows: &[NewInvitation<'_>],
    ) -> Result<Vec<Invited>, DirectoryError> {
        let mut tx = self.write_tx().await?;
        let mut out = Vec::with_capacity(rows.len());
        for new in rows {
            out.push(invite_in(&mut tx, actor, new).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    pub async fn invitation(&self, id: &str) -> Result<Option<Invitation>, DirectoryError> {
        let row = sqlx::query(&format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Invitation::from_row).transpose()
    }

    /// The invitation a link secret belongs to, whatever its status.
    pub async fn invitation_by_secret(
        &self,
        secret: &str,
    ) -> Result<Option<Invitation>, DirectoryError> {
        let row = sqlx::query(&format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE secret_hash = $1"
        ))
        .bind(hash_secret(secret))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Invitation::from_row).transpose()
    }

    pub async fn invitations_of(&self, user_id: &str) -> Result<Vec<Invitation>, DirectoryError> {
        let rows = sqlx::query(&format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE user_id = $1 ORDER BY created_at DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Invitation::from_row).collect()
    }

    /// The newest open (pending, unexpired) invitation of a user: just-in-time redemption.
    pub async fn open_invitation(
        &self,
        user_id: &str,
    ) -> Result<Option<Invitation>, DirectoryError> {
        let now = now();
        Ok(self
            .invitations_of(user_id)
            .await?
            .into_iter()
            .find(|i| i.status == InvitationStatus::PendingAcceptance && !i.is_expired(now)))
    }

    /// Redeems an invitation for an identity, atomically: of two racing redemptions exactly
    /// one changes anything; the other is told it was already redeemed.
    pub async fn redeem(
        &self,
        invitation_id: &str,
        identity: (&str, &str, &str),
    ) -> Result<Result<User, RedeemRefusal>, DirectoryError> {
        let (idp, issuer, subject) = identity;
        let t = now();
        let mut tx = self.write_tx().await?;
        let taken = sqlx::query(
            "UPDATE invitations SET status = 'Accepted', redeemed_at = $1 \
             WHERE id = $2 AND status = 'PendingAcceptance' AND expires_at > $1 \
             AND user_id IN (SELECT id FROM users WHERE disabled = 0 \
                             AND (expires_at IS NULL OR expires_at > $1)) \
             RETURNING user_id",
        )
        .bind(t)
        .bind(invitation_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = taken else {
            drop(tx);
            let refusal = match self.invitation(invitation_id).await? {
                None => RedeemRefusal::Unknown,
                Some(i) if i.status == InvitationStatus::Accepted => RedeemRefusal::AlreadyRedeemed,
                Some(i) if i.status == InvitationStatus::Revoked => RedeemRefusal::Revoked,
                Some(i) if i.is_expired(t) => RedeemRefusal::Expired,
                // Pending and unexpired: the user was disabled or expired meanwhile.
                Some(_) => RedeemRefusal::UserInactive,
            };
            return Ok(Err(refusal));
        };
        let user_id: String = row.try_get("user_id")?;
        let pinned = sqlx::query(
            "UPDATE users SET state = 'Accepted', idp = $1, issuer = $2, subject = $3, \
             redeemed_at = $4, last_sign_in_at = $4 WHERE id = $5 AND state = 'PendingAcceptance'",
        )
        .bind(idp)
        .bind(issuer)
        .bind(subject)
        .bind(t)
        .bind(&user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if pinned == 0 {
            // The user accepted through another invitation meanwhile: this one stays unused.
            return Ok(Err(RedeemRefusal::AlreadyRedeemed));
        }
        // Other open links of this user are spent too: one person, one redemption.
        sqlx::query(
            "UPDATE invitations SET status = 'Revoked' \
             WHERE user_id = $1 AND status = 'PendingAcceptance'",
        )
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            &Actor::Gateway,
            "invitation.redeemed",
            Some(&user_id),
            serde_json::json!({ "invitation": invitation_id, "idp": idp, "issuer": issuer, "subject": subject }),
        )
        .await?;
        tx.commit().await?;
        let user = self
            .user(&user_id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("user {user_id}")))?;
        Ok(Ok(user))
    }

    /// Gives a pending guest's newest invitation a fresh link (the old one stops working) and
    /// marks its email queued. Returns the invitation and the new secret.
    pub async fn renew_link(
        &self,
        actor: &Actor,
        user_id: &str,
        ttl_secs: i64,
    ) -> Result<(Invitation, String), DirectoryError> {
        let user = self
            .user(user_id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("user {user_id}")))?;
        if user.state == UserState::Accepted {
            return Err(DirectoryError::Invalid(format!(
                "{} has already accepted; reset the redemption first",
                user.mail
            )));
        }
        let latest = self
            .invitations_of(user_id)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| DirectoryError::NotFound(format!("invitation for {}", user.mail)))?;
        let secret = crate::token::random_token();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE invitations SET status = 'Revoked' \
             WHERE user_id = $1 AND status = 'PendingAcceptance' AND id <> $2",
        )
        .bind(user_id)
        .bind(&latest.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE invitations SET secret_hash = $1, status = 'PendingAcceptance', \
             expires_at = $2, email_status = 'Queued', email_error = NULL, redeemed_at = NULL \
             WHERE id = $3",
        )
        .bind(hash_secret(&secret))
        .bind(now() + ttl_secs)
        .bind(&latest.id)
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            actor,
            "invitation.resent",
            Some(user_id),
            serde_json::json!({ "invitation": latest.id }),
        )
        .await?;
        tx.commit().await?;
        let inv = self
            .invitation(&latest.id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("invitation {}", latest.id)))?;
        Ok((inv, secret))
    }

    /// Records how delivery of an invitation email went.
    pub async fn set_email_status(
        &self,
        invitation_id: &str,
        status: EmailStatus,
        error: Option<&str>,
    ) -> Result<(), DirectoryError> {
        let attempt = i64::from(matches!(status, EmailStatus::Sent | EmailStatus::Failed));
        sqlx::query(
            "UPDATE invitations SET email_status = $1, email_error = $2, \
             email_attempts = email_attempts + $3, email_updated_at = $4 WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(attempt)
        .bind(now())
        .bind(invitation_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

async fn invite_in(
    tx: &mut Transaction<'_, Any>,
    actor: &Actor,
    new: &NewInvitation<'_>,
) -> Result<Invited, DirectoryError> {
    let t = now();
    let existing = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE mail = $1"))
        .bind(new.email.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    let existing = existing.as_ref().map(User::from_row).transpose()?;
    let (user_id, result) = match &existing {
        Some(u) if u.state == UserState::Accepted => (u.id.clone(), InviteResult::AlreadyAccepted),
        Some(u) => (u.id.clone(), InviteResult::Reinvited),
        None => {
            let id = insert_user(
                tx,
                &NewUser {
                    user_type: UserType::Guest,
                    state: UserState::PendingAcceptance,
                    upn: new.upn,
                    mail: new.email.as_str(),
                    display_name: new.display_name,
                    invited_by: Some(&actor.label()),
                    identity: None,
                },
            )
            .await?;
            (id, InviteResult::Invited)
        }
    };
    for g in new.groups {
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(g)
        .bind(&user_id)
        .execute(&mut **tx)
        .await?;
    }
    for app in new.apps {
        sqlx::query(
            "INSERT INTO assignments (app, principal_type, principal_id, created_at) \
             VALUES ($1, 'user', $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(app)
        .bind(&user_id)
        .bind(t)
        .execute(&mut **tx)
        .await?;
    }
    if result == InviteResult::AlreadyAccepted {
        if !new.groups.is_empty() || !new.apps.is_empty() {
            Directory::access_changed(tx, &user_id).await?;
        }
        record(
            tx,
            actor,
            "invitation.already_accepted",
            Some(&user_id),
            serde_json::json!({ "apps": new.apps, "groups": new.groups }),
        )
        .await?;
        let user = fetch_user(tx, &user_id).await?;
        return Ok(Invited {
            result,
            user,
            invitation: None,
            secret: None,
        });
    }
    // A re-invitation replaces earlier open links.
    sqlx::query(
        "UPDATE invitations SET status = 'Revoked' WHERE user_id = $1 AND status = 'PendingAcceptance'",
    )
    .bind(&user_id)
    .execute(&mut **tx)
    .await?;
    let secret = crate::token::random_token();
    let id = super::new_id();
    let email_status = if new.send_email {
        EmailStatus::Queued
    } else {
        EmailStatus::NotRequested
    };
    sqlx::query(
        "INSERT INTO invitations (id, user_id, email, display_name, redirect_url, apps, groups, \
         invited_by, message, secret_hash, created_at, expires_at, status, email_status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'PendingAcceptance', $13)",
    )
    .bind(&id)
    .bind(&user_id)
    .bind(new.email.as_str())
    .bind(new.display_name)
    .bind(new.redirect_url)
    .bind(super::json_list(new.apps))
    .bind(super::json_list(new.groups))
    .bind(actor.label())
    .bind(new.message)
    .bind(hash_secret(&secret))
    .bind(t)
    .bind(t + new.ttl_secs)
    .bind(email_status.as_str())
    .execute(&mut **tx)
    .await?;
    record(
        tx,
        actor,
        if result == InviteResult::Invited {
            "invitation.created"
        } else {
            "invitation.reissued"
        },
        Some(&user_id),
        serde_json::json!({ "invitation": id, "email": new.email.as_str(), "apps": new.apps, "groups": new.groups }),
    )
    .await?;
    let user = fetch_user(tx, &user_id).await?;
    let row = sqlx::query(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = $1"
    ))
    .bind(&id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Invited {
        result,
        user,
        invitation: Some(Invitation::from_row(&row)?),
        secret: Some(secret),
    })
}

async fn fetch_user(tx: &mut Transaction<'_, Any>, id: &str) -> Result<User, DirectoryError> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    User::from_row(&row)
}
