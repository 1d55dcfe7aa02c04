//! Identity providers. Each kind turns a browser round trip into a verified `Identity`;
//! what happens next (sessions, redirects) belongs to the sign-in plane.
//!
//! Every kind states what it learnt as an `Asserted` (issuer, subject, claims, address), and
//! one function turns that into an `Identity`: the attribute mapping and the rule that only
//! a verified address becomes the `email` attribute live in one place for all of them.

mod error;
pub mod oauth2;
pub mod oidc;
pub mod passcode;
pub mod saml;

use std::sync::Arc;

use url::Url;

pub use error::IdpError;

use crate::config::IdpConfig;
use crate::directory::address::Address;
use crate::session::AttributeMap;

/// Per-flow secrets created when a redirect sign-in starts and checked at the callback.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub url: Url,
    /// OpenID Connect's `nonce`; empty for kinds without an ID token.
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A configured provider: the redirect kinds (OpenID Connect, OAuth2) and the email
/// passcode, whose pages the sign-in plane serves itself.
pub enum Provider {
    Oidc(oidc::OidcProvider),
    OAuth2(oauth2::OAuth2Provider),
    Passcode(passcode::PasscodeProvider),
    Saml(saml::SamlProvider),
}

impl Provider {
    /// A provider for `config`, its endpoints under the gateway's `public_url`.
    pub fn new(config: Arc<IdpConfig>, public_url: &Url) -> anyhow::Result<Self> {
        let redirect_uri = public_url.join(&format!("/.borderless/callback/{}", config.id))?;
        Ok(if config.saml.is_some() {
            Self::Saml(saml::SamlProvider::new(config, public_url)?)
        } else if config.passcode.is_some() {
            Self::Passcode(passcode::PasscodeProvider::new(config)?)
        } else if config.oauth2.is_some() {
            Self::OAuth2(oauth2::OAuth2Provider::new(config, redirect_uri)?)
        } else {
            Self::Oidc(oidc::OidcProvider::new(config, redirect_uri)?)
        })
    }

    pub fn config(&self) -> &Arc<IdpConfig> {
        match self {
            Self::Oidc(p) => &p.config,
            Self::OAuth2(p) => &p.config,
            Self::Passcode(p) => &p.config,
            Self::Saml(p) => &p.config,
        }
    }

    /// The authorization request; `state` is the id of the flow that waits for the callback,
    /// `login_hint` the address the guest already typed (OpenID Connect passes it on).
    ///
    /// `fresh`: the user must authenticate again at the provider, not ride on its single
    /// sign-on session (a policy's sign-in frequency has passed). OIDC asks with
    /// `prompt=login` and `max_age=0`, SAML with `ForceAuthn`; OAuth 2 profiles have no such
    /// request and are taken as authenticated at the callback.
    pub async fn start(
        &self,
        state: &str,
        login_hint: Option<&str>,
        fresh: bool,
    ) -> Result<AuthRequest, IdpError> {
        match self {
            Self::Oidc(p) => p.start(state, login_hint, fresh).await,
            Self::OAuth2(p) => Ok(p.start(state)),
            Self::Saml(p) => p.start(state, fresh).await,
            Self::Passcode(_) => Err(not_redirect()),
        }
    }

    /// Exchanges the callback's code and verifies what the provider says about the user.
    pub async fn finish(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<Identity, IdpError> {
        match self {
            Self::Oidc(p) => p.finish(code, nonce, pkce_verifier).await,
            Self::OAuth2(p) => p.finish(code, pkce_verifier).await,
            // A SAML response is POSTed to its own endpoint (`signin::saml`).
            Self::Passcode(_) | Self::Saml(_) => Err(not_redirect()),
        }
    }

    /// Where to send the browser to sign out at the provider too, if it offers that: OIDC
    /// RP-initiated logout, or a SAML LogoutRequest for the session's NameID.
    pub async fn end_session_url(
        &self,
        session: &crate::session::Session,
        post_logout_redirect: &Url,
    ) -> Option<Url> {
        match self {
            Self::Oidc(p) => p.end_session_url(post_logout_redirect).await,
            Self::Saml(p) => p.logout_url(session).await,
            Self::OAuth2(_) | Self::Passcode(_) => None,
        }
    }
}

/// A passcode has no authorization redirect, a SAML IdP no OAuth callback.
fn not_redirect() -> IdpError {
    IdpError::Provider("this provider has no OAuth callback".into())
}

/// The HTTP client for an IdP's back channel (discovery, keys, tokens, profiles).
fn back_channel(config: &IdpConfig) -> anyhow::Result<reqwest::Client> {
    // The system roots (an IdP is a public service or the organisation's own, behind its
    // CA), plus the IdP's private CA when configured.
    let tls = crate::tls_client::client_config(config.ca_file.as_deref())?;
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        // Following redirects from an IdP's back channel invites SSRF; refuse them.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .user_agent(concat!("borderless/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    crate::error_chain::chain(e)
}

/// What a provider asserted about a user, before the attribute mapping.
pub struct Asserted {
    pub issuer: String,
    pub subject: String,
    /// Every claim (or profile field) by name; `sub` included.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The address and whether the provider vouched for it, from one source.
    pub email: Option<(String, bool)>,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub auth_time: Option<i64>,
}

impl Asserted {
    /// Maps the claims to the IdP's attributes. Only a verified address can reach a header
    /// or an assertion, whatever claims the provider sent under the name `email`.
    pub fn into_identity(mut self, config: &IdpConfig) -> Identity {
        let email = IdpEmail::from_claim(self.email);
        self.claims.remove("email");
        self.claims.remove("email_verified");
        if let Some(verified) = email.verified() {
            self.claims.insert("email".into(), verified.as_str().into());
            self.claims.insert("email_verified".into(), true.into());
        }
        let mut attributes = AttributeMap::new();
        for (attr, claim) in &config.claims {
            if let Some(v) = self.claims.get(claim) {
                let values = claim_values(v);
                if !values.is_empty() {
                    attributes.insert(attr.clone(), values);
                }
            }
        }
        Identity {
            idp: config.id.clone(),
            email,
            issuer: self.issuer,
            subject: self.subject,
            attributes,
            amr: self.amr,
            acr: self.acr,
            auth_time: self.auth_time,
        }
    }
}

/// A verified sign-in result, independent of the protocol that produced it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    pub idp: String,
    /// The address the IdP asserted and whether it vouched for it. Only a verified one is
    /// an identity; an unverified one is kept only to say so on a refusal page.
    pub email: IdpEmail,
    pub issuer: String,
    pub subject: String,
    pub attributes: AttributeMap,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub auth_time: Option<i64>,
}

/// An email address as an identity provider stated it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub enum IdpEmail {
    #[default]
    None,
    /// Syntactically valid and vouched for by the IdP.
    Verified(Address),
    /// Stated without `email_verified: true`, or not a valid address.
    Unverified(String),
}

impl IdpEmail {
    /// From a protocol's (address, verified) pair.
    pub fn from_claim(claim: Option<(String, bool)>) -> Self {
        match claim {
            None => Self::None,
            Some((raw, true)) => match Address::parse(&raw) {
                Ok(a) => Self::Verified(a),
                Err(_) => Self::Unverified(raw),
            },
            Some((raw, false)) => Self::Unverified(raw),
        }
    }

    pub fn verified(&self) -> Option<&Address> {
        match self {
            Self::Verified(a) => Some(a),
            _ => None,
        }
    }

    /// Whatever address was stated, for messages to the user only.
    pub fn shown(&self) -> Option<&str> {
        match self {
            Self::None => None,
            Self::Verified(a) => Some(a.as_str()),
            Self::Unverified(s) => Some(s),
        }
    }
}

/// Turns a JSON claim into attribute values: strings as they are, arrays element-wise,
/// numbers and booleans in their JSON spelling; objects are skipped.
pub fn claim_values(v: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        Value::Array(items) => items
            .iter()
            .filter(|i| !i.is_array() && !i.is_object())
            .flat_map(claim_values)
            .collect(),
        Value::Null | Value::Object(_) => Vec::new(),
    }
}
