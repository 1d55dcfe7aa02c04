//! A SAML IdP's metadata, parsed (samael) and checked for what signing in needs: an entity
//! id, a single sign-on endpoint for the Redirect binding, and at least one signing
//! certificate. An IdP whose metadata names no signing certificate is refused: without one
//! nothing could be verified, and "skip verification" is never a mode. A leaf module, so
//! config validation and the SAML provider read metadata the same way.

use samael::key_info::{KeyInfo, X509Data};
use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING, KeyDescriptor};
use samael::service_provider::ServiceProvider;

/// Metadata that passed the checks.
#[derive(Clone)]
pub struct IdpMetadata {
    pub descriptor: EntityDescriptor,
    pub entity_id: String,
    /// The `SingleSignOnService` location for the Redirect binding.
    pub sso_redirect: String,
    /// The `SingleLogoutService` location for the Redirect binding, if any.
    pub slo_redirect: Option<String>,
    /// How many signing certificates it names (two during a rollover).
    pub signing_certs: usize,
    /// The metadata once per signing certificate, each naming only that one. samael stops
    /// at the first certificate xmlsec cannot use for a signature (an EC certificate for
    /// an RSA signature is an error, not a mismatch), so each is tried on its own.
    pub per_certificate: Vec<EntityDescriptor>,
}

impl IdpMetadata {
    pub fn parse(xml: &str) -> Result<IdpMetadata, String> {
        if has_doctype(xml) {
            return Err("metadata with a DOCTYPE is refused".into());
        }
        let descriptor: EntityDescriptor = xml
            .parse()
            .map_err(|e| format!("not SAML metadata (an EntityDescriptor): {e}"))?;
        let entity_id = descriptor
            .entity_id
            .clone()
            .filter(|e| !e.is_empty())
            .ok_or("the EntityDescriptor has no entityID")?;
        if descriptor
            .idp_sso_descriptors
            .as_ref()
            .is_none_or(|d| d.is_empty())
        {
            return Err("no IDPSSODescriptor: this is not an identity provider's metadata".into());
        }
        let probe = ServiceProvider {
            idp_metadata: descriptor.clone(),
            ..ServiceProvider::default()
        };
        let sso_redirect = probe
            .sso_binding_location(HTTP_REDIRECT_BINDING)
            .ok_or("no SingleSignOnService for the HTTP-Redirect binding")?;
        let signing_certs = probe
            .idp_signing_certs()
            .map_err(|e| format!("a signing certificate does not parse: {e}"))?
            .map(|c| c.len())
            .unwrap_or(0);
        if signing_certs == 0 {
            return Err("no signing certificate (KeyDescriptor use=\"signing\"): responses could not be verified".into());
        }
        Ok(IdpMetadata {
            slo_redirect: probe.slo_binding_location(HTTP_REDIRECT_BINDING),
            per_certificate: per_certificate(&descriptor),
            descriptor,
            entity_id,
            sso_redirect,
            signing_certs,
        })
    }
}

/// Whether an XML text declares a document type (where entity expansion attacks live).
pub fn has_doctype(xml: &str) -> bool {
    xml.as_bytes()
        .windows(9)
        .any(|w| w.eq_ignore_ascii_case(b"<!DOCTYPE"))
}

/// Copies of `d` whose IdP descriptors each name a single signing certificate.
fn per_certificate(d: &EntityDescriptor) -> Vec<EntityDescriptor> {
    let signing: Vec<KeyDescriptor> = d
        .idp_sso_descriptors
        .iter()
        .flatten()
        .flat_map(|i| i.key_descriptors.iter())
        .filter(|k| {
            k.key_use
                .as_deref()
                .is_none_or(|u| u.is_empty() || u == "signing")
        })
        .flat_map(|k| {
            let certs = k
                .key_info
                .x509_data
                .as_ref()
                .map(|x| x.certificates.clone())
                .unwrap_or_default();
            certs.into_iter().map(move |c| KeyDescriptor {
                key_use: Some("signing".into()),
                key_info: KeyInfo {
                    id: None,
                    x509_data: Some(X509Data {
                        certificates: vec![c],
                    }),
                },
                encryption_methods: None,
            })
        })
        .collect();
    signing
        .into_iter()
        .map(|k| {
            let mut one = d.clone();
            for idp in one.idp_sso_descriptors.iter_mut().flatten() {
                idp.key_descriptors = vec![k.clone()];
            }
            one
        })
        .collect()
}
