//! Checking a Security Event Token (RFC 8417) pushed by a transmitter (RFC 8935): which
//! receiver it claims to come from (`iss`, read before anything is trusted only to pick the
//! keys), then the signature with that receiver's keys, the issuer, the audience, `iat` and
//! `jti`. Each failure is the RFC 8935 error code the transmitter gets back.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::SignalReceiver;

/// RFC 8935 §2.4 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetError {
    InvalidRequest,
    InvalidKey,
    InvalidIssuer,
    InvalidAudience,
}

impl SetError {
    pub fn code(self) -> &'static str {
        match self {
            SetError::InvalidRequest => "invalid_request",
            SetError::InvalidKey => "invalid_key",
            SetError::InvalidIssuer => "invalid_issuer",
            SetError::InvalidAudience => "invalid_audience",
        }
    }
}

/// A verified SET's claims.
#[derive(Debug, Deserialize)]
pub struct SetClaims {
    pub iss: String,
    pub jti: String,
    pub iat: i64,
    /// Event type URI → event payload.
    pub events: serde_json::Map<String, serde_json::Value>,
    /// The subject, when the SET names it once for all its events (CAEP / SSF 1.0).
    #[serde(default)]
    pub sub_id: Option<serde_json::Value>,
}

/// How far ahead of our clock a transmitter's `iat` may be, and how old an event may be.
pub const IAT_SKEW_SECS: i64 = 60;
pub const MAX_AGE_SECS: i64 = 24 * 3600;

/// Signature algorithms a transmitter may use: asymmetric only (a shared secret would let
/// anyone holding the config sign events).
const ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// The issuer a token claims, unverified: only to find its receiver.
pub fn claimed_issuer(token: &str) -> Result<String, SetError> {
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    jsonwebtoken::dangerous::insecure_decode::<Iss>(token)
        .map(|d| d.claims.iss)
        .map_err(|_| SetError::InvalidRequest)
}

pub fn key_id(token: &str) -> Result<Option<String>, SetError> {
    jsonwebtoken::decode_header(token)
        .map(|h| h.kid)
        .map_err(|_| SetError::InvalidRequest)
}

/// Verifies `token` for `receiver` with `keys`, at `now`.
pub fn verify(
    token: &str,
    receiver: &SignalReceiver,
    keys: &JwkSet,
    now: i64,
) -> Result<SetClaims, SetError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| SetError::InvalidRequest)?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(SetError::InvalidKey);
    }
    // RFC 8417 §2.3: a SET says what it is, so it cannot be passed off as an ID token.
    if header
        .typ
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("secevent+jwt"))
    {
        return Err(SetError::InvalidRequest);
    }
    let candidates = keys
        .keys
        .iter()
        .filter(|k| match (&header.kid, &k.common.key_id) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        });
    let mut validation = Validation::new(header.alg);
    validation.algorithms = vec![header.alg];
    validation.set_issuer(&[&receiver.issuer]);
    validation.set_audience(&[&receiver.audience]);
    validation.validate_exp = false;
    validation.required_spec_claims = ["iss", "aud"].iter().map(|s| s.to_string()).collect();
    let mut outcome = Err(SetError::InvalidKey);
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        match jsonwebtoken::decode::<SetClaims>(token, &key, &validation) {
            Ok(d) => {
                outcome = Ok(d.claims);
                break;
            }
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind;
                let mapped = match e.kind() {
                    ErrorKind::InvalidAudience => SetError::InvalidAudience,
                    ErrorKind::InvalidIssuer => SetError::InvalidIssuer,
                    ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                        SetError::InvalidKey
                    }
                    _ => SetError::InvalidRequest,
                };
                // A signature that verified with this key decides; keep trying others only
                // while the key is the problem.
                outcome = Err(mapped);
                if mapped != SetError::InvalidKey {
                    break;
                }
            }
        }
    }
    let claims = outcome?;
    if claims.iat > now + IAT_SKEW_SECS || claims.iat < now - MAX_AGE_SECS || claims.jti.is_empty()
    {
        return Err(SetError::InvalidRequest);
    }
    Ok(claims)
}
