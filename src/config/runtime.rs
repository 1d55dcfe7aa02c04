//! The validated runtime config: parsed URLs, durations, header names and resolved secrets.
//! Code outside `config` only ever sees these types, so it never re-checks a setting.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::IpNet;
use url::Url;

pub use super::apps::AppConfig;
pub use super::directory::{Collaboration, DirectorySettings, SmtpSettings};
use super::errors::{ErrorSink, KeyPath};
use super::file::{FileConfig, LogFormat};
pub use super::idps::{
    DEFAULT_CLAIMS, IdpConfig, MetadataSource, OAuth2Settings, PASSCODE_ISSUER,
    PASSCODE_MAX_TTL_MINUTES, PasscodeSettings, SamlSettings,
};
pub use super::limits::Limits;
pub use super::listeners::{Listener, TlsFiles};
pub use super::mfa::MfaSettings;
pub use super::names::normalize_authority;
pub use super::partners::{HomeRealm, Partner, RealmRule};
pub use super::secrets::Purpose;
pub use super::session::{AssertionSettings, SessionSettings};
pub use super::signals::{SignalKeys, SignalReceiver};
use super::{apps, directory, idps, limits, listeners, mfa, partners, policies, session, signals};

#[derive(Debug, Clone)]
pub struct Config {
    pub source: PathBuf,
    pub public_url: Url,
    /// `host:port` of the login host, lower-case, as requests are matched.
    pub login_authority: String,
    pub database_url: String,
    pub trusted_proxies: Vec<IpNet>,
    pub metrics_allow: Vec<IpNet>,
    pub log_format: LogFormat,
    /// Worker threads (each a single-threaded runtime), at least 1.
    pub workers: usize,
    pub listeners: Vec<Listener>,
    pub limits: Limits,
    pub session: SessionSettings,
    pub assertion: AssertionSettings,
    pub mfa: MfaSettings,
    pub idps: Vec<Arc<IdpConfig>>,
    pub apps: Vec<Arc<AppConfig>>,
    pub directory: DirectorySettings,
    pub collaboration: Collaboration,
    /// Where invitation emails go out; without it invitations are created but not mailed.
    pub smtp: Option<SmtpSettings>,
    /// Where home-realm discovery sends an address.
    pub home_realm: HomeRealm,
    /// Partner settings and Conditional Access policies, compiled.
    pub policies: Arc<crate::policy::PolicySet>,
    /// Partners' Shared Signals transmitters.
    pub signals: Vec<SignalReceiver>,
}

impl Config {
    pub fn app(&self, id: &str) -> Option<&Arc<AppConfig>> {
        self.apps.iter().find(|a| a.id == id)
    }
}

/// Turns the file format into the runtime config, collecting every error instead of stopping
/// at the first, so one `check-config` run shows the whole list.
pub fn validate(fc: FileConfig, path: &Path, source: &str) -> Result<Config, super::ConfigErrors> {
    validate_for(fc, path, source, Purpose::Serve)
}

pub fn validate_for(
    fc: FileConfig,
    path: &Path,
    source: &str,
    purpose: Purpose,
) -> Result<Config, super::ConfigErrors> {
    let mut sink = ErrorSink::new(path, source);
    let root = KeyPath::default();
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base_dir.join(p)
        }
    };

    if fc.version != 1 {
        sink.push(
            root.key("version"),
            format!("unsupported version {}, expected 1", fc.version),
        );
    }

    // [gateway]
    let gw = root.key("gateway");
    let public_url = match Url::parse(&fc.gateway.public_url) {
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() => Some(u),
        Ok(_) => {
            sink.push(gw.key("public_url"), "must be an https:// URL with a host");
            None
        }
        Err(e) => {
            sink.push(gw.key("public_url"), format!("not a URL: {e}"));
            None
        }
    };
    let login_authority = public_url
        .as_ref()
        .and_then(|u| normalize_authority(&u[url::Position::BeforeHost..url::Position::AfterPort]))
        .unwrap_or_default();
    let database_url = resolve_database_url(&fc.gateway.database_url, &base_dir);
    if !["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|p| database_url.starts_with(p))
    {
        sink.push(
            gw.key("database_url"),
            "must be a sqlite:// or postgres:// URL",
        );
    }
    let trusted_proxies = parse_cidrs(
        &mut sink,
        gw.key("trusted_proxies"),
        &fc.gateway.trusted_proxies,
    );
    let metrics_allow = parse_cidrs(
        &mut sink,
        gw.key("metrics_allow"),
        &fc.gateway.metrics_allow,
    );

    let listeners = listeners::listeners(&mut sink, &root, &fc.listeners, &resolve);
    let limits = limits::limits(&mut sink, &root, &fc.limits);
    let session = session::session(&mut sink, &root, &fc.session, &database_url);
    let assertion = session::assertion(&fc.assertion, &resolve, &base_dir);
    let idps = idps::idps(&mut sink, &root, &fc.idps, purpose, &resolve);
    let apps = apps::apps(&mut sink, &root, &fc, &limits, &resolve);
    let home_realm = partners::home_realm(&mut sink, &root, &fc.redemption, &fc.partners, &idps);
    let policies = policies::policy_set(&mut sink, &root, &fc, &apps, &idps, &resolve);
    let signals = signals::receivers(
        &mut sink,
        &root,
        &fc.partners,
        &resolve,
        public_url.as_ref(),
    );

    let public_host = public_url
        .as_ref()
        .and_then(|u| u.host_str())
        .unwrap_or("localhost")
        .to_string();
    let directory = directory::directory(&mut sink, &root, &fc.directory, &public_host);
    let mfa = mfa::mfa(&fc.mfa, &resolve, &base_dir, &directory.organization);
    let collaboration = directory::collaboration(&mut sink, &root, &fc.collaboration);
    let smtp = fc
        .smtp
        .as_ref()
        .and_then(|s| directory::smtp(&mut sink, &root, s, &resolve));
    if fc.smtp.is_none() {
        // Checked here, where both sections are known: a passcode needs a mail server.
        for (i, idp) in fc.idps.iter().enumerate() {
            if idp.kind == super::file::IdpKind::EmailPasscode {
                sink.push(
                    root.key("idp").index(i).key("kind"),
                    "an email passcode provider needs an [smtp] section to send its codes",
                );
            }
        }
    }

    if !sink.errors.is_empty() {
        return Err(super::ConfigErrors(sink.errors));
    }
    Ok(Config {
        source: path.to_path_buf(),
        public_url: public_url.expect("checked above: no errors means the URL parsed"),
        login_authority,
        database_url,
        trusted_proxies,
        metrics_allow,
        log_format: fc.gateway.log_format,
        workers: match fc.gateway.workers {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        },
        listeners,
        limits,
        session,
        assertion,
        mfa,
        idps,
        apps,
        directory,
        collaboration,
        smtp,
        home_realm,
        policies: Arc::new(policies),
        signals,
    })
}

fn parse_cidrs(sink: &mut ErrorSink<'_>, key: KeyPath, raw: &[String]) -> Vec<IpNet> {
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        match s
            .parse::<IpNet>()
            .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        {
            Ok(n) => out.push(n),
            Err(_) => sink.push(
                key.index(i),
                format!("`{s}` is not an IP address or CIDR range"),
            ),
        }
    }
    out
}

/// A relative SQLite path is relative to the config file. The result is absolute and has no
/// `.`/`..` segments: the database driver parses the URL as a URL, so `sqlite://config/../x`
/// would become host `config`, path `/x`.
fn resolve_database_url(raw: &str, base: &Path) -> String {
    match raw.strip_prefix("sqlite://") {
        Some(rest) if !rest.starts_with('/') && !rest.starts_with(':') => {
            let (path, query) = match rest.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (rest, None),
            };
            let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
            let full = lexically_normal(&base.join(path));
            match query {
                Some(q) => format!("sqlite://{}?{q}", full.display()),
                None => format!("sqlite://{}", full.display()),
            }
        }
        _ => raw.to_string(),
    }
}

/// `a/b/../c/./d` → `a/c/d`, without touching the file system (the file may not exist yet).
fn lexically_normal(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod database_url_tests {
    use super::*;

    #[test]
    fn relative_sqlite_paths_become_absolute_without_dot_segments() {
        let url = resolve_database_url("sqlite://../data/x.db", Path::new("/srv/app/config"));
        assert_eq!(url, "sqlite:///srv/app/data/x.db");
        let url = resolve_database_url("sqlite://./x.db?mode=rwc", Path::new("/etc/b"));
        assert_eq!(url, "sqlite:///etc/b/x.db?mode=rwc");
        let url = resolve_database_url("sqlite://x.db", Path::new("config"));
        assert!(
            url.starts_with("sqlite:///") && url.ends_with("/config/x.db"),
            "{url}"
        );
        assert_eq!(
            resolve_database_url("postgres://u@h/db", Path::new("config")),
            "postgres://u@h/db"
        );
    }
}
