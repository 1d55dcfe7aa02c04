//! Sealing MFA secrets at rest: AES-256-GCM under a key kept outside the database, with the
//! row's identity as associated data, so a copy of the database reveals no secret and a
//! sealed secret moved to another user's row does not open.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;

const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("MFA key file {path}: {why}")]
    Key { path: String, why: String },
    #[error("a sealed MFA secret does not open (wrong key, or moved from another row)")]
    Open,
}

pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// The key in `path` (32 random bytes, base64), created (mode 0600) if the file does not
    /// exist yet, so a new installation works without a setup step.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        match Self::create(path) {
            // Another worker (or process) created it first: use theirs.
            Err(SealError::Key { .. }) if path.exists() => Self::load(path),
            other => other,
        }
    }

    fn load(path: &Path) -> Result<Self, SealError> {
        let err = |why: String| SealError::Key {
            path: path.display().to_string(),
            why,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| err(format!("not base64: {e}")))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| err("must hold 32 bytes, base64".into()))?;
        Ok(Self::from_key(&key))
    }

    /// Reads the key, or creates the file when there is none.
    fn create(path: &Path) -> Result<Self, SealError> {
        let err = |why: String| SealError::Key {
            path: path.display().to_string(),
            why,
        };
        match std::fs::read_to_string(path) {
            Ok(_) => Self::load(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts
                    .open(path)
                    .map_err(|e| err(format!("cannot create: {e}")))?;
                f.write_all(format!("{}\n", STANDARD.encode(key)).as_bytes())
                    .map_err(|e| err(format!("cannot write: {e}")))?;
                tracing::info!(path = %path.display(), "created the MFA sealing key");
                Ok(Self::from_key(&key))
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// `plain` sealed and bound to `context` (the row it belongs in), as text.
    pub fn seal(&self, plain: &[u8], context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plain,
            aad: context.as_bytes(),
        };
        // Encryption with a valid key and a 12-byte nonce cannot fail (aes-gcm returns an
        // error only for messages beyond its 64 GiB limit).
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SealError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| SealError::Open)?;
        if bytes.len() <= NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ct) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Open)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_row() {
        let s = Sealer::from_key(&[7; 32]);
        let sealed = s.seal(b"secret", "user-1/m-1");
        assert!(!sealed.contains("secret"));
        assert_eq!(s.open(&sealed, "user-1/m-1").expect("opens"), b"secret");
        assert!(
            s.open(&sealed, "user-2/m-1").is_err(),
            "moved to another row"
        );
        assert!(
            Sealer::from_key(&[8; 32])
                .open(&sealed, "user-1/m-1")
                .is_err()
        );
        assert!(s.open("AAAA", "user-1/m-1").is_err());
        // Two seals of the same secret differ (fresh nonce each time).
        assert_ne!(s.seal(b"secret", "x"), s.seal(b"secret", "x"));
    }

    #[test]
    fn the_key_file_is_created_once_and_then_read() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("mfa.key");
        let sealed = Sealer::load_or_create(&path)
            .expect("create")
            .seal(b"x", "c");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = Sealer::load_or_create(&path).expect("read");
        assert_eq!(again.open(&sealed, "c").expect("same key"), b"x");
        std::fs::write(&path, "short").expect("write");
        assert!(Sealer::load_or_create(&path).is_err());
    }
}
