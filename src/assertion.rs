//! Signed identity assertions for apps: a short-lived ES256 JWT per request, audience = the
//! app, carrying only the attributes that app maps, with the public key published at
//! `/.well-known/jwks.json` so apps can verify it.
//!
//! Rotation: `borderless assertion-key rotate` moves the key to `<file>.previous` and
//! writes a new one; after a reload the gateway signs with the new key and publishes both,
//! so apps holding a cached JWKS or a fresh assertion keep verifying. Deleting the
//! `.previous` file (after the JWKS cache time plus the assertion lifetime) ends the overlap.

use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::SecretKey;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use sha2::{Digest, Sha256};

use std::sync::Arc;
use std::time::Duration;

use crate::session::{Session, SessionKey, now_unix};

pub struct AssertionSigner {
    /// Signed assertions per (session, app), reused for a fraction of their lifetime: an
    /// ES256 signature costs hundreds of microseconds, a cache hit well under one.
    cache: moka::sync::Cache<(SessionKey, String), Arc<str>>,
    key: EncodingKey,
    kid: String,
    issuer: String,
    ttl_secs: i64,
    jwks: String,
}

/// Claim names set by the gateway; attributes with these names are not copied over them.
const RESERVED: &[&str] = &[
    "iss",
    "aud",
    "sub",
    "iat",
    "nbf",
    "exp",
    "jti",
    "idp",
    "auth_time",
    "amr",
    "acr",
];

impl AssertionSigner {
    /// Loads the PKCS#8 P-256 key, creating it (mode 0600) when the file does not exist yet,
    /// and the previous key of the last rotation when `<file>.previous` exists.
    pub fn load_or_create(path: &Path, issuer: &str, ttl_secs: i64) -> anyhow::Result<Self> {
        let secret = if path.exists() {
            read_private(path)?
        } else {
            let key = SecretKey::random(&mut rand::rngs::OsRng);
            let pem = key.to_pkcs8_pem(LineEnding::LF)?;
            write_private(path, pem.as_bytes())?;
            key
        };
        let previous_path = previous_path(path);
        let previous = if previous_path.exists() {
            Some(read_private(&previous_path)?)
        } else {
            None
        };
        Self::from_keys(&secret, previous.as_ref(), issuer, ttl_secs)
    }

    pub fn from_key(secret: &SecretKey, issuer: &str, ttl_secs: i64) -> anyhow::Result<Self> {
        Self::from_keys(secret, None, issuer, ttl_secs)
    }

    fn from_keys(
        secret: &SecretKey,
        previous: Option<&SecretKey>,
        issuer: &str,
        ttl_secs: i64,
    ) -> anyhow::Result<Self> {
        let pem = secret.to_pkcs8_pem(LineEnding::LF)?;
        let key = EncodingKey::from_ec_pem(pem.as_bytes())?;
        let (kid, current) = public_jwk(secret)?;
        let mut keys = vec![current];
        if let Some(p) = previous {
            let (old_kid, old) = public_jwk(p)?;
            if old_kid != kid {
                keys.push(old);
            }
        }
        let jwks = serde_json::json!({ "keys": keys }).to_string();
        // Reuse for at most a fifth of the lifetime (one minute by default), so an app always
        // receives an assertion with most of its validity left.
        let reuse = Duration::from_secs((ttl_secs.max(5) / 5) as u64);
        let cache = moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(reuse)
            .build();
        Ok(Self {
            cache,
            key,
            kid,
            issuer: issuer.to_string(),
            ttl_secs,
            jwks,
        })
    }

    /// The JWKS document apps fetch to verify assertions.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    /// The id of the key new assertions are signed with.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The assertion for this session and app, signed at most once per reuse period.
    pub fn assertion(
        &self,
        session_key: SessionKey,
        app_id: &str,
        claims: &[String],
        session: &Session,
    ) -> Result<Arc<str>, jsonwebtoken::errors::Error> {
        let key = (session_key, app_id.to_string());
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        let jwt: Arc<str> = self.sign(app_id, claims, session)?.into();
        self.cache.insert(key, jwt.clone());
        Ok(jwt)
    }

    /// Signs an assertion for `app_id` with the attributes named in `allowed` (the app's
    /// mapping) and the gateway's own claims.
    pub fn sign(
        &self,
        app_id: &str,
        allowed: &[String],
        session: &Session,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = now_unix();
        let mut claims = serde_json::Map::new();
        for (name, values) in session.attributes().iter() {
            if RESERVED.contains(&name) || !allowed.iter().any(|a| a == name) {
                continue;
            }
            let v = match (values.len(), values.clone().next()) {
                (1, Some(one)) if name != "groups" => serde_json::Value::from(one),
                _ => serde_json::Value::from(values.map(str::to_string).collect::<Vec<_>>()),
            };
            claims.insert(name.to_string(), v);
        }
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("aud".into(), app_id.into());
        claims.insert("sub".into(), session.user_key().into());
        claims.insert("iat".into(), now.into());
        claims.insert("nbf".into(), (now - 5).into());
        claims.insert(
            "exp".into(),
            (now + self.ttl_secs).min(session.expires_at).into(),
        );
        claims.insert("idp".into(), (*session.idp).into());
        claims.insert("auth_time".into(), session.auth_time.into());
        if session.amr().len() > 0 {
            claims.insert("amr".into(), session.amr().collect::<Vec<_>>().into());
        }
        if let Some(acr) = session.acr() {
            claims.insert("acr".into(), acr.into());
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key)
    }
}

/// The public half as a JWK, and its key id: a hash of the public key, so it changes
/// exactly when the key does.
fn public_jwk(secret: &SecretKey) -> anyhow::Result<(String, serde_json::Value)> {
    let mut jwk: serde_json::Value = serde_json::from_str(&secret.public_key().to_jwk_string())?;
    let kid = Sha256::digest(jwk.to_string().as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    if let Some(o) = jwk.as_object_mut() {
        o.insert("kid".into(), kid.clone().into());
        o.insert("use".into(), "sig".into());
        o.insert("alg".into(), "ES256".into());
    }
    Ok((kid, jwk))
}

/// Where the key of the last rotation is kept while apps may still verify with it.
pub fn previous_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".previous");
    PathBuf::from(p)
}

/// Moves the current key to `<file>.previous` (replacing an older one) and writes a new key.
/// Returns the new key's id. The gateway uses it after its next reload.
pub fn rotate(path: &Path) -> anyhow::Result<String> {
    if path.exists() {
        read_private(path)?;
        std::fs::rename(path, previous_path(path))?;
    }
    let key = SecretKey::random(&mut rand::rngs::OsRng);
    let pem = key.to_pkcs8_pem(LineEnding::LF)?;
    write_private(path, pem.as_bytes())?;
    Ok(public_jwk(&key)?.0)
}

/// Reads a private key, refusing a file that group or others can read: whoever reads it
/// can sign identities every app trusts.
fn read_private(path: &Path) -> anyhow::Result<SecretKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "{}: the assertion signing key is readable by group or others (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    let pem = std::fs::read_to_string(path)?;
    SecretKey::from_pkcs8_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: not a PKCS#8 P-256 key: {e}", path.display()))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(bytes)
}
