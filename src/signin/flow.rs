//! The states a sign-in passes through between two requests, as one enum: waiting for the
//! IdP's callback, waiting for the guest's consent, a session on its way to an app host.
//! Each is kept server-side in a `FlowStore` (memory, or the database so that any gateway
//! instance can continue it) under a random id the browser holds in a cookie or the URL,
//! and each is single-use: taking one removes it, so a replayed callback, consent or
//! handoff code finds nothing.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::session::SessionId;
pub use crate::token::{is_token, random_token};

/// How long a user may take at the IdP or on the consent page.
pub const FLOW_TTL: Duration = Duration::from_secs(600);
/// How long a handoff code lives: one redirect.
pub const HANDOFF_TTL: Duration = Duration::from_secs(60);
/// How long a guest may take to ask for, receive and type email passcodes: the longest a
/// code may live. Each code's own validity is the directory's to check.
pub const PASSCODE_FLOW_TTL: Duration =
    Duration::from_secs(crate::config::PASSCODE_MAX_TTL_MINUTES * 60);
/// The longest any flow waits: what the stores and the flow cookie must hold.
pub const MAX_FLOW_TTL: Duration = PASSCODE_FLOW_TTL;

/// One step of a sign-in, waiting for the browser's next request.
#[derive(Debug, Serialize, Deserialize)]
pub enum Flow {
    AwaitingIdp(PendingSignIn),
    AwaitingConsent(PendingConsent),
    AwaitingPasscode(PendingPasscode),
    /// A SAML response POSTed to the ACS, waiting for the browser's same-site GET.
    SamlPosted(SamlPosted),
    Handoff(Handoff),
    /// A passkey ceremony between its options page and the browser's answer.
    AwaitingPasskey(PendingPasskey),
}

/// A WebAuthn ceremony's server-side state (webauthn-rs' registration or authentication
/// state, which must never reach the browser), for the user who started it.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingPasskey {
    pub user_id: String,
    pub ceremony: PasskeyCeremony,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum PasskeyCeremony {
    Register(serde_json::Value),
    Authenticate(serde_json::Value),
}

impl Flow {
    pub fn ttl(&self) -> Duration {
        match self {
            Self::AwaitingIdp(_) | Self::AwaitingConsent(_) | Self::AwaitingPasskey(_) => FLOW_TTL,
            Self::AwaitingPasscode(_) => PASSCODE_FLOW_TTL,
            Self::Handoff(_) | Self::SamlPosted(_) => HANDOFF_TTL,
        }
    }

    /// A short name for the store and the logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AwaitingIdp(_) => "awaiting_idp",
            Self::AwaitingConsent(_) => "awaiting_consent",
            Self::AwaitingPasscode(_) => "awaiting_passcode",
            Self::SamlPosted(_) => "saml_posted",
            Self::Handoff(_) => "handoff",
            Self::AwaitingPasskey(_) => "awaiting_passkey",
        }
    }
}

/// A sign-in waiting for the IdP's callback. Its id is the OAuth `state`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingSignIn {
    pub idp: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: Url,
    /// Browser binding from the app host, when the return URL is on another host.
    pub binding: Option<String>,
    /// The invitation being redeemed, when the sign-in started from a redemption link.
    pub redeem: Option<String>,
    /// When a fresh authentication was asked of the provider (a policy's sign-in
    /// frequency): the identity must have authenticated since.
    #[serde(default)]
    pub fresh_since: Option<i64>,
}

/// A sign-in at an email passcode provider: first waiting for the address, then for the
/// code mailed to it. Put back under the same id after each wrong code.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingPasscode {
    pub idp: String,
    /// The address the code went to, once the guest typed one.
    pub email: Option<String>,
    pub return_to: Url,
    pub binding: Option<String>,
    pub redeem: Option<String>,
}

/// An IdP's POST to the ACS. The browser's cookies are `SameSite=Lax`, so a cross-site
/// POST carries none: the response waits here, unverified, for the same browser's GET
/// (a top-level navigation, which does carry them) that names it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SamlPosted {
    pub idp: String,
    pub response: String,
    pub relay_state: String,
}

/// A signed-in identity waiting for the guest to accept an invitation's consent page.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingConsent {
    pub identity: crate::idp::Identity,
    pub invitation_id: String,
    pub email: String,
    pub name: String,
    pub return_to: Url,
    pub binding: Option<String>,
}

/// A session on its way to an app host.
#[derive(Debug, Serialize, Deserialize)]
pub struct Handoff {
    #[serde(with = "session_id")]
    pub session: SessionId,
    pub authority: String,
    pub binding: String,
    pub return_to: Url,
}

/// A session id travels in the store in its cookie form.
mod session_id {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::session::SessionId;

    pub fn serialize<S: Serializer>(id: &SessionId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&id.to_cookie())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SessionId, D::Error> {
        let raw = String::deserialize(d)?;
        SessionId::from_cookie(&raw).ok_or_else(|| D::Error::custom("not a session id"))
    }
}
