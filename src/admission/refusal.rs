//! Why the admission decision said no. Each refusal has a stable code (audit log, metrics,
//! the error page, support) and its own words for the person refused; `error.rs` renders it.

use http::StatusCode;

use crate::policy::Strength;

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The directory user is disabled.
    UserDisabled,
    /// The user's access expired.
    UserExpired,
    /// The user was removed from the directory.
    UserRemoved,
    /// The session's identity is no longer the one pinned to the user (redemption reset).
    IdentityChanged,
    /// Nobody invited this identity and its IdP does not admit members.
    NotInvited {
        shown: Option<String>,
    },
    /// The IdP stated the invited address but did not vouch for it.
    EmailNotVerified {
        shown: String,
        invited: String,
    },
    /// The identity's address is not the invited one.
    WrongAccount {
        shown: Option<String>,
        invited: String,
    },
    /// A redeemed user opened an invitation meant for someone else.
    InvitationForSomeoneElse {
        signed_in: String,
        invited: String,
    },
    /// The address already redeemed with another identity.
    PinnedToOtherIdentity {
        mail: String,
        idp: Option<String>,
    },
    /// A members IdP gave no verified address to create the member with.
    NoVerifiedEmail,
    LinkInvalid,
    LinkUsed,
    LinkExpired,
    /// The invitee's domain is not (or no longer) allowed.
    DomainBlocked {
        why: String,
    },
    /// The invitation's redirect URL no longer leads to a configured app.
    RedirectNotAllowed,
    /// The app does not accept this identity provider.
    IdpNotAllowed {
        app: String,
    },
    /// The app requires assignment and the user has none.
    NotAssigned {
        app: String,
    },
    /// The guest's partner settings refuse them (inbound blocked, or this app or their
    /// groups not among those the partner's users may reach).
    PartnerBlocked {
        app: String,
        partner: String,
    },
    /// A Conditional Access policy blocks this request.
    PolicyBlocked {
        app: String,
        policies: Vec<String>,
    },
    /// A policy's sign-in frequency or session lifetime has passed: sign in anew.
    SignInAgain {
        app: String,
    },
    /// A sign-in that had to authenticate the user anew (a policy's sign-in frequency)
    /// came back with an earlier authentication: the provider did not ask again.
    NotReauthenticated,
    /// A policy asks for terms of use (the `[[terms]]` id) the user has not accepted in
    /// their current version.
    TermsRequired {
        app: String,
        terms: String,
    },
    /// A policy asks for MFA of at least `strength` that this session does not have. A page
    /// load is sent to the step-up instead (`signin::require_mfa`); other requests get this.
    MfaRequired {
        app: String,
        strength: Strength,
        policies: Vec<String>,
    },
}

impl Refusal {
    /// Stable identifier: never renamed, only added to.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UserDisabled => "user_disabled",
            Self::UserExpired => "user_expired",
            Self::UserRemoved => "user_removed",
            Self::IdentityChanged => "identity_changed",
            Self::NotInvited { .. } => "not_invited",
            Self::EmailNotVerified { .. } => "email_not_verified",
            Self::WrongAccount { .. } => "wrong_account",
            Self::InvitationForSomeoneElse { .. } => "invitation_for_someone_else",
            Self::PinnedToOtherIdentity { .. } => "pinned_to_other_identity",
            Self::NoVerifiedEmail => "no_verified_email",
            Self::LinkInvalid => "link_invalid",
            Self::LinkUsed => "link_used",
            Self::LinkExpired => "link_expired",
            Self::DomainBlocked { .. } => "domain_blocked",
            Self::RedirectNotAllowed => "redirect_not_allowed",
            Self::IdpNotAllowed { .. } => "idp_not_allowed",
            Self::NotAssigned { .. } => "not_assigned",
            Self::PartnerBlocked { .. } => "partner_blocked",
            Self::PolicyBlocked { .. } => "policy_blocked",
            Self::SignInAgain { .. } => "sign_in_again",
            Self::NotReauthenticated => "not_reauthenticated",
            Self::MfaRequired { .. } => "mfa_required",
            Self::TermsRequired { .. } => "terms_required",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::LinkInvalid | Self::LinkUsed | Self::LinkExpired => StatusCode::GONE,
            _ => StatusCode::FORBIDDEN,
        }
    }

    /// True when the refusal ends the user's sessions, not only this request.
    pub fn ends_session(&self) -> bool {
        matches!(
            self,
            Self::UserDisabled
                | Self::UserExpired
                | Self::UserRemoved
                | Self::IdentityChanged
                | Self::SignInAgain { .. }
        )
    }

    pub fn title(&self) -> &'static str {
        match self {
            Self::UserDisabled => "Your access is turned off",
            Self::UserExpired => "Your access has expired",
            Self::UserRemoved | Self::IdentityChanged => "Your session has ended",
            Self::NotInvited { .. } => "You have not been invited",
            Self::EmailNotVerified { .. } | Self::WrongAccount { .. } => {
                "This is not the invited account"
            }
            Self::InvitationForSomeoneElse { .. } => "This invitation is for someone else",
            Self::PinnedToOtherIdentity { .. } => "Use the account you accepted with",
            Self::NoVerifiedEmail => "Your email address is not verified",
            Self::LinkInvalid => "This invitation link is not valid",
            Self::LinkUsed => "This invitation was already accepted",
            Self::LinkExpired => "This invitation has expired",
            Self::DomainBlocked { .. } => "Your organisation is not allowed",
            Self::RedirectNotAllowed => "This invitation no longer leads anywhere",
            Self::IdpNotAllowed { .. } | Self::NotAssigned { .. } | Self::PartnerBlocked { .. } => {
                "You do not have access"
            }
            Self::PolicyBlocked { .. } => "Access blocked by policy",
            Self::SignInAgain { .. } => "Sign in again",
            Self::NotReauthenticated => "Your sign-in is too old",
            Self::MfaRequired { .. } => "Multi-factor authentication required",
            Self::TermsRequired { .. } => "Terms of use",
        }
    }

    /// What the person refused reads; `org` is the organisation's name.
    pub fn message(&self, org: &str) -> String {
        match self {
            Self::UserDisabled => format!(
                "Your account at {org} is disabled. Contact {org} if you think this is a mistake."
            ),
            Self::UserExpired => format!(
                "Your guest access at {org} has expired. Ask your contact at {org} to extend it."
            ),
            Self::UserRemoved | Self::IdentityChanged => {
                format!("Your access at {org} changed. Sign in again from the application.")
            }
            Self::NotInvited { shown } => format!(
                "{org} has no invitation for {} at {org}. Ask your contact at {org} to invite you.",
                shown.as_deref().unwrap_or("this account")
            ),
            Self::EmailNotVerified { shown, invited } => format!(
                "You signed in as {shown} (your identity provider did not confirm that address as verified), but {org} sent this invitation to {invited}. Verify the address at your identity provider, or ask {org} to invite an address you use."
            ),
            Self::WrongAccount { shown, invited } => format!(
                "You signed in as {}, but {org} sent this invitation to {invited}. Sign out at your identity provider and sign in with the invited account, or ask {org} to invite the address you use.",
                shown
                    .as_deref()
                    .unwrap_or("an account without a verified email address")
            ),
            Self::InvitationForSomeoneElse { signed_in, invited } => format!(
                "You signed in as {signed_in}, but this invitation was sent to {invited}. Sign out at your identity provider and open the link again with the invited account."
            ),
            Self::PinnedToOtherIdentity { mail, idp } => format!(
                "{mail} already accepted {org}'s invitation with another sign-in{}. Sign in with that account, or ask {org} to reset your redemption if you need to change it.",
                idp.as_deref()
                    .map(|i| format!(" (at {i})"))
                    .unwrap_or_default()
            ),
            Self::NoVerifiedEmail => format!(
                "Your identity provider did not give {org} a verified email address, which {org} needs to create your account."
            ),
            Self::LinkInvalid => format!(
                "The link was withdrawn or replaced by a newer invitation. Use the newest email from {org}, or ask them to send a new one."
            ),
            Self::LinkUsed => format!(
                "Each invitation link works once. If you accepted it, sign in to {org}'s apps directly; otherwise ask {org} for a new invitation."
            ),
            Self::LinkExpired => {
                format!("Ask your contact at {org} to send you a new invitation.")
            }
            Self::DomainBlocked { why } => {
                format!("{org} does not accept guests from this domain: {why}.")
            }
            Self::RedirectNotAllowed => format!(
                "The application this invitation was for is no longer offered by {org}. Ask your contact at {org} for a new invitation."
            ),
            Self::IdpNotAllowed { app } => {
                format!("{app} does not accept accounts from this identity provider.")
            }
            Self::NotAssigned { app } => format!(
                "You do not have access to {app}. Ask the person who invited you, or the app's owner, to assign it to you."
            ),
            Self::PartnerBlocked { app, partner } => format!(
                "{org}'s settings for {partner} do not allow you to reach {app}. Ask your contact at {org} if you need it."
            ),
            Self::PolicyBlocked { app, policies } => format!(
                "{org}'s access policy ({}) does not allow you to reach {app} from here. Ask your contact at {org}, and give them the request id below.",
                policies.join(", ")
            ),
            Self::SignInAgain { app } => format!(
                "{org} asks you to sign in again to keep using {app}. Open the application again to sign in."
            ),
            Self::NotReauthenticated => format!(
                "{org} asks you to sign in again, but your identity provider signed you in from an earlier sign-in. Sign out at your identity provider, then open the application again."
            ),
            Self::TermsRequired { app, .. } => format!(
                "{org} asks you to accept its terms of use before you open {app}. Open the application in your browser to read and accept them."
            ),
            Self::MfaRequired {
                app,
                strength,
                policies,
            } => format!(
                "{app} requires {} ({org}'s policy: {}). Your sign-in did not include one that {org} accepts. Ask your contact at {org}, and give them the request id below.",
                if *strength == Strength::PhishingResistant {
                    "a phishing-resistant second factor (a passkey)"
                } else {
                    "a second factor"
                },
                policies.join(", ")
            ),
        }
    }
}
