//! `[[idp]]`: the identity providers guests and members sign in with.

use std::path::PathBuf;
use std::sync::Arc;

use url::Url;

use super::errors::{ErrorSink, KeyPath};
use super::file::{self, IdpSection};
use super::names::{is_id, is_loopback};
use super::secrets::{Purpose, SecretSource, resolve_secret};

/// Attribute names an IdP mapping gets when it does not list its own.
pub const DEFAULT_CLAIMS: &[(&str, &str)] = &[
    ("subject", "sub"),
    ("email", "email"),
    ("email_verified", "email_verified"),
    ("name", "name"),
    ("groups", "groups"),
];

#[derive(Clone)]
pub struct IdpConfig {
    pub id: String,
    pub display_name: String,
    /// Exactly as configured: discovery and the `iss` check compare it byte for byte, and
    /// some providers' issuers end in `/` (Auth0) while others' do not.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    /// (attribute, claim) pairs; attributes are what app header maps refer to.
    pub claims: Vec<(String, String)>,
    /// Users of this IdP are members of the organisation and need no invitation.
    pub members: bool,
    /// Only tokens whose `hd` claim names this domain (lower-case) are accepted.
    pub hosted_domain: Option<String>,
    pub kind: file::IdpKind,
    /// Trusted besides the system roots for this IdP's back channel.
    pub ca_file: Option<PathBuf>,
    /// Microsoft: the admitted tenant ids (lower-case); empty admits all.
    pub tenants: Vec<String>,
    /// Lower-case domains whose addresses count as verified without the IdP saying so.
    pub verified_domains: Vec<String>,
}

impl std::fmt::Debug for IdpConfig {
    // Never print the client secret, not even in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpConfig")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

pub(super) fn idps(
    sink: &mut ErrorSink<'_>,
    root: &KeyPath,
    sections: &[IdpSection],
    purpose: Purpose,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Vec<Arc<IdpConfig>> {
    let mut idps: Vec<Arc<IdpConfig>> = Vec::new();
    for (i, idp) in sections.iter().enumerate() {
        let ip = root.key("idp").index(i);
        if !is_id(&idp.id) {
            sink.push(ip.key("id"), "use lower-case letters, digits and `-` only");
        }
        if idps.iter().any(|o| o.id == idp.id) {
            sink.push(ip.key("id"), format!("duplicate idp id `{}`", idp.id));
        }
        let issuer = match Url::parse(&idp.issuer) {
            Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_loopback(&u)) => {
                Some(idp.issuer.clone())
            }
            Ok(_) => {
                sink.push(
                    ip.key("issuer"),
                    "must be https:// (http:// only for loopback test IdPs)",
                );
                None
            }
            Err(e) => {
                sink.push(ip.key("issuer"), format!("not a URL: {e}"));
                None
            }
        };
        let client_secret = match purpose {
            Purpose::Directory => Some(String::new()),
            Purpose::Serve => resolve_secret(
                sink,
                &ip,
                SecretSource {
                    field: "client_secret",
                    inline: &idp.client_secret,
                    env: &idp.client_secret_env,
                    file: &idp.client_secret_file,
                    optional: false,
                },
                &resolve,
            ),
        };
        if !idp.scopes.iter().any(|s| s == "openid") {
            sink.push(ip.key("scopes"), "must include `openid`");
        }
        let mut claims: Vec<(String, String)> = DEFAULT_CLAIMS
            .iter()
            .map(|(a, c)| (a.to_string(), c.to_string()))
            .collect();
        for (attr, claim) in &idp.claims {
            claims.retain(|(a, _)| a != attr);
            claims.push((attr.clone(), claim.clone()));
        }
        let hosted_domain = match idp.hosted_domain.as_deref().map(str::to_ascii_lowercase) {
            Some(d) if crate::directory::address::is_domain(&d) => Some(d),
            Some(_) => {
                sink.push(
                    ip.key("hosted_domain"),
                    "must be a domain name like example.com",
                );
                None
            }
            None => None,
        };
        if idp.kind != file::IdpKind::Microsoft && !idp.tenants.is_empty() {
            sink.push(ip.key("tenants"), "only for kind = \"microsoft\"");
        }
        for (j, t) in idp.tenants.iter().enumerate() {
            let guid = t.len() == 36
                && t.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
                && t.matches('-').count() == 4;
            if !guid {
                sink.push(ip.key("tenants").index(j), "a tenant id is a GUID");
            }
        }
        let ca_file = idp.ca_file.as_deref().map(resolve);
        if let Some(ca) = &ca_file
            && !ca.is_file()
        {
            sink.push(
                ip.key("ca_file"),
                format!("file {} not found", ca.display()),
            );
        }
        let mut verified_domains = Vec::new();
        for (j, d) in idp.verified_domains.iter().enumerate() {
            let d = d.to_ascii_lowercase();
            if crate::directory::address::is_domain(&d) {
                verified_domains.push(d);
            } else {
                sink.push(ip.key("verified_domains").index(j), "must be a domain name");
            }
        }
        if let (Some(issuer), Some(client_secret)) = (issuer, client_secret) {
            idps.push(Arc::new(IdpConfig {
                id: idp.id.clone(),
                display_name: idp.display_name.clone().unwrap_or_else(|| idp.id.clone()),
                issuer,
                client_id: idp.client_id.clone(),
                client_secret,
                scopes: idp.scopes.clone(),
                claims,
                members: idp.members,
                hosted_domain,
                kind: idp.kind,
                ca_file,
                tenants: idp.tenants.iter().map(|t| t.to_ascii_lowercase()).collect(),
                verified_domains,
            }));
        }
    }
    idps
}
