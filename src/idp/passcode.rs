//! Email one-time passcodes: the gateway itself vouches for an address after its owner
//! types the code mailed to it. The codes and the lock-out live in the directory
//! (`directory::passcodes`), so every gateway instance sharing the database agrees on them;
//! the pages are the sign-in plane's (`signin::passcode`).
//!
//! A passcode proves control of a mailbox, not a second factor: the identity carries no
//! `amr`, so no MFA rule can mistake it for one.

use std::sync::Arc;

use rand::Rng;

use super::{Asserted, Identity};
use crate::config::{IdpConfig, PasscodeSettings};
use crate::directory::address::Address;

pub struct PasscodeProvider {
    pub config: Arc<IdpConfig>,
    pub settings: PasscodeSettings,
}

impl PasscodeProvider {
    pub fn new(config: Arc<IdpConfig>) -> anyhow::Result<Self> {
        let settings = config
            .passcode
            .clone()
            .ok_or_else(|| anyhow::anyhow!("idp {} is not a passcode provider", config.id))?;
        Ok(Self { config, settings })
    }

    /// A fresh code of the configured length, each digit uniform from the OS's generator.
    pub fn new_code(&self) -> String {
        let mut rng = rand::rngs::OsRng;
        (0..self.settings.code_length)
            .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
            .collect()
    }

    /// The identity of whoever typed the right code for `address`.
    pub fn identity(&self, address: &Address) -> Identity {
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), address.as_str().into());
        Asserted {
            issuer: self.config.issuer.clone(),
            subject: address.as_str().to_string(),
            claims,
            email: Some((address.as_str().to_string(), true)),
            amr: Vec::new(),
            acr: None,
            auth_time: Some(crate::session::now_unix()),
        }
        .into_identity(&self.config)
    }
}

/// What a guest typed, reduced to the digits of a code of `length`: spaces and dashes
/// (codes are shown grouped) are dropped; anything else makes it no code at all.
pub fn normalize_code(typed: &str, length: u32) -> Option<String> {
    let digits: String = typed
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '\u{a0}'))
        .collect();
    (digits.len() == length as usize && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_codes_are_normalized_or_refused() {
        assert_eq!(normalize_code("1234 5678", 8).as_deref(), Some("12345678"));
        assert_eq!(normalize_code("1234-5678", 8).as_deref(), Some("12345678"));
        assert_eq!(normalize_code("1234567", 8), None);
        assert_eq!(normalize_code("1234567a", 8), None);
        assert_eq!(normalize_code("١٢٣٤٥٦٧٨", 8), None, "only ASCII digits");
    }
}
