//! The validated `[directory]`, `[collaboration]` and `[smtp]` sections.

use std::path::PathBuf;
use std::time::Duration;

use super::errors::{ErrorSink, KeyPath};
use super::file::{CollaborationSection, DirectorySection, SmtpSection, WhoMayInvite};
use super::secrets::{SecretSource, resolve_secret};
use crate::directory::address::{Address, DomainPolicy, is_domain};

pub use super::file::SmtpSecurity;

#[derive(Debug, Clone)]
pub struct DirectorySettings {
    pub tenant_domain: String,
    pub organization: String,
    pub logo_url: Option<String>,
    /// The logo's origin, which pages showing it admit for images (their CSP).
    pub logo_origin: Option<String>,
    pub support_contact: Option<String>,
    pub invitation_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct Collaboration {
    pub who_may_invite: WhoMayInvite,
    pub domains: DomainPolicy,
}

#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<(String, String)>,
    pub from: String,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    // The password never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

pub(super) fn directory(
    sink: &mut ErrorSink<'_>,
    root: &KeyPath,
    d: &DirectorySection,
    public_host: &str,
) -> DirectorySettings {
    let at = root.key("directory");
    let tenant_domain = d
        .tenant_domain
        .clone()
        .unwrap_or_else(|| public_host.to_string())
        .to_ascii_lowercase();
    if d.tenant_domain.is_some() && !is_domain(&tenant_domain) {
        sink.push(at.key("tenant_domain"), "must be a domain name");
    }
    let days = d.invitation_ttl_days.unwrap_or(30);
    if !(1..=3650).contains(&days) {
        sink.push(at.key("invitation_ttl_days"), "must be between 1 and 3650");
    }
    if let Some(logo) = &d.logo_url
        && !logo.starts_with("https://")
    {
        sink.push(at.key("logo_url"), "must be an https:// URL");
    }
    DirectorySettings {
        tenant_domain,
        organization: d
            .organization
            .clone()
            .unwrap_or_else(|| public_host.to_string()),
        logo_url: d.logo_url.clone(),
        logo_origin: d
            .logo_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| u.origin().ascii_serialization()),
        support_contact: d.support_contact.clone(),
        invitation_ttl: Duration::from_secs(days * 86_400),
    }
}

pub(super) fn collaboration(
    sink: &mut ErrorSink<'_>,
    root: &KeyPath,
    c: &CollaborationSection,
) -> Collaboration {
    let at = root.key("collaboration");
    let mut list = |key: &str, raw: &[String]| -> Vec<String> {
        let mut out = Vec::new();
        for (i, d) in raw.iter().enumerate() {
            let d = d.trim().to_ascii_lowercase();
            if is_domain(&d) {
                out.push(d);
            } else {
                sink.push(at.key(key).index(i), format!("`{d}` is not a domain name"));
            }
        }
        out
    };
    let allowed = list("allowed_domains", &c.allowed_domains);
    let blocked = list("blocked_domains", &c.blocked_domains);
    let domains = match (allowed.is_empty(), blocked.is_empty()) {
        (true, true) => DomainPolicy::AnyDomain,
        (false, true) => DomainPolicy::Allow {
            domains: allowed,
            include_subdomains: c.include_subdomains,
        },
        (true, false) => DomainPolicy::Deny {
            domains: blocked,
            include_subdomains: c.include_subdomains,
        },
        (false, false) => {
            sink.push(
                at.key("blocked_domains"),
                "use either allowed_domains or blocked_domains, not both",
            );
            DomainPolicy::AnyDomain
        }
    };
    Collaboration {
        who_may_invite: c.who_may_invite,
        domains,
    }
}

pub(super) fn smtp(
    sink: &mut ErrorSink<'_>,
    root: &KeyPath,
    s: &SmtpSection,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Option<SmtpSettings> {
    let at = root.key("smtp");
    if s.host.is_empty() {
        sink.push(at.key("host"), "must not be empty");
    }
    let from_ok = match s.from.parse::<lettre::message::Mailbox>() {
        Ok(m) => Address::parse(m.email.as_ref()).is_ok(),
        Err(_) => false,
    };
    if !from_ok {
        sink.push(
            at.key("from"),
            "must be an address like `Contoso <invites@contoso.example>`",
        );
    }
    let password = resolve_secret(
        sink,
        &at,
        SecretSource {
            field: "password",
            inline: &s.password,
            env: &s.password_env,
            file: &s.password_file,
            optional: true,
        },
        resolve,
    );
    let credentials = match (&s.username, password) {
        (Some(u), Some(p)) => Some((u.clone(), p)),
        (None, None) => None,
        (Some(_), None) => {
            sink.push(at.key("password"), "a username needs a password");
            None
        }
        (None, Some(_)) => {
            sink.push(at.key("username"), "a password needs a username");
            None
        }
    };
    let ca_file = s.ca_file.as_deref().map(resolve);
    if let Some(ca) = &ca_file
        && !ca.is_file()
    {
        sink.push(
            at.key("ca_file"),
            format!("file {} not found", ca.display()),
        );
    }
    Some(SmtpSettings {
        host: s.host.clone(),
        port: s.port.unwrap_or(match s.security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        }),
        security: s.security,
        credentials,
        from: s.from.clone(),
        ca_file,
        timeout: Duration::from_secs(s.timeout_secs.unwrap_or(20)),
    })
}
