//! Server-side sessions: the record, the store behind a trait, and the moka cache in front.

mod batch;
mod interned;
mod manager;
mod packed;
mod record;
mod sqlite_reads;
mod store;

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub use manager::SessionManager;
pub use packed::{AttributeMap, Attributes, Values};
pub use store::{Found, SessionStore, SqlSessionStore, StoreError};

use crate::policy::Strength;

/// The opaque 256-bit value in the session cookie. Never logged, never stored as is.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId([u8; 32]);

impl SessionId {
    pub fn random() -> Self {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self(b)
    }

    /// Parses a cookie value; anything that is not exactly 32 base64url bytes is no session.
    pub fn from_cookie(v: &str) -> Option<Self> {
        if v.len() != 43 {
            return None;
        }
        let mut out = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(v, &mut out) {
            Ok(32) => Some(Self(out)),
            _ => None,
        }
    }

    pub fn to_cookie(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The key under which the session is stored and cached.
    pub fn key(&self) -> SessionKey {
        SessionKey(Sha256::digest(self.0).into())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

/// SHA-256 of a session id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SessionKey(pub [u8; 32]);

impl SessionKey {
    /// The key `to_hex` wrote: 64 lower- or upper-case hex digits, nothing else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        fn digit(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        let pairs = hex.as_bytes().as_chunks::<2>();
        let ([], 32) = (pairs.1, pairs.0.len()) else {
            return None;
        };
        let mut key = [0u8; 32];
        for (byte, [high, low]) in key.iter_mut().zip(pairs.0) {
            *byte = digit(*high)? << 4 | digit(*low)?;
        }
        Some(Self(key))
    }

    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(64);
        for b in self.0 {
            hex.push(char::from(DIGITS[usize::from(b >> 4)]));
            hex.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
        hex
    }
}

/// One signed-in browser. Compact because a gateway holds one per browser in its cache:
/// strings every session of a provider repeats are shared, the rest packed (`packed`).
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// The provider's id in the config.
    pub idp: Arc<str>,
    pub issuer: Arc<str>,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    /// MFA the gateway itself performed in this session (step-up): how strong, and when.
    pub mfa: Option<(Strength, i64)>,
    strings: packed::Packed,
}

/// What a session is made of, as the sign-in plane and the store have it.
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    /// The directory user id: revocation and assignments key on it.
    pub user_key: String,
    pub idp: String,
    pub issuer: String,
    pub subject: String,
    pub attributes: AttributeMap,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub mfa: Option<(Strength, i64)>,
}

impl From<NewSession> for Session {
    fn from(n: NewSession) -> Self {
        Session {
            idp: interned::intern(&n.idp),
            issuer: interned::intern(&n.issuer),
            auth_time: n.auth_time,
            created_at: n.created_at,
            expires_at: n.expires_at,
            mfa: n.mfa,
            strings: packed::Packed::new(packed::Fields {
                user_key: &n.user_key,
                subject: &n.subject,
                acr: n.acr.as_deref(),
                amr: &n.amr,
                attributes: &n.attributes,
            }),
        }
    }
}

impl Session {
    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    /// The directory user id: revocation and assignments key on it.
    pub fn user_key(&self) -> &str {
        self.strings.user_key()
    }

    /// The subject at the provider.
    pub fn subject(&self) -> &str {
        self.strings.subject()
    }

    pub fn acr(&self) -> Option<&str> {
        self.strings.acr()
    }

    pub fn amr(&self) -> Values<'_> {
        self.strings.amr()
    }

    pub fn attributes(&self) -> Attributes<'_> {
        self.strings.attributes()
    }

    pub fn first(&self, attr: &str) -> Option<&str> {
        self.attributes().first(attr)
    }

    /// The same session with MFA the gateway just performed, for a new id (step-up rotates
    /// the id, so a cookie captured before the second factor gains nothing from it). Its
    /// `amr` gains `mfa` and the method (RFC 8176: `otp` for TOTP, `hwk` for a passkey), so
    /// apps reading the signed assertion see how the user got in.
    pub fn with_mfa(&self, strength: Strength, at: i64, method_amr: &str) -> Session {
        let mut amr: Vec<String> = self.amr().map(str::to_string).collect();
        for v in [method_amr, "mfa"] {
            if !amr.iter().any(|a| a == v) {
                amr.push(v.to_string());
            }
        }
        Session::from(NewSession {
            user_key: self.user_key().to_string(),
            idp: self.idp.to_string(),
            issuer: self.issuer.to_string(),
            subject: self.subject().to_string(),
            attributes: self.attributes().to_map(),
            amr,
            acr: self.acr().map(str::to_string),
            auth_time: self.auth_time,
            created_at: self.created_at,
            expires_at: self.expires_at,
            mfa: Some((strength, at)),
        })
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user_key", &self.user_key())
            .field("idp", &self.idp)
            .field("issuer", &self.issuer)
            .field("subject", &self.subject())
            .field("attributes", &self.attributes())
            .field("amr", &self.amr().collect::<Vec<_>>())
            .field("acr", &self.acr())
            .field("auth_time", &self.auth_time)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("mfa", &self.mfa)
            .finish()
    }
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A session of `subject`'s, without attributes, that expires `expires_in` seconds from
/// now: for the tests of the cache and the store.
#[cfg(test)]
pub(crate) fn session_of(subject: &str, expires_in: i64) -> Session {
    let now = now_unix();
    Session::from(NewSession {
        user_key: format!("iss#{subject}"),
        idp: "op".into(),
        issuer: "iss".into(),
        subject: subject.into(),
        attributes: Default::default(),
        amr: vec![],
        acr: None,
        auth_time: now,
        created_at: now,
        expires_at: now + expires_in,
        mfa: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_read_back_from_hex_and_nothing_else_passes() {
        for _ in 0..50 {
            let key = SessionId::random().key();
            assert_eq!(SessionKey::from_hex(&key.to_hex()), Some(key));
            assert_eq!(
                SessionKey::from_hex(&key.to_hex().to_uppercase()),
                Some(key)
            );
        }
        let good = "0f".repeat(32);
        assert!(SessionKey::from_hex(&good).is_some());
        for bad in [
            &good[..63],
            &format!("{good}0"),
            &format!("+f{}", &good[2..]),
            &format!("0g{}", &good[2..]),
            &format!("{} 0", &good[..61]),
            &"é".repeat(32),
            "",
        ] {
            assert_eq!(SessionKey::from_hex(bad), None, "{bad:?}");
        }
    }
}
