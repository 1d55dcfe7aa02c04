//! SAML 2.0 service provider on samael (xmlsec for signatures and encryption).
//!
//! SP-initiated only by default: an AuthnRequest over the Redirect binding whose ID is ours
//! (256 random bits; samael's default is 32), the response over the POST binding to the ACS.
//! What a response must be to count, beyond what samael checks (signature against the IdP's
//! metadata certificates with SHA-1 refused, the signed content only, issuer, `InResponseTo`,
//! `Recipient`, `Destination`, bearer `SubjectConfirmation` with `NotOnOrAfter`, time
//! conditions with a small skew):
//!
//! - no DOCTYPE, no comments (a comment inside a signed value lets a wrapped text node read
//!   as a shorter address), exactly one assertion, plain or encrypted;
//! - an `AudienceRestriction` naming us (samael checks one only when present);
//! - an assertion id not seen before (the directory's replay table, until it expires).
//!
//! NameID is the subject (persistent is the expected partner setup); the address comes from
//! the usual email attributes or an emailAddress NameID; `AuthnContextClassRef` becomes `acr`
//! and, for the classes that mean it, `amr`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer};
use samael::metadata::NameIdFormat;
use samael::schema::{
    Assertion, AuthnContextClassRef, AuthnContextComparison, RequestedAuthnContext,
};
use samael::service_provider::ServiceProvider;
use samael::traits::ToXml;
use tokio::sync::RwLock;
use url::Url;

use super::{Asserted, AuthRequest, Identity, IdpError, error_chain};
use crate::config::{IdpConfig, MetadataSource, SamlSettings};
use crate::saml_metadata::{IdpMetadata, has_doctype};

/// How far our clock and the IdP's may disagree.
pub const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// How old an assertion's IssueInstant may be.
const MAX_ISSUE_DELAY: chrono::TimeDelta = chrono::TimeDelta::seconds(300);

/// Signature algorithms accepted: SHA-2 only, never SHA-1.
const ALGORITHMS: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// Attribute names that carry an address, in the order they are tried.
const EMAIL_ATTRIBUTES: [&str; 6] = [
    "email",
    "mail",
    "emailaddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "urn:oid:1.2.840.113549.1.9.1",
];

/// What a successful response proved, plus what replay protection needs.
pub struct Verified {
    pub identity: Identity,
    pub assertion_id: String,
    /// Until when the assertion could be used (its bearer confirmation's NotOnOrAfter).
    pub usable_until: i64,
}

struct Loaded {
    idp: Arc<IdpMetadata>,
    fetched: Instant,
}

pub struct SamlProvider {
    pub config: Arc<IdpConfig>,
    settings: SamlSettings,
    /// Our entity id, metadata URL and endpoints.
    pub entity_id: String,
    pub metadata_url: String,
    pub acs_url: String,
    slo_url: String,
    sp_key: Option<openssl::pkey::PKey<openssl::pkey::Private>>,
    sp_cert: Option<CertificateDer>,
    http: reqwest::Client,
    loaded: RwLock<Option<Loaded>>,
}

impl SamlProvider {
    pub fn new(config: Arc<IdpConfig>, public_url: &Url) -> anyhow::Result<Self> {
        let settings = config
            .saml
            .clone()
            .ok_or_else(|| anyhow::anyhow!("idp {} is not a SAML provider", config.id))?;
        let base = format!("/.borderless/saml/{}", config.id);
        let metadata_url = public_url.join(&format!("{base}/metadata"))?.to_string();
        let acs_url = public_url.join(&format!("{base}/acs"))?.to_string();
        let slo_url = public_url.join(&format!("{base}/slo"))?.to_string();
        let (sp_key, sp_cert) = match (&settings.sp_key_file, &settings.sp_cert_file) {
            (Some(k), Some(c)) => {
                let key = openssl::pkey::PKey::private_key_from_pem(&std::fs::read(k)?)?;
                let cert = openssl::x509::X509::from_pem(&std::fs::read(c)?)?;
                (Some(key), Some(CertificateDer::from(cert.to_der()?)))
            }
            _ => (None, None),
        };
        let loaded = match &settings.metadata_xml {
            Some(xml) => Some(Loaded {
                idp: Arc::new(IdpMetadata::parse(xml).map_err(anyhow::Error::msg)?),
                fetched: Instant::now(),
            }),
            None => None,
        };
        Ok(Self {
            http: super::back_channel(&config)?,
            entity_id: settings
                .sp_entity_id
                .clone()
                .unwrap_or(metadata_url.clone()),
            metadata_url,
            acs_url,
            slo_url,
            sp_key,
            sp_cert,
            settings,
            config,
            loaded: RwLock::new(loaded),
        })
    }

    pub fn allows_unsolicited(&self) -> bool {
        self.settings.allow_unsolicited
    }

    /// Our SP metadata, as partners import it.
    pub fn sp_metadata(&self) -> Result<String, IdpError> {
        let sp = self.service_provider(samael::metadata::EntityDescriptor::default());
        let descriptor = sp
            .metadata()
            .map_err(|e| IdpError::Provider(format!("SP metadata: {e}")))?;
        descriptor
            .to_string()
            .map_err(|e| IdpError::Provider(format!("SP metadata: {e:?}")))
    }

    fn service_provider(&self, idp: samael::metadata::EntityDescriptor) -> ServiceProvider {
        ServiceProvider {
            entity_id: Some(self.entity_id.clone()),
            key: self.sp_key.clone(),
            certificate: self.sp_cert.clone(),
            metadata_url: Some(self.metadata_url.clone()),
            acs_url: Some(self.acs_url.clone()),
            slo_url: Some(self.slo_url.clone()),
            idp_metadata: idp,
            authn_name_id_format: Some(NameIdFormat::PersistentNameIDFormat.value().to_string()),
            allow_idp_initiated: self.settings.allow_unsolicited,
            max_issue_delay: MAX_ISSUE_DELAY,
            max_clock_skew: CLOCK_SKEW,
            allowed_signature_algorithms: Some(ALGORITHMS.to_vec()),
            ..ServiceProvider::default()
        }
    }

    /// The IdP's metadata: from the file, or fetched from the URL when missing or due. A
    /// fetch that fails or fails the checks keeps the metadata last fetched.
    async fn idp(&self) -> Result<Arc<IdpMetadata>, IdpError> {
        let due = |l: &Option<Loaded>| {
            l.as_ref()
                .is_none_or(|l| l.fetched.elapsed() >= self.settings.refresh)
        };
        let url = match &self.settings.metadata {
            MetadataSource::Url(u) => u.clone(),
            MetadataSource::File(_) => {
                return self
                    .loaded
                    .read()
                    .await
                    .as_ref()
                    .map(|l| l.idp.clone())
                    .ok_or_else(|| IdpError::Provider("metadata not loaded".into()));
            }
        };
        {
            let l = self.loaded.read().await;
            if !due(&l)
                && let Some(l) = l.as_ref()
            {
                return Ok(l.idp.clone());
            }
        }
        let mut slot = self.loaded.write().await;
        if !due(&slot)
            && let Some(l) = slot.as_ref()
        {
            return Ok(l.idp.clone());
        }
        match self.fetch(&url).await {
            Ok(idp) => {
                let idp = Arc::new(idp);
                *slot = Some(Loaded {
                    idp: idp.clone(),
                    fetched: Instant::now(),
                });
                Ok(idp)
            }
            Err(e) => match slot.as_mut() {
                Some(old) => {
                    tracing::warn!(idp = %self.config.id, "refreshing SAML metadata failed; the last one serves: {e}");
                    // Try again in a minute rather than on every sign-in.
                    old.fetched = Instant::now() - self.settings.refresh
                        + Duration::from_secs(60).min(self.settings.refresh);
                    Ok(old.idp.clone())
                }
                None => Err(e),
            },
        }
    }

    async fn fetch(&self, url: &Url) -> Result<IdpMetadata, IdpError> {
        let resp = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| IdpError::Unreachable(format!("{url}: {}", error_chain(&e))))?;
        if !resp.status().is_success() {
            return Err(IdpError::Unreachable(format!(
                "{url} answered {}",
                resp.status()
            )));
        }
        let xml = resp
            .text()
            .await
            .map_err(|e| IdpError::Unreachable(format!("{url}: {}", error_chain(&e))))?;
        IdpMetadata::parse(&xml).map_err(|e| IdpError::Discovery {
            issuer: url.to_string(),
            reason: e,
        })
    }

    /// The AuthnRequest over the Redirect binding; `relay_state` is the flow id. The
    /// request's ID travels in `AuthRequest::nonce` and must come back as `InResponseTo`.
    pub async fn start(&self, relay_state: &str, fresh: bool) -> Result<AuthRequest, IdpError> {
        let idp = self.idp().await?;
        let sp = self.service_provider(idp.descriptor.clone());
        let mut request = sp
            .make_authentication_request(&idp.sso_redirect)
            .map_err(|e| IdpError::Provider(format!("AuthnRequest: {e}")))?;
        // An NCName: a letter or `_` first.
        request.id = format!("_{}", crate::token::random_token());
        // ForceAuthn: the IdP must authenticate the user anew, not from its session.
        request.force_authn = fresh.then_some(true);
        if !self.settings.requested_authn_context.is_empty() {
            request.requested_authn_context = Some(RequestedAuthnContext {
                authn_context_class_refs: Some(
                    self.settings
                        .requested_authn_context
                        .iter()
                        .map(|c| AuthnContextClassRef {
                            value: Some(c.clone()),
                        })
                        .collect(),
                ),
                authn_context_decl_refs: None,
                comparison: Some(AuthnContextComparison::Exact),
            });
        }
        let xml = request
            .to_string()
            .map_err(|e| IdpError::Provider(format!("AuthnRequest: {e:?}")))?;
        let mut url = Url::parse(&idp.sso_redirect)
            .map_err(|e| IdpError::Provider(format!("SSO URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("SAMLRequest", &deflate_base64(xml.as_bytes()))
            .append_pair("RelayState", relay_state);
        Ok(AuthRequest {
            url,
            nonce: request.id,
            pkce_verifier: String::new(),
        })
    }

    /// Verifies a POSTed `SAMLResponse` (base64). `request_id`: the AuthnRequest it must
    /// answer; `None` only for an unsolicited response, which the IdP must allow.
    pub async fn finish(
        &self,
        saml_response: &str,
        request_id: Option<&str>,
    ) -> Result<Verified, IdpError> {
        let reject = |why: String| IdpError::IdToken(why);
        if request_id.is_none() && !self.settings.allow_unsolicited {
            return Err(reject(
                "an unsolicited response (no sign-in of ours asked for it)".into(),
            ));
        }
        let raw: String = saml_response.split_ascii_whitespace().collect();
        let bytes = STANDARD
            .decode(raw.as_bytes())
            .map_err(|_| reject("SAMLResponse is not base64".into()))?;
        let xml =
            String::from_utf8(bytes).map_err(|_| reject("SAMLResponse is not UTF-8".into()))?;
        screen(&xml).map_err(reject)?;

        let idp = self.idp().await?;
        let ids: Vec<&str> = request_id.into_iter().collect();
        // Each signing certificate on its own (two during a rollover); the first that
        // verifies decides, and if none does the first one's reason is given.
        let mut first_error = None;
        let mut verified = None;
        for descriptor in &idp.per_certificate {
            let sp = self.service_provider(descriptor.clone());
            match sp.parse_xml_response(&xml, request_id.map(|_| ids.as_slice())) {
                Ok(a) => {
                    verified = Some(a);
                    break;
                }
                Err(e) => {
                    first_error.get_or_insert(e.to_string());
                }
            }
        }
        let assertion = verified.ok_or_else(|| {
            reject(first_error.unwrap_or_else(|| "no signing certificate".into()))
        })?;
        self.check_audience(&assertion).map_err(reject)?;
        self.check_context(&assertion).map_err(reject)?;
        let usable_until = assertion
            .subject
            .as_ref()
            .and_then(|s| s.subject_confirmations.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|c| c.subject_confirmation_data.as_ref()?.not_on_or_after)
            .map(|t| t.timestamp())
            .max()
            .unwrap_or_else(|| crate::session::now_unix() + 300);
        let identity = self.identity(&idp.entity_id, &assertion).map_err(reject)?;
        Ok(Verified {
            identity,
            assertion_id: assertion.id.clone(),
            usable_until: usable_until + CLOCK_SKEW.num_seconds(),
        })
    }

    /// samael checks an AudienceRestriction only when there is one; a careful SP needs one
    /// naming it, or an assertion for any SP of the same IdP would do.
    fn check_audience(&self, a: &Assertion) -> Result<(), String> {
        let named = a
            .conditions
            .as_ref()
            .and_then(|c| c.audience_restrictions.as_ref())
            .is_some_and(|rs| {
                !rs.is_empty()
                    && rs
                        .iter()
                        .all(|r| r.audience.iter().any(|x| x == &self.entity_id))
            });
        if named {
            Ok(())
        } else {
            Err(format!(
                "the assertion is not restricted to our audience {}",
                self.entity_id
            ))
        }
    }

    /// When classes were asked for, the IdP must say it authenticated with one of them.
    fn check_context(&self, a: &Assertion) -> Result<(), String> {
        let wanted = &self.settings.requested_authn_context;
        if wanted.is_empty() {
            return Ok(());
        }
        let used: Vec<String> = a
            .authn_statements
            .iter()
            .flatten()
            .filter_map(|s| s.authn_context.as_ref()?.value.as_ref()?.value.clone())
            .collect();
        if used.iter().any(|c| wanted.contains(c)) {
            Ok(())
        } else {
            Err(format!(
                "authenticated with {used:?}, not one of the requested {wanted:?}"
            ))
        }
    }

    fn identity(&self, issuer: &str, a: &Assertion) -> Result<Identity, String> {
        let name_id = a
            .subject
            .as_ref()
            .and_then(|s| s.name_id.as_ref())
            .filter(|n| !n.value.trim().is_empty())
            .ok_or("the assertion names no subject (NameID)")?;
        let mut claims = serde_json::Map::new();
        for statement in a.attribute_statements.iter().flatten() {
            for attr in &statement.attributes {
                let values: Vec<serde_json::Value> = attr
                    .values
                    .iter()
                    .filter_map(|v| v.value.clone())
                    .map(serde_json::Value::String)
                    .collect();
                for name in [&attr.name, &attr.friendly_name].into_iter().flatten() {
                    claims.insert(name.clone(), serde_json::Value::Array(values.clone()));
                }
            }
        }
        let first = |name: &str| {
            claims
                .get(name)
                .and_then(|v| v.as_array())
                .and_then(|v| v.first())
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let email_name_id =
            name_id.format.as_deref() == Some(NameIdFormat::EmailAddressNameIDFormat.value());
        let address = EMAIL_ATTRIBUTES
            .iter()
            .find_map(|n| first(n))
            .or_else(|| email_name_id.then(|| name_id.value.trim().to_string()));
        // A partner's IdP vouches for its own users: with `domains` set, only for those.
        let email = address.map(|a| {
            let domain = a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
            let vouched = self.config.domains.is_empty()
                || domain.is_some_and(|d| self.config.domains.contains(&d));
            (a, vouched)
        });
        let statement = a.authn_statements.iter().flatten().next();
        let acr = statement
            .and_then(|s| s.authn_context.as_ref())
            .and_then(|c| c.value.as_ref())
            .and_then(|c| c.value.clone());
        claims.insert("sub".into(), name_id.value.clone().into());
        // What a LogoutRequest for this session must name (see `logout_url`).
        if let Some(f) = &name_id.format {
            claims.insert(NAME_ID_FORMAT.into(), f.clone().into());
        }
        if let Some(index) = statement.and_then(|s| s.session_index.clone()) {
            claims.insert(SESSION_INDEX.into(), index.into());
        }
        Ok(Asserted {
            issuer: issuer.to_string(),
            subject: name_id.value.clone(),
            claims,
            email,
            amr: acr.as_deref().map(amr_of).unwrap_or_default(),
            acr,
            auth_time: statement
                .and_then(|s| s.authn_instant)
                .map(|t| t.timestamp()),
        }
        .into_identity(&self.config))
    }
}

/// Attributes a SAML session keeps for single logout.
pub const NAME_ID_FORMAT: &str = "saml_name_id_format";
pub const SESSION_INDEX: &str = "saml_session_index";

impl SamlProvider {
    /// SP-initiated single logout: a LogoutRequest over the Redirect binding for the
    /// session's NameID and SessionIndex, when the IdP publishes a Redirect SLO endpoint.
    /// The session here has already ended; the IdP's answer only leads to the signed-out
    /// page.
    pub async fn logout_url(&self, session: &crate::session::Session) -> Option<Url> {
        let idp = self.idp().await.ok()?;
        let slo = idp.slo_redirect.as_deref()?;
        let format = session
            .first(NAME_ID_FORMAT)
            .map(|f| format!(" Format=\"{}\"", xml_escape(f)))
            .unwrap_or_default();
        let index = session
            .first(SESSION_INDEX)
            .map(|i| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", xml_escape(i)))
            .unwrap_or_default();
        let xml = format!(
            "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
             xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_{id}\" Version=\"2.0\" \
             IssueInstant=\"{now}\" Destination=\"{dest}\"><saml:Issuer>{issuer}</saml:Issuer>\
             <saml:NameID{format}>{name_id}</saml:NameID>{index}</samlp:LogoutRequest>",
            id = crate::token::random_token(),
            now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            dest = xml_escape(slo),
            issuer = xml_escape(&self.entity_id),
            name_id = xml_escape(session.subject()),
        );
        let mut url = Url::parse(slo).ok()?;
        url.query_pairs_mut()
            .append_pair("SAMLRequest", &deflate_base64(xml.as_bytes()));
        Some(url)
    }
}

/// Text and attribute values for the few XML documents written here by hand.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// RFC 8176 method references for the authentication context classes that say what was
/// done. Whether a partner's MFA counts is for the policy to decide, not for this mapping.
fn amr_of(class: &str) -> Vec<String> {
    let amr: &[&str] = match class {
        "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
        | "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport" => &["pwd"],
        "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"
        | "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard"
        | "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI" => &["sc"],
        "urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos" => &["kba"],
        "https://refeds.org/profile/mfa"
        | "http://schemas.microsoft.com/claims/multipleauthn"
        | "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"
        | "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken" => &["mfa"],
        _ => &[],
    };
    amr.iter().map(|s| s.to_string()).collect()
}

/// What is refused before any XML parser or signature check sees the document.
fn screen(xml: &str) -> Result<(), String> {
    if has_doctype(xml) {
        return Err("a response with a DOCTYPE".into());
    }
    if xml.contains("<!--") {
        // `victim@x.com<!---->.evil.com` signs as one value and may read as two.
        return Err("a response with XML comments".into());
    }
    let assertions = count_elements(xml, "Assertion") + count_elements(xml, "EncryptedAssertion");
    if assertions != 1 {
        return Err(format!("{assertions} assertions; exactly one is accepted"));
    }
    Ok(())
}

/// Start tags with this local name, whatever their prefix (`<saml:Assertion`, `<Assertion`).
fn count_elements(xml: &str, local: &str) -> usize {
    xml.match_indices('<')
        .filter(|(i, _)| {
            let rest = &xml[i + 1..];
            let name_end = rest
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(rest.len());
            let name = &rest[..name_end];
            let local_name = name.rsplit(':').next().unwrap_or(name);
            !name.starts_with('/') && local_name == local
        })
        .count()
}

fn deflate_base64(data: &[u8]) -> String {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    STANDARD.encode(enc.finish().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_screened_before_parsing() {
        let one = "<samlp:Response><saml:Assertion ID=\"a\"></saml:Assertion></samlp:Response>";
        assert!(screen(one).is_ok());
        let two = "<samlp:Response><saml:Assertion/><Assertion></Assertion></samlp:Response>";
        assert!(screen(two).unwrap_err().contains("2 assertions"));
        assert!(
            screen("<samlp:Response/>")
                .unwrap_err()
                .contains("0 assertions")
        );
        let encrypted = "<samlp:Response><saml:EncryptedAssertion/></samlp:Response>";
        assert!(screen(encrypted).is_ok());
        let comment =
            "<r><saml:Assertion><NameID>a@x.com<!---->.evil.com</NameID></saml:Assertion></r>";
        assert!(screen(comment).unwrap_err().contains("comments"));
        let doctype =
            "<!doctype r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r><saml:Assertion/></r>";
        assert!(screen(doctype).unwrap_err().contains("DOCTYPE"));
        // An element whose name merely ends in Assertion is not one.
        let other = "<r><saml:Assertion/><x:AssertionIDRef/></r>";
        assert!(screen(other).is_ok());
    }

    #[test]
    fn contexts_map_to_method_references() {
        assert_eq!(
            amr_of("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"),
            ["pwd"]
        );
        assert_eq!(amr_of("https://refeds.org/profile/mfa"), ["mfa"]);
        assert!(amr_of("urn:example:unknown").is_empty());
    }
}

#[cfg(test)]
mod refresh_tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn metadata(sso: &str, cert_der: &[u8]) -> String {
        let cert = STANDARD.encode(cert_der);
        format!(
            r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.partner.example"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso}"/></IDPSSODescriptor></EntityDescriptor>"#
        )
    }

    /// Serves `bodies[n]` to the n-th request (the last one after that); an empty body is
    /// a 503.
    async fn serve(bodies: Vec<String>) -> (String, Arc<AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/metadata", l.local_addr().expect("addr"));
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let n = h.fetch_add(1, Ordering::SeqCst);
                let body = &bodies[n.min(bodies.len() - 1)];
                let head = if body.is_empty() {
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/samlmetadata+xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    )
                };
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body.as_bytes()).await;
            }
        });
        (url, hits)
    }

    async fn provider(url: &str, refresh: Duration) -> SamlProvider {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!(
                "version = 1\n[gateway]\npublic_url = \"https://login.test\"\n[[listener]]\nbind = \"127.0.0.1:0\"\nredirect_to_https = true\n[[idp]]\nid = \"saml\"\nkind = \"saml\"\nmetadata_url = \"{url}\"\n"
            ),
        )
        .expect("write");
        let config = crate::config::load(&path).expect("config");
        let mut idp = (*config.idps[0]).clone();
        if let Some(s) = idp.saml.as_mut() {
            s.refresh = refresh;
        }
        SamlProvider::new(Arc::new(idp), &config.public_url).expect("provider")
    }

    #[tokio::test]
    async fn metadata_is_fetched_again_when_due_and_kept_when_the_fetch_fails() {
        let cert =
            rcgen::generate_simple_self_signed(vec!["idp.partner.example".into()]).expect("cert");
        let der = cert.cert.der().to_vec();
        let first = metadata("https://sso-1.partner.example/sso", &der);
        let second = metadata("https://sso-2.partner.example/sso", &der);
        let no_cert = metadata("https://sso-3.partner.example/sso", &[]).replace(
            "<KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate></ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>",
            "",
        );
        let (url, hits) = serve(vec![first, second, String::new(), no_cert]).await;
        let p = provider(&url, Duration::from_millis(300)).await;
        let host = |r: AuthRequest| r.url.host_str().unwrap_or("").to_string();
        assert_eq!(
            host(p.start("s", false).await.expect("start")),
            "sso-1.partner.example"
        );
        assert_eq!(
            host(p.start("s", false).await.expect("start")),
            "sso-1.partner.example"
        );
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "fresh metadata is not fetched again"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            host(p.start("s", false).await.expect("start")),
            "sso-2.partner.example"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        // The IdP is down (503): the last metadata serves.
        assert_eq!(
            host(p.start("s", false).await.expect("start")),
            "sso-2.partner.example"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        // Metadata that fails the checks (no signing certificate) does not replace it.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            host(p.start("s", false).await.expect("start")),
            "sso-2.partner.example"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 4);
    }
}
