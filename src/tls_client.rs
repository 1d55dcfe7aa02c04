//! TLS for the gateway's own outgoing connections (apps, identity providers): the operating
//! system's trusted roots plus, when configured, one private CA file, with rustls' safe
//! defaults. One place, so an upstream and an IdP behind the same private CA behave alike.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A client config trusting the system roots and the certificates in `extra_ca` (PEM).
pub fn client_config(extra_ca: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(ca) = extra_ca {
        for cert in CertificateDer::pem_file_iter(ca)
            .map_err(|e| anyhow::anyhow!("{}: {e}", ca.display()))?
        {
            roots.add(cert.map_err(|e| anyhow::anyhow!("{}: {e}", ca.display()))?)?;
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}
