//! Identity providers. Each kind turns a browser round trip into a verified `Identity`;
//! what happens next (sessions, redirects) belongs to the sign-in plane.

pub mod oidc;

use crate::directory::address::Address;
use crate::session::Attributes;

/// A verified sign-in result, independent of the protocol that produced it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    pub idp: String,
    /// The address the IdP asserted and whether it vouched for it. Only a verified one is
    /// an identity; an unverified one is kept only to say so on a refusal page.
    pub email: IdpEmail,
    pub issuer: String,
    pub subject: String,
    pub attributes: Attributes,
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
