//! `[mfa]`: where the key that seals TOTP secrets lives, and the name authenticator apps show.

use std::path::{Path, PathBuf};

use super::file::MfaSection;

#[derive(Debug, Clone)]
pub struct MfaSettings {
    pub key_file: PathBuf,
    pub issuer: String,
}

pub(super) fn mfa(
    m: &MfaSection,
    resolve: &dyn Fn(&str) -> PathBuf,
    base_dir: &Path,
    organization: &str,
) -> MfaSettings {
    MfaSettings {
        key_file: m
            .key_file
            .as_deref()
            .map(resolve)
            .unwrap_or_else(|| base_dir.join("mfa-sealing.key")),
        issuer: m.issuer.clone().unwrap_or_else(|| organization.to_string()),
    }
}
