//! A SAML IdP's metadata, parsed (samael) and checked for what signing in needs: an entity
//! id, a single sign-on endpoint for the Redirect binding, and at least one signing
//! certificate. An IdP whose metadata names no signing certificate is refused: without one
//! nothing could be verified, and "skip verification" is never a mode. A leaf module, so
//! config validation and the SAML provider read metadata the same way.

use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING};
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
