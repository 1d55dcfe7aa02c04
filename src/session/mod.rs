//! Server-side sessions: the record, the store behind a trait, and the moka cache in front.

pub mod attributes;
mod manager;
mod store;

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub use attributes::{AttributeMap, Attributes, Values};
pub use manager::SessionManager;
pub use store::{SessionStore, SqlSessionStore, StoreError};

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
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The directory user id: revocation and assignments key on it.
    pub user_key: String,
    pub idp: String,
    pub issuer: String,
    pub subject: String,
    pub attributes: Attributes,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Session {
    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    pub fn first(&self, attr: &str) -> Option<&str> {
        self.attributes.first(attr)
    }
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
