//! Admission: the one decision about whether a person may redeem, sign in or continue.
//!
//! Every path that creates or continues a session asks [`Gate::admit`] with the [`Step`] it
//! is at — the redemption link, the identity an IdP just verified, the consent POST, and each
//! request that carries a session (data plane, handoff, "already signed in"). The answer is
//! an [`Admission`] or a [`Refusal`] with a stable code. Sign-in refusals are written to the
//! audit log here; `error.rs` turns a refusal into its page.
//!
//! ```text
//! OpenLink ──▶ invitation usable? ─ invitee enabled & unexpired? ─ domain allowed? ─ redirect still an app?
//! SignedIn ──▶ pinned user? ─ verified email = invited? ─ just-in-time invitation? ─ members IdP?
//! Accept   ──▶ the same checks again, then the atomic redemption
//! Continue ──▶ user exists, enabled, unexpired, identity still pinned ─ app: IdP allowed, assigned
//!              ─ partner settings and Conditional Access policies (`conditional`)
//! ```
//! `Continue` runs on every proxied request from [`access::AccessCache`] (no database read
//! per request); the revocation feed invalidates it.

pub mod access;
pub mod conditional;
mod refusal;
pub mod whatif;

use url::Url;

use crate::config::{AppConfig, Config};
use crate::directory::invitations::{InvitationStatus, RedeemRefusal};
use crate::directory::{Actor, Directory, DirectoryError, Invitation, User, UserState};
use crate::idp::{Identity, IdpEmail};
use crate::proxy::route::Router;
use crate::session::Session;
use crate::web::return_to;
pub use access::{AccessCache, UserAccess};
pub use conditional::{AppVisit, PolicyAudit};
pub use refusal::Refusal;

/// Where in the sign-in plane (or the data plane) the decision is asked for.
#[derive(Clone, Copy)]
pub enum Step<'a> {
    /// A redemption link was opened (the page, or a sign-in started from it); `secret` is
    /// the link's secret.
    OpenLink { secret: &'a str },
    /// An IdP verified `identity`; `redeem` is the invitation id when the sign-in started
    /// from a redemption link.
    SignedIn {
        identity: &'a Identity,
        redeem: Option<&'a str>,
    },
    /// The guest accepted the consent page: redeem the invitation for the identity.
    Accept {
        identity: &'a Identity,
        invitation_id: &'a str,
    },
    /// A session wants to go on: to an app (a proxied request), or just to stay signed in
    /// (`None`: handoff, "already signed in", My apps).
    Continue {
        session: &'a Session,
        app: Option<AppVisit<'a>>,
    },
}

#[derive(Debug)]
pub enum Admission {
    /// The link can be redeemed: show the redemption page for this invitation.
    Link(Invitation),
    /// A directory user who may have a session now.
    SignIn(User),
    /// A pending guest who must accept this invitation first.
    Consent(Invitation),
    /// The session may continue.
    Continue,
}

pub type Decision = Result<Admission, Refusal>;

/// The decision's inputs: the running config and the directory (cached for `Continue`).
pub struct Gate<'a> {
    pub config: &'a Config,
    pub router: &'a Router,
    pub dir: &'a Directory,
    pub access: &'a AccessCache,
    pub policy_audit: &'a PolicyAudit,
}

impl Gate<'_> {
    pub async fn admit(&self, step: Step<'_>) -> Result<Decision, DirectoryError> {
        let now = crate::db::now();
        let decision = match step {
            // The sign-in steps read and write the directory; boxed, so the per-request
            // `Continue` does not carry their state (the size of an async call is that of
            // its largest path).
            Step::OpenLink { secret } => Box::pin(self.open_link(secret, now)).await?,
            Step::SignedIn { identity, redeem } => {
                Box::pin(self.signed_in(identity, redeem, now)).await?
            }
            Step::Accept {
                identity,
                invitation_id,
            } => Box::pin(self.accept(identity, invitation_id, now)).await?,
            Step::Continue { session, app } => self.continue_session(session, app, now).await?,
        };
        if let Err(refusal) = &decision {
            Box::pin(self.record(step, refusal)).await;
        }
        Ok(decision)
    }

    async fn open_link(&self, secret: &str, now: i64) -> Result<Decision, DirectoryError> {
        if !crate::token::is_token(secret) {
            return Ok(Err(Refusal::LinkInvalid));
        }
        let Some(inv) = self.dir.invitation_by_secret(secret).await? else {
            return Ok(Err(Refusal::LinkInvalid));
        };
        Ok(self
            .redeemable(&inv, now)
            .await?
            .map(|()| Admission::Link(inv)))
    }

    async fn signed_in(
        &self,
        identity: &Identity,
        redeem: Option<&str>,
        now: i64,
    ) -> Result<Decision, DirectoryError> {
        // Someone who already redeemed signs in with the identity pinned at redemption.
        if let Some(user) = self
            .dir
            .user_by_identity(&identity.issuer, &identity.subject)
            .await?
        {
            if let Err(r) = user_active(&user, now) {
                return Ok(Err(r));
            }
            if let Some(inv_id) = redeem
                && let Some(inv) = self.dir.invitation(inv_id).await?
                && inv.user_id != user.id
            {
                return Ok(Err(Refusal::InvitationForSomeoneElse {
                    signed_in: user.mail.clone(),
                    invited: inv.email,
                }));
            }
            return Ok(Ok(Admission::SignIn(user)));
        }

        let email = identity.email.verified();

        // Redemption link: the identity must assert the invited address, verified.
        if let Some(inv_id) = redeem {
            let Some(inv) = self.dir.invitation(inv_id).await? else {
                return Ok(Err(Refusal::LinkInvalid));
            };
            if let Err(r) = email_matches(&identity.email, &inv) {
                return Ok(Err(r));
            }
            return Ok(self
                .redeemable(&inv, now)
                .await?
                .map(|()| Admission::Consent(inv)));
        }

        if let Some(email) = email
            && let Some(user) = self.dir.user_by_mail(email.as_str()).await?
        {
            if user.state == UserState::Accepted {
                // Same address, different identity: pinned accounts are not taken over.
                return Ok(Err(Refusal::PinnedToOtherIdentity {
                    mail: user.mail,
                    idp: user.idp,
                }));
            }
            if let Err(r) = user_active(&user, now) {
                return Ok(Err(r));
            }
            // Just-in-time redemption: the guest went straight to an app.
            return Ok(match self.dir.open_invitation(&user.id).await? {
                Some(inv) => self
                    .redeemable(&inv, now)
                    .await?
                    .map(|()| Admission::Consent(inv)),
                None => Err(Refusal::LinkExpired),
            });
        }

        if self.is_members_idp(&identity.idp) {
            // A member is created from a verified address only: an unverified one could be
            // anybody's.
            let Some(email) = email else {
                return Ok(Err(Refusal::NoVerifiedEmail));
            };
            let name = identity
                .attributes
                .get("name")
                .and_then(|v| v.first())
                .cloned()
                .unwrap_or_else(|| email.to_string());
            let user = self
                .dir
                .create_member(
                    email.as_str(),
                    &name,
                    (&identity.idp, &identity.issuer, &identity.subject),
                )
                .await?;
            return Ok(Ok(Admission::SignIn(user)));
        }

        Ok(Err(Refusal::NotInvited {
            shown: identity.email.shown().map(str::to_string),
        }))
    }

    async fn accept(
        &self,
        identity: &Identity,
        invitation_id: &str,
        now: i64,
    ) -> Result<Decision, DirectoryError> {
        // The consent page may have been open for minutes: everything is checked again.
        let Some(inv) = self.dir.invitation(invitation_id).await? else {
            return Ok(Err(Refusal::LinkInvalid));
        };
        if let Err(r) = email_matches(&identity.email, &inv) {
            return Ok(Err(r));
        }
        // A second tab of the same guest: the first one already pinned this very identity to
        // the invited user.
        if inv.status == InvitationStatus::Accepted
            && let Some(user) = self
                .dir
                .user_by_identity(&identity.issuer, &identity.subject)
                .await?
            && user.id == inv.user_id
        {
            return Ok(user_active(&user, now).map(|()| Admission::SignIn(user)));
        }
        if let Err(r) = self.redeemable(&inv, now).await? {
            return Ok(Err(r));
        }
        let pinned = (
            identity.idp.as_str(),
            identity.issuer.as_str(),
            identity.subject.as_str(),
        );
        // The redemption itself re-checks the invitation and the user in its transaction.
        Ok(match self.dir.redeem(invitation_id, pinned).await? {
            Ok(user) => Ok(Admission::SignIn(user)),
            Err(RedeemRefusal::AlreadyRedeemed) => {
                // A second tab of the same guest: the first one pinned this very identity.
                match self
                    .dir
                    .user_by_identity(&identity.issuer, &identity.subject)
                    .await?
                {
                    Some(u) => user_active(&u, now).map(|()| Admission::SignIn(u)),
                    None => Err(Refusal::LinkUsed),
                }
            }
            Err(RedeemRefusal::Expired) => Err(Refusal::LinkExpired),
            Err(RedeemRefusal::Revoked | RedeemRefusal::Unknown) => Err(Refusal::LinkInvalid),
            Err(RedeemRefusal::UserInactive) => Err(Refusal::UserDisabled),
        })
    }

    async fn continue_session(
        &self,
        session: &Session,
        visit: Option<AppVisit<'_>>,
        now: i64,
    ) -> Result<Decision, DirectoryError> {
        let user = self.access.user(session.user_key()).await?;
        let user = user.as_ref().as_ref();
        if let Err(r) = may_continue(user, session, visit.map(|v| v.app), now) {
            return Ok(Err(r));
        }
        Ok(match (visit, user) {
            (Some(visit), Some(user)) => conditional::check(
                self.config,
                self.dir,
                self.policy_audit,
                user,
                session,
                visit,
                now,
            )
            .map(|()| Admission::Continue),
            _ => Ok(Admission::Continue),
        })
    }

    /// Whether `inv` can still be redeemed: the link, the invitee, the domain lists and the
    /// invitation's redirect URL under the current config.
    async fn redeemable(
        &self,
        inv: &Invitation,
        now: i64,
    ) -> Result<Result<(), Refusal>, DirectoryError> {
        match inv.status {
            InvitationStatus::Accepted => return Ok(Err(Refusal::LinkUsed)),
            InvitationStatus::Revoked => return Ok(Err(Refusal::LinkInvalid)),
            InvitationStatus::PendingAcceptance if inv.is_expired(now) => {
                return Ok(Err(Refusal::LinkExpired));
            }
            InvitationStatus::PendingAcceptance => {}
        }
        let Some(user) = self.dir.user(&inv.user_id).await? else {
            return Ok(Err(Refusal::LinkInvalid));
        };
        if let Err(r) = user_active(&user, now) {
            return Ok(Err(r));
        }
        // A domain blocked after the invitation was sent cannot redeem it.
        if let Ok(addr) = crate::directory::address::Address::parse(&inv.email)
            && let Err(why) = self.config.collaboration.domains.check(&addr)
        {
            return Ok(Err(Refusal::DomainBlocked {
                why: why.to_string(),
            }));
        }
        if self.redirect_target(inv).is_none() {
            return Ok(Err(Refusal::RedirectNotAllowed));
        }
        Ok(Ok(()))
    }

    /// The invitation's redirect URL, if it still leads to an app of the current config.
    pub fn redirect_target(&self, inv: &Invitation) -> Option<Url> {
        return_to::validate(
            &inv.redirect_url,
            &self.config.public_url,
            &self.config.login_authority,
            self.router,
        )
    }

    fn is_members_idp(&self, idp: &str) -> bool {
        self.config.idps.iter().any(|i| i.id == idp && i.members)
    }

    /// Sign-in refusals go to the audit log; per-request ones only to the security log (a
    /// database write per refused request would let anyone fill the disk).
    async fn record(&self, step: Step<'_>, refusal: &Refusal) {
        let (identity, target) = match step {
            Step::SignedIn { identity, .. } | Step::Accept { identity, .. } => {
                (Some(identity), None)
            }
            Step::Continue { session, .. } => {
                tracing::info!(target: "borderless::security", code = refusal.code(), user = %session.user_key(), "session refused");
                return;
            }
            Step::OpenLink { .. } => (None, None::<&str>),
        };
        let detail = serde_json::json!({
            "reason": refusal.code(),
            "idp": identity.map(|i| i.idp.as_str()),
            "issuer": identity.map(|i| i.issuer.as_str()),
            "subject": identity.map(|i| i.subject.as_str()),
        });
        if let Err(e) = self
            .dir
            .audit(&Actor::Gateway, "signin.refused", target, detail)
            .await
        {
            tracing::error!("audit write failed: {e}");
        }
        tracing::info!(target: "borderless::security", code = refusal.code(), idp = ?identity.map(|i| &i.idp), "sign-in refused");
    }
}

/// The per-request part of the decision, from the cached user state: the user still exists,
/// is enabled and unexpired, the session's identity is still the pinned one, and the app
/// accepts the session's IdP and (if it requires assignment) the user.
pub fn may_continue(
    user: Option<&UserAccess>,
    session: &Session,
    app: Option<&AppConfig>,
    now: i64,
) -> Result<(), Refusal> {
    let Some(user) = user else {
        return Err(Refusal::UserRemoved);
    };
    if user.disabled {
        return Err(Refusal::UserDisabled);
    }
    if user.expires_at.is_some_and(|e| now >= e) {
        return Err(Refusal::UserExpired);
    }
    let pinned = user
        .pinned
        .as_ref()
        .is_some_and(|(iss, sub)| **iss == *session.issuer && sub == session.subject());
    if !pinned {
        return Err(Refusal::IdentityChanged);
    }
    if let Some(app) = app {
        if !app.allowed_idps.is_empty() && !app.allowed_idps.iter().any(|i| **i == *session.idp) {
            return Err(Refusal::IdpNotAllowed {
                app: app.display_name.clone(),
            });
        }
        if app.assignment_required && !user.assigned.iter().any(|a| a == &app.id) {
            return Err(Refusal::NotAssigned {
                app: app.display_name.clone(),
            });
        }
    }
    Ok(())
}

fn user_active(user: &User, now: i64) -> Result<(), Refusal> {
    if user.disabled {
        return Err(Refusal::UserDisabled);
    }
    if user.expires_at.is_some_and(|e| now >= e) {
        return Err(Refusal::UserExpired);
    }
    Ok(())
}

/// The identity must carry the invited address, verified by its IdP.
fn email_matches(email: &IdpEmail, inv: &Invitation) -> Result<(), Refusal> {
    match email {
        IdpEmail::Verified(a) if a.as_str() == inv.email => Ok(()),
        IdpEmail::Unverified(shown) if shown.eq_ignore_ascii_case(&inv.email) => {
            Err(Refusal::EmailNotVerified {
                shown: shown.clone(),
                invited: inv.email.clone(),
            })
        }
        other => Err(Refusal::WrongAccount {
            shown: other.shown().map(str::to_string),
            invited: inv.email.clone(),
        }),
    }
}
