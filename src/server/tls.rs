//! Server TLS: certificate chain and key from PEM files, ALPN for HTTP/2 and HTTP/1.1. The
//! certificate is swappable, so a SIGHUP picks up renewed files without a restart.
//!
//! Returning clients resume instead of repeating the full handshake (a signature and a key
//! exchange saved per connection): stateless tickets, so any worker thread resumes any
//! client and no per-client state grows with the number of clients. rustls' default keeps
//! resumption state for only 256 clients, so beyond that every client paid the full price.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// TLS 1.2 session-id resumption entries (a few hundred bytes each).
const RESUMPTION_CACHE: usize = 10_000;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificate a listener presents, reloadable from its files.
#[derive(Debug)]
pub struct ReloadableCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

impl ReloadableCert {
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            current: ArcSwap::from_pointee(read(cert, key)?),
        }))
    }

    /// Reads the files again; on any error the certificate in use stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = read(&self.cert_path, &self.key_path)?;
        self.current.store(Arc::new(fresh));
        Ok(())
    }

    pub fn files(&self) -> (&Path, &Path) {
        (&self.cert_path, &self.key_path)
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn read(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing certificate {}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{}: no certificate found", cert.display());
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading private key {}", key.display()))?;
    CertifiedKey::from_der(certs, private, &provider())
        .with_context(|| format!("{} and {} do not match", cert.display(), key.display()))
}

/// A TLS acceptor presenting `cert`.
pub fn acceptor(cert: Arc<ReloadableCert>) -> anyhow::Result<TlsAcceptor> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Ticket keys are random per process and rotate every 6 hours (the previous key still
    // decrypts during the next period). TLS 1.3 resumption in rustls always runs a fresh
    // (EC)DHE exchange, so a ticket key that leaks later does not expose past traffic; early
    // data (0-RTT, replayable) stays off.
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    // TLS 1.2 clients without ticket support resume by session id from this cache.
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(RESUMPTION_CACHE);
    Ok(TlsAcceptor::from(Arc::new(config)))
}
