//! The random tokens of the sign-in plane and the directory: flow ids, handoff codes,
//! browser bindings, invitation link secrets and API key secrets.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

/// 256 random bits from the operating system, base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// Whether a string looks like one of our tokens (43 base64url characters).
pub fn is_token(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
