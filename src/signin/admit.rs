//! What the directory says about an identity the IdP just verified: sign in a known user,
//! ask a pending guest to accept their invitation, create a member, or refuse with a page
//! that says why. Every refusal is a `Notice` in plain words, and is audited.

use http::StatusCode;

use crate::directory::address::Address;
use crate::directory::invitations::InvitationStatus;
use crate::directory::{Actor, Directory, Invitation, User, UserState};
use crate::error::GatewayError;
use crate::gateway::Runtime;
use crate::idp::Identity;

pub enum Admission {
    /// A user of the directory; sign them in.
    SignIn(User),
    /// A pending guest: show the consent page, then redeem this invitation.
    Consent(Invitation),
}

fn internal(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Internal(e.to_string())
}

/// The identity's email, if the IdP says it is verified.
pub fn verified_email(identity: &Identity) -> Option<Address> {
    let verified = identity
        .attributes
        .get("email_verified")
        .and_then(|v| v.first())
        .is_some_and(|v| v == "true");
    if !verified {
        return None;
    }
    identity
        .attributes
        .get("email")
        .and_then(|v| v.first())
        .and_then(|e| Address::parse(e).ok())
}

fn any_email(identity: &Identity) -> Option<&str> {
    identity
        .attributes
        .get("email")
        .and_then(|v| v.first())
        .map(String::as_str)
}

pub async fn admit(
    rt: &Runtime,
    dir: &Directory,
    identity: &Identity,
    redeem: Option<&str>,
) -> Result<Admission, GatewayError> {
    let org = &rt.config.directory.organization;
    let now = crate::db::now();

    // Someone who already redeemed signs in with the identity pinned at redemption.
    if let Some(user) = dir
        .user_by_identity(&identity.issuer, &identity.subject)
        .await
        .map_err(internal)?
    {
        if !user.is_active(now) {
            audit_refusal(dir, identity, "disabled", Some(&user.id)).await;
            return Err(GatewayError::notice(
                StatusCode::FORBIDDEN,
                "Your access is turned off",
                format!(
                    "Your account at {org} is disabled or has expired. Contact {org} if you think this is a mistake."
                ),
            ));
        }
        if let Some(inv_id) = redeem
            && let Some(inv) = dir.invitation(inv_id).await.map_err(internal)?
            && inv.user_id != user.id
        {
            return Err(GatewayError::notice(
                StatusCode::FORBIDDEN,
                "This invitation is for someone else",
                format!(
                    "You signed in as {}, but this invitation was sent to {}. Sign out at your identity provider and open the link again with the invited account.",
                    user.mail, inv.email
                ),
            ));
        }
        return Ok(Admission::SignIn(user));
    }

    let email = verified_email(identity);

    // Redemption link: the identity must assert the invited address, verified.
    if let Some(inv_id) = redeem {
        let inv = dir
            .invitation(inv_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| link_invalid(org))?;
        let matches = email.as_ref().is_some_and(|e| e.as_str() == inv.email);
        if !matches {
            audit_refusal(dir, identity, "email_mismatch", Some(&inv.user_id)).await;
            let shown = any_email(identity).unwrap_or("an account without an email address");
            let why = if email.is_none() && any_email(identity).is_some() {
                " (your identity provider did not confirm that address as verified)"
            } else {
                ""
            };
            return Err(GatewayError::notice(
                StatusCode::FORBIDDEN,
                "This is not the invited account",
                format!(
                    "You signed in as {shown}{why}, but {org} sent this invitation to {}. Sign out at your identity provider and sign in with the invited account, or ask {org} to invite the address you use.",
                    inv.email
                ),
            ));
        }
        return pending_consent(rt, dir, identity, inv).await;
    }

    if let Some(email) = &email
        && let Some(user) = dir.user_by_mail(email.as_str()).await.map_err(internal)?
    {
        if user.state == UserState::Accepted {
            // Same address, different identity: pinned accounts are not taken over.
            audit_refusal(dir, identity, "pinned_identity", Some(&user.id)).await;
            return Err(GatewayError::notice(
                StatusCode::FORBIDDEN,
                "Use the account you accepted with",
                format!(
                    "{} already accepted {org}'s invitation with another sign-in{}. Sign in with that account, or ask {org} to reset your redemption if you need to change it.",
                    user.mail,
                    user.idp
                        .as_deref()
                        .map(|i| format!(" (at {i})"))
                        .unwrap_or_default()
                ),
            ));
        }
        // Just-in-time redemption: the guest went straight to an app.
        return match dir.open_invitation(&user.id).await.map_err(internal)? {
            Some(inv) => pending_consent(rt, dir, identity, inv).await,
            None => Err(GatewayError::notice(
                StatusCode::FORBIDDEN,
                "Your invitation has expired",
                format!("Ask your contact at {org} to send you a new invitation."),
            )),
        };
    }

    let members_idp = rt
        .config
        .idps
        .iter()
        .any(|i| i.id == identity.idp && i.members);
    if members_idp {
        let mail = any_email(identity)
            .and_then(|e| Address::parse(e).ok())
            .map(|a| a.to_string())
            .unwrap_or_else(|| format!("{}@{}.invalid", identity.subject, identity.idp));
        if dir.user_by_mail(&mail).await.map_err(internal)?.is_some() {
            audit_refusal(dir, identity, "pinned_identity", None).await;
            return Err(GatewayError::notice(
                StatusCode::FORBIDDEN,
                "Use the account you accepted with",
                format!("{mail} is already linked to another sign-in at {org}."),
            ));
        }
        let name = identity
            .attributes
            .get("name")
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_else(|| mail.clone());
        let user = dir
            .create_member(
                &mail,
                &name,
                (&identity.idp, &identity.issuer, &identity.subject),
            )
            .await
            .map_err(internal)?;
        return Ok(Admission::SignIn(user));
    }

    audit_refusal(dir, identity, "not_invited", None).await;
    Err(GatewayError::notice(
        StatusCode::FORBIDDEN,
        "You have not been invited",
        format!(
            "{} has no invitation for {} at {org}. Ask your contact at {org} to invite you.",
            org,
            any_email(identity).unwrap_or("this account")
        ),
    ))
}

async fn pending_consent(
    rt: &Runtime,
    dir: &Directory,
    identity: &Identity,
    inv: Invitation,
) -> Result<Admission, GatewayError> {
    let org = &rt.config.directory.organization;
    match inv.status {
        InvitationStatus::Accepted => return Err(link_used(org)),
        InvitationStatus::Revoked => return Err(link_invalid(org)),
        InvitationStatus::PendingAcceptance if inv.is_expired(crate::db::now()) => {
            return Err(link_expired(org));
        }
        InvitationStatus::PendingAcceptance => {}
    }
    // The domain lists apply to redemption too: a domain blocked after the invitation was
    // sent cannot redeem it.
    if let Ok(addr) = Address::parse(&inv.email)
        && let Err(why) = rt.config.collaboration.domains.check(&addr)
    {
        audit_refusal(dir, identity, "blocked_domain", Some(&inv.user_id)).await;
        return Err(GatewayError::notice(
            StatusCode::FORBIDDEN,
            "Your organisation is not allowed",
            format!("{org} does not accept guests from this domain: {why}."),
        ));
    }
    Ok(Admission::Consent(inv))
}

pub fn link_invalid(org: &str) -> GatewayError {
    GatewayError::notice(
        StatusCode::GONE,
        "This invitation link is not valid",
        format!(
            "The link was withdrawn or replaced by a newer invitation. Use the newest email from {org}, or ask them to send a new one."
        ),
    )
}

pub fn link_used(org: &str) -> GatewayError {
    GatewayError::notice(
        StatusCode::GONE,
        "This invitation was already accepted",
        format!(
            "Each invitation link works once. If you accepted it, sign in to {org}'s apps directly; otherwise ask {org} for a new invitation."
        ),
    )
}

pub fn link_expired(org: &str) -> GatewayError {
    GatewayError::notice(
        StatusCode::GONE,
        "This invitation has expired",
        format!("Ask your contact at {org} to send you a new invitation."),
    )
}

async fn audit_refusal(dir: &Directory, identity: &Identity, reason: &str, target: Option<&str>) {
    let detail = serde_json::json!({
        "reason": reason,
        "idp": identity.idp,
        "issuer": identity.issuer,
        "subject": identity.subject,
    });
    if let Err(e) = dir
        .audit(&Actor::Gateway, "signin.refused", target, detail)
        .await
    {
        tracing::error!("audit write failed: {e}");
    }
    tracing::info!(target: "borderless::security", reason, idp = %identity.idp, subject = %identity.subject, "sign-in refused by the directory");
}
