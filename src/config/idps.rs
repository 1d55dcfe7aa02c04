//! `[[idp]]`: the identity providers guests and members sign in with.

use std::path::PathBuf;
use std::sync::Arc;

use url::Url;

use super::errors::{ErrorSink, KeyPath};
use super::file::{self, IdpKind, IdpSection};
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
    /// `kind = "oauth2"`: where to send the browser and which profile API to ask.
    pub oauth2: Option<OAuth2Settings>,
    /// `kind = "email_passcode"`: the code's shape and the lock-out.
    pub passcode: Option<PasscodeSettings>,
    /// Lower-case email domains this IdP serves in home-realm discovery.
    pub domains: Vec<String>,
    /// `kind = "saml"`: its metadata and our side of the federation.
    pub saml: Option<SamlSettings>,
}

/// Where a SAML IdP's metadata comes from.
#[derive(Debug, Clone)]
pub enum MetadataSource {
    /// Read (and checked) when the config loads.
    File(PathBuf),
    /// Fetched when first needed and again every `refresh`.
    Url(Url),
}

/// A SAML IdP's metadata source and our settings as its service provider.
#[derive(Debug, Clone)]
pub struct SamlSettings {
    pub metadata: MetadataSource,
    /// The metadata's XML when it came from a file, checked at load.
    pub metadata_xml: Option<String>,
    pub refresh: std::time::Duration,
    /// Our entity id; `None`: the SP metadata URL.
    pub sp_entity_id: Option<String>,
    pub allow_unsolicited: bool,
    /// Classes asked for in every AuthnRequest and required of the response; empty: none.
    pub requested_authn_context: Vec<String>,
    pub sp_key_file: Option<PathBuf>,
    pub sp_cert_file: Option<PathBuf>,
}

/// An email one-time passcode provider's codes and lock-out.
#[derive(Debug, Clone)]
pub struct PasscodeSettings {
    pub code_length: u32,
    pub code_ttl: std::time::Duration,
    pub max_failures: u32,
    pub lockout: std::time::Duration,
    /// Its sign-ins satisfy a policy's `mfa` (an operator's opt-in).
    pub counts_as_mfa: bool,
}

/// The `iss` of identities proven by an email passcode: the gateway itself vouches.
pub const PASSCODE_ISSUER: &str = "urn:borderless:email-passcode";

/// The longest a passcode may live (Entra's limit too).
pub const PASSCODE_MAX_TTL_MINUTES: u64 = 30;

/// An OAuth2 provider's endpoints and profile API (Facebook, GitHub).
#[derive(Debug, Clone)]
pub struct OAuth2Settings {
    pub api: file::ProfileApi,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    /// Base of the profile API (`https://api.github.com`, `https://graph.facebook.com/v23.0`).
    pub api_url: Url,
    pub pkce: bool,
}

/// A profile API's public endpoints, scopes and identifier namespace.
struct Preset {
    issuer: &'static str,
    authorization_endpoint: &'static str,
    token_endpoint: &'static str,
    api_url: &'static str,
    scopes: &'static [&'static str],
}

fn preset(api: file::ProfileApi) -> Preset {
    match api {
        file::ProfileApi::Github => Preset {
            issuer: "https://github.com",
            authorization_endpoint: "https://github.com/login/oauth/authorize",
            token_endpoint: "https://github.com/login/oauth/access_token",
            api_url: "https://api.github.com",
            scopes: &["read:user", "user:email"],
        },
        file::ProfileApi::Facebook => Preset {
            issuer: "https://www.facebook.com",
            // Graph API v23.0; set the three endpoints to speak another version.
            authorization_endpoint: "https://www.facebook.com/v23.0/dialog/oauth",
            token_endpoint: "https://graph.facebook.com/v23.0/oauth/access_token",
            api_url: "https://graph.facebook.com/v23.0",
            scopes: &["email", "public_profile"],
        },
    }
}

/// An endpoint URL: https, or http on loopback for a test provider.
fn endpoint(sink: &mut ErrorSink<'_>, key: KeyPath, raw: &str) -> Option<Url> {
    match Url::parse(raw) {
        Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_loopback(&u)) => Some(u),
        Ok(_) => {
            sink.push(
                key,
                "must be https:// (http:// only for loopback test IdPs)",
            );
            None
        }
        Err(e) => {
            sink.push(key, format!("not a URL: {e}"));
            None
        }
    }
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
        refuse_keys_of_other_kinds(sink, &ip, idp);
        if idp.kind == file::IdpKind::Saml {
            if let Some(config) = saml_idp(sink, &ip, idp, resolve) {
                idps.push(Arc::new(config));
            }
            continue;
        }
        if idp.kind == file::IdpKind::EmailPasscode {
            if let Some(config) = passcode_idp(sink, &ip, idp) {
                idps.push(Arc::new(config));
            }
            continue;
        }
        let client_id = idp.client_id.clone();
        if client_id.is_none() {
            sink.push(ip.key("client_id"), "required");
        }
        let oauth2 = oauth2_settings(sink, &ip, idp);
        let issuer = match (&idp.issuer, &oauth2) {
            (Some(raw), _) => endpoint(sink, ip.key("issuer"), raw).map(|_| raw.clone()),
            (None, Some(o)) => Some(preset(o.api).issuer.to_string()),
            (None, None) if idp.kind == file::IdpKind::OAuth2 => None,
            (None, None) => {
                sink.push(ip.key("issuer"), "required for an OpenID Connect provider");
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
        let scopes = match (&idp.scopes, &oauth2) {
            (Some(scopes), _) => scopes.clone(),
            (None, Some(o)) => preset(o.api).scopes.iter().map(|s| s.to_string()).collect(),
            (None, None) => vec!["openid".into(), "email".into(), "profile".into()],
        };
        if idp.kind != file::IdpKind::OAuth2 && !scopes.iter().any(|s| s == "openid") {
            sink.push(ip.key("scopes"), "must include `openid`");
        }
        let claims = claim_mapping(idp);
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
        let oauth2_ok = idp.kind != file::IdpKind::OAuth2 || oauth2.is_some();
        if let (Some(issuer), Some(client_id), Some(client_secret), true) =
            (issuer, client_id, client_secret, oauth2_ok)
        {
            idps.push(Arc::new(IdpConfig {
                id: idp.id.clone(),
                display_name: idp.display_name.clone().unwrap_or_else(|| idp.id.clone()),
                issuer,
                client_id,
                client_secret,
                scopes,
                claims,
                members: idp.members,
                hosted_domain,
                kind: idp.kind,
                ca_file,
                tenants: idp.tenants.iter().map(|t| t.to_ascii_lowercase()).collect(),
                verified_domains,
                oauth2,
                passcode: None,
                domains: realm_domains(sink, &ip, idp),
                saml: None,
            }));
        }
    }
    idps
}

/// `kind = "oauth2"`: the profile API and its endpoints (each overridable).
fn oauth2_settings(
    sink: &mut ErrorSink<'_>,
    ip: &KeyPath,
    idp: &IdpSection,
) -> Option<OAuth2Settings> {
    let overrides = [
        ("authorization_endpoint", &idp.authorization_endpoint),
        ("token_endpoint", &idp.token_endpoint),
        ("api_url", &idp.api_url),
    ];
    if idp.kind != file::IdpKind::OAuth2 {
        return None;
    }
    let Some(api) = idp.profile_api else {
        sink.push(
            ip.key("profile_api"),
            "required for kind = \"oauth2\": \"github\" or \"facebook\"",
        );
        return None;
    };
    let p = preset(api);
    let defaults = [p.authorization_endpoint, p.token_endpoint, p.api_url];
    // Every endpoint is checked, so one run names all the bad ones.
    let urls: Vec<Option<Url>> = overrides
        .into_iter()
        .zip(defaults)
        .map(|((key, value), default)| {
            endpoint(sink, ip.key(key), value.as_deref().unwrap_or(default))
        })
        .collect();
    let [
        Some(authorization_endpoint),
        Some(token_endpoint),
        Some(api_url),
    ]: [Option<Url>; 3] = urls.try_into().ok()?
    else {
        return None;
    };
    Some(OAuth2Settings {
        api,
        authorization_endpoint,
        token_endpoint,
        api_url,
        pkce: idp.pkce.unwrap_or(true),
    })
}

/// `kind = "email_passcode"`: no client, no issuer, no scopes; the gateway mails the code.
fn passcode_idp(sink: &mut ErrorSink<'_>, ip: &KeyPath, idp: &IdpSection) -> Option<IdpConfig> {
    if idp.members {
        // Anyone can prove a mailbox; membership needs the organisation's own IdP.
        sink.push(
            ip.key("members"),
            "an email passcode proves a mailbox, not membership: its users are invited guests",
        );
    }
    let code_length = idp.code_length.unwrap_or(8);
    if !(6..=10).contains(&code_length) {
        sink.push(ip.key("code_length"), "between 6 and 10 digits");
    }
    let ttl = idp.code_ttl_minutes.unwrap_or(10);
    if !(1..=PASSCODE_MAX_TTL_MINUTES).contains(&ttl) {
        sink.push(
            ip.key("code_ttl_minutes"),
            format!("between 1 and {PASSCODE_MAX_TTL_MINUTES} minutes"),
        );
    }
    let max_failures = idp.max_failures.unwrap_or(5);
    if !(1..=10).contains(&max_failures) {
        sink.push(ip.key("max_failures"), "between 1 and 10");
    }
    let lockout = idp.lockout_minutes.unwrap_or(15);
    if !(1..=24 * 60).contains(&lockout) {
        sink.push(ip.key("lockout_minutes"), "between 1 and 1440 minutes");
    }
    let claims = claim_mapping(idp);
    Some(IdpConfig {
        id: idp.id.clone(),
        display_name: idp
            .display_name
            .clone()
            .unwrap_or_else(|| "A code sent to your email".into()),
        issuer: PASSCODE_ISSUER.into(),
        client_id: String::new(),
        client_secret: String::new(),
        scopes: Vec::new(),
        claims,
        members: false,
        hosted_domain: None,
        kind: idp.kind,
        ca_file: None,
        tenants: Vec::new(),
        verified_domains: Vec::new(),
        oauth2: None,
        passcode: Some(PasscodeSettings {
            code_length,
            code_ttl: std::time::Duration::from_secs(ttl * 60),
            max_failures,
            lockout: std::time::Duration::from_secs(lockout * 60),
            counts_as_mfa: idp.counts_as_mfa,
        }),
        domains: Vec::new(),
        saml: None,
    })
}

/// The default attribute mapping with the IdP's `[idp.claims]` added or replacing entries.
fn claim_mapping(idp: &IdpSection) -> Vec<(String, String)> {
    let mut claims: Vec<(String, String)> = DEFAULT_CLAIMS
        .iter()
        .map(|(a, c)| (a.to_string(), c.to_string()))
        .collect();
    for (attr, claim) in &idp.claims {
        claims.retain(|(a, _)| a != attr);
        claims.push((attr.clone(), claim.clone()));
    }
    claims
}

/// `domains`: lower-case domain names.
fn realm_domains(sink: &mut ErrorSink<'_>, ip: &KeyPath, idp: &IdpSection) -> Vec<String> {
    let mut out = Vec::new();
    for (j, d) in idp.domains.iter().enumerate() {
        let d = d.to_ascii_lowercase();
        if crate::directory::address::is_domain(&d) {
            out.push(d);
        } else {
            sink.push(ip.key("domains").index(j), "must be a domain name");
        }
    }
    out
}

/// `kind = "saml"`: metadata (a file is read and checked now), no client credentials.
fn saml_idp(
    sink: &mut ErrorSink<'_>,
    ip: &KeyPath,
    idp: &IdpSection,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Option<IdpConfig> {
    let (metadata, metadata_xml) = match (&idp.metadata_file, &idp.metadata_url) {
        (Some(f), None) => {
            let path = resolve(f);
            match std::fs::read_to_string(&path) {
                Ok(xml) => {
                    if let Err(e) = crate::saml_metadata::IdpMetadata::parse(&xml) {
                        sink.push(ip.key("metadata_file"), format!("{}: {e}", path.display()));
                        return None;
                    }
                    (MetadataSource::File(path), Some(xml))
                }
                Err(e) => {
                    sink.push(ip.key("metadata_file"), format!("{}: {e}", path.display()));
                    return None;
                }
            }
        }
        (None, Some(u)) => (
            MetadataSource::Url(endpoint(sink, ip.key("metadata_url"), u)?),
            None,
        ),
        _ => {
            sink.push(
                ip.key("metadata_file"),
                "a SAML IdP needs exactly one of metadata_file and metadata_url",
            );
            return None;
        }
    };
    let refresh = idp.metadata_refresh_minutes.unwrap_or(60);
    if !(1..=7 * 24 * 60).contains(&refresh) {
        sink.push(ip.key("metadata_refresh_minutes"), "between 1 and 10080");
    }
    let sp_key_file = idp.sp_key_file.as_deref().map(resolve);
    let sp_cert_file = idp.sp_cert_file.as_deref().map(resolve);
    if sp_key_file.is_some() != sp_cert_file.is_some() {
        sink.push(
            ip.key("sp_key_file"),
            "set both sp_key_file and sp_cert_file, or neither",
        );
    }
    for (key, path) in [
        ("sp_key_file", &sp_key_file),
        ("sp_cert_file", &sp_cert_file),
    ] {
        if let Some(p) = path
            && !p.is_file()
        {
            sink.push(ip.key(key), format!("file {} not found", p.display()));
        }
    }
    let ca_file = idp.ca_file.as_deref().map(resolve);
    let entity = match &metadata_xml {
        Some(xml) => crate::saml_metadata::IdpMetadata::parse(xml)
            .map(|m| m.entity_id)
            .unwrap_or_default(),
        None => String::new(),
    };
    Some(IdpConfig {
        id: idp.id.clone(),
        display_name: idp.display_name.clone().unwrap_or_else(|| idp.id.clone()),
        // The entity id once metadata is read; the URL until then, for messages only.
        issuer: if entity.is_empty() {
            idp.metadata_url.clone().unwrap_or_default()
        } else {
            entity
        },
        client_id: String::new(),
        client_secret: String::new(),
        scopes: Vec::new(),
        claims: {
            // Kept with the session for single logout; mapped to no header unless asked.
            let mut c = claim_mapping(idp);
            for k in ["saml_name_id_format", "saml_session_index"] {
                if !c.iter().any(|(a, _)| a == k) {
                    c.push((k.to_string(), k.to_string()));
                }
            }
            c
        },
        members: idp.members,
        hosted_domain: None,
        kind: idp.kind,
        ca_file,
        tenants: Vec::new(),
        verified_domains: Vec::new(),
        oauth2: None,
        passcode: None,
        domains: realm_domains(sink, ip, idp),
        saml: Some(SamlSettings {
            metadata,
            metadata_xml,
            refresh: std::time::Duration::from_secs(refresh * 60),
            sp_entity_id: idp.sp_entity_id.clone(),
            allow_unsolicited: idp.allow_unsolicited,
            requested_authn_context: idp.requested_authn_context.clone().unwrap_or_default(),
            sp_key_file,
            sp_cert_file,
        }),
    })
}

/// Every key that only some kinds take: whether this entry sets it, and the kinds that
/// take it. One table, so a key on the wrong kind is refused the same way for every kind,
/// never silently ignored.
fn kind_specific_keys(idp: &IdpSection) -> Vec<(&'static str, bool, &'static [IdpKind])> {
    use IdpKind::{EmailPasscode as Passcode, Microsoft, OAuth2, Oidc, Saml};
    const REDIRECT: &[IdpKind] = &[Oidc, Microsoft, OAuth2];
    const FEDERATION: &[IdpKind] = &[Oidc, Microsoft, OAuth2, Saml];
    vec![
        ("issuer", idp.issuer.is_some(), REDIRECT),
        ("client_id", idp.client_id.is_some(), REDIRECT),
        ("client_secret", idp.client_secret.is_some(), REDIRECT),
        (
            "client_secret_env",
            idp.client_secret_env.is_some(),
            REDIRECT,
        ),
        (
            "client_secret_file",
            idp.client_secret_file.is_some(),
            REDIRECT,
        ),
        ("scopes", idp.scopes.is_some(), REDIRECT),
        (
            "hosted_domain",
            idp.hosted_domain.is_some(),
            &[Oidc, Microsoft],
        ),
        ("tenants", !idp.tenants.is_empty(), &[Microsoft]),
        (
            "verified_domains",
            !idp.verified_domains.is_empty(),
            &[Microsoft],
        ),
        ("ca_file", idp.ca_file.is_some(), FEDERATION),
        ("domains", !idp.domains.is_empty(), FEDERATION),
        ("profile_api", idp.profile_api.is_some(), &[OAuth2]),
        (
            "authorization_endpoint",
            idp.authorization_endpoint.is_some(),
            &[OAuth2],
        ),
        ("token_endpoint", idp.token_endpoint.is_some(), &[OAuth2]),
        ("api_url", idp.api_url.is_some(), &[OAuth2]),
        ("pkce", idp.pkce.is_some(), &[OAuth2]),
        ("metadata_file", idp.metadata_file.is_some(), &[Saml]),
        ("metadata_url", idp.metadata_url.is_some(), &[Saml]),
        (
            "metadata_refresh_minutes",
            idp.metadata_refresh_minutes.is_some(),
            &[Saml],
        ),
        ("sp_entity_id", idp.sp_entity_id.is_some(), &[Saml]),
        ("allow_unsolicited", idp.allow_unsolicited, &[Saml]),
        (
            "requested_authn_context",
            idp.requested_authn_context.is_some(),
            &[Saml],
        ),
        ("sp_key_file", idp.sp_key_file.is_some(), &[Saml]),
        ("sp_cert_file", idp.sp_cert_file.is_some(), &[Saml]),
        ("code_length", idp.code_length.is_some(), &[Passcode]),
        (
            "code_ttl_minutes",
            idp.code_ttl_minutes.is_some(),
            &[Passcode],
        ),
        ("max_failures", idp.max_failures.is_some(), &[Passcode]),
        (
            "lockout_minutes",
            idp.lockout_minutes.is_some(),
            &[Passcode],
        ),
        ("counts_as_mfa", idp.counts_as_mfa, &[Passcode]),
    ]
}

/// `key: not for kind = "oidc"; only for kind = "oauth2"` for each key set on a kind that
/// does not take it.
fn refuse_keys_of_other_kinds(sink: &mut ErrorSink<'_>, ip: &KeyPath, idp: &IdpSection) {
    for (key, set, kinds) in kind_specific_keys(idp) {
        if set && !kinds.contains(&idp.kind) {
            let names: Vec<String> = kinds.iter().map(|k| format!("\"{}\"", k.name())).collect();
            let list = match names.split_last() {
                Some((last, [])) => last.clone(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => String::new(),
            };
            sink.push(
                ip.key(key),
                format!(
                    "not for kind = \"{}\"; only for kind = {list}",
                    idp.kind.name()
                ),
            );
        }
    }
}
