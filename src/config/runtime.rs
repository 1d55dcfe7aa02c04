//! The validated runtime config: parsed URLs, durations, header names and resolved secrets.
//! Code outside `config` only ever sees these types, so it never re-checks a setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use ipnet::IpNet;
use url::Url;

use super::directory;
pub use super::directory::{Collaboration, DirectorySettings, SmtpSettings};
use super::errors::{ErrorSink, KeyPath};
use super::file::{self, AuthMode, FileConfig, LogFormat};
use super::secrets::{SecretSource, resolve_secret};
use crate::directory::address::Address;

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
    pub idps: Vec<Arc<IdpConfig>>,
    pub apps: Vec<Arc<AppConfig>>,
    pub directory: DirectorySettings,
    pub collaboration: Collaboration,
    /// Where invitation emails go out; without it invitations are created but not mailed.
    pub smtp: Option<SmtpSettings>,
}

impl Config {
    pub fn app(&self, id: &str) -> Option<&Arc<AppConfig>> {
        self.apps.iter().find(|a| a.id == id)
    }
}

#[derive(Debug, Clone)]
pub struct Listener {
    pub bind: SocketAddr,
    pub tls: Option<TlsFiles>,
    pub redirect_to_https: bool,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_connections: usize,
    pub max_body_bytes: u64,
    pub upstream_connect_timeout: Duration,
    pub upstream_response_timeout: Duration,
    pub shutdown_grace: Duration,
    pub sign_ins_per_minute: u32,
    pub api_key_failures_per_minute: u32,
    pub invitations_per_hour: u32,
    pub pending_sign_ins: u64,
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub cookie_name: String,
    pub flow_store: crate::config::file::FlowStoreKind,
    pub lifetime: Duration,
    pub cache_capacity: u64,
    pub cache_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct AssertionSettings {
    pub signing_key_file: PathBuf,
    pub ttl: Duration,
}

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

#[derive(Debug, Clone)]
pub struct AppConfig {
    pub id: String,
    pub display_name: String,
    /// `host:port`, lower-case.
    pub authority: String,
    /// Always starts and ends with `/`.
    pub path_prefix: String,
    pub upstream: Url,
    pub upstream_ca: Option<PathBuf>,
    pub auth: AuthMode,
    pub allowed_idps: Vec<String>,
    pub headers: Vec<(HeaderName, String)>,
    pub assertion_header: Option<HeaderName>,
    /// Attributes the assertion carries: only what the app is meant to learn.
    pub assertion_claims: Vec<String>,
    pub max_body_bytes: u64,
    pub websocket: bool,
    pub preserve_host: bool,
    pub assignment_required: bool,
    /// Lower-case email addresses of the app's owners.
    pub owners: Vec<String>,
}

impl AppConfig {
    /// The external base URL of the app, used for redirects after sign-in.
    pub fn external_url(&self) -> String {
        let authority = self
            .authority
            .strip_suffix(":443")
            .unwrap_or(&self.authority);
        format!("https://{authority}{}", self.path_prefix)
    }
}

/// Attribute names an IdP mapping gets when it does not list its own.
pub const DEFAULT_CLAIMS: &[(&str, &str)] = &[
    ("subject", "sub"),
    ("email", "email"),
    ("email_verified", "email_verified"),
    ("name", "name"),
    ("groups", "groups"),
];

/// Lower-cases a `host[:port]` and adds the HTTPS default port so that `Example.com` and
/// `example.com:443` compare equal. Returns `None` for anything that is not a plain host
/// (user info, paths, percent-encoding, non-ASCII): such a Host header routes nowhere.
/// Runs on every request, so it parses by hand instead of building a URL.
pub fn normalize_authority(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (&raw[..v6.len() + 2], port)
    } else {
        match raw.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (raw, None),
        }
    };
    // One trailing dot (the DNS root) is the same name; two are no name.
    let host = host.strip_suffix('.').unwrap_or(host);
    let valid_name = !host.is_empty()
        && !host.ends_with('.')
        && host.len() <= 253
        && (host.starts_with('[')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
        && !host.starts_with('.')
        && !host.contains("..");
    if !valid_name {
        return None;
    }
    let port: u16 = match port {
        None => 443,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse().ok()?
        }
        Some(_) => return None,
    };
    if port == 0 {
        return None;
    }
    let mut out = String::with_capacity(host.len() + 6);
    out.extend(host.chars().map(|c| c.to_ascii_lowercase()));
    out.push(':');
    let _ = std::fmt::Write::write_fmt(&mut out, format_args!("{port}"));
    Some(out)
}

/// Turns the file format into the runtime config, collecting every error instead of stopping
/// at the first, so one `check-config` run shows the whole list.
pub fn validate(fc: FileConfig, path: &Path, source: &str) -> Result<Config, super::ConfigErrors> {
    validate_for(fc, path, source, Purpose::Serve)
}

/// What the config is loaded for: serving needs every secret; the directory commands of the
/// CLI never talk to an identity provider, so they do not need the IdPs' client secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Serve,
    Directory,
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

    // [[listener]]
    if fc.listeners.is_empty() {
        sink.push(
            root.key("listener"),
            "at least one [[listener]] is required",
        );
    }
    let mut listeners = Vec::new();
    for (i, l) in fc.listeners.iter().enumerate() {
        let lp = root.key("listener").index(i);
        let bind = match l.bind.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                sink.push(
                    lp.key("bind"),
                    format!("`{}` is not an address like 0.0.0.0:443", l.bind),
                );
                None
            }
        };
        let tls = match (&l.tls_cert, &l.tls_key, l.redirect_to_https) {
            (Some(c), Some(k), false) => {
                let (c, k) = (resolve(c), resolve(k));
                for (key, p) in [("tls_cert", &c), ("tls_key", &k)] {
                    if !p.is_file() {
                        sink.push(lp.key(key), format!("file {} not found", p.display()));
                    }
                }
                Some(TlsFiles { cert: c, key: k })
            }
            (None, None, true) => None,
            (_, _, true) => {
                sink.push(
                    lp.key("redirect_to_https"),
                    "a redirect listener has no tls_cert/tls_key",
                );
                None
            }
            _ => {
                sink.push(
                    lp.key("tls_cert"),
                    "an HTTPS listener needs both tls_cert and tls_key",
                );
                None
            }
        };
        if let Some(bind) = bind {
            listeners.push(Listener {
                bind,
                tls,
                redirect_to_https: l.redirect_to_https,
            });
        }
    }

    // [limits]
    let lim = &fc.limits;
    let lk = root.key("limits");
    for (key, v) in [
        ("header_read_timeout_secs", lim.header_read_timeout_secs),
        ("idle_timeout_secs", lim.idle_timeout_secs),
        (
            "upstream_connect_timeout_secs",
            lim.upstream_connect_timeout_secs,
        ),
        (
            "upstream_response_timeout_secs",
            lim.upstream_response_timeout_secs,
        ),
        ("max_connections", lim.max_connections as u64),
        ("sign_ins_per_minute", u64::from(lim.sign_ins_per_minute)),
        (
            "api_key_failures_per_minute",
            u64::from(lim.api_key_failures_per_minute),
        ),
        ("invitations_per_hour", u64::from(lim.invitations_per_hour)),
        ("pending_sign_ins", lim.pending_sign_ins),
    ] {
        if v == 0 {
            sink.push(lk.key(key), "must be greater than 0");
        }
    }
    if lim.max_header_bytes < 8192 {
        sink.push(lk.key("max_header_bytes"), "must be at least 8192");
    }
    let limits = Limits {
        header_read_timeout: Duration::from_secs(lim.header_read_timeout_secs),
        idle_timeout: Duration::from_secs(lim.idle_timeout_secs),
        max_header_bytes: lim.max_header_bytes,
        max_connections: lim.max_connections,
        max_body_bytes: lim.max_body_bytes,
        upstream_connect_timeout: Duration::from_secs(lim.upstream_connect_timeout_secs),
        upstream_response_timeout: Duration::from_secs(lim.upstream_response_timeout_secs),
        shutdown_grace: Duration::from_secs(lim.shutdown_grace_secs),
        sign_ins_per_minute: lim.sign_ins_per_minute,
        api_key_failures_per_minute: lim.api_key_failures_per_minute,
        invitations_per_hour: lim.invitations_per_hour,
        pending_sign_ins: lim.pending_sign_ins,
    };

    // [session]
    let s = &fc.session;
    let sk = root.key("session");
    if s.cookie_name.is_empty()
        || !s
            .cookie_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        || s.cookie_name.starts_with("__")
    {
        sink.push(
            sk.key("cookie_name"),
            "letters, digits, `_` and `-` only, not starting with `__`",
        );
    }
    if s.lifetime_secs < 60 {
        sink.push(sk.key("lifetime_secs"), "must be at least 60");
    }
    let session = SessionSettings {
        cookie_name: s.cookie_name.clone(),
        flow_store: s
            .flow_store
            .unwrap_or(if database_url.starts_with("postgres") {
                crate::config::file::FlowStoreKind::Database
            } else {
                crate::config::file::FlowStoreKind::Memory
            }),
        lifetime: Duration::from_secs(s.lifetime_secs),
        cache_capacity: s.cache_capacity,
        cache_ttl: Duration::from_secs(s.cache_ttl_secs.max(1)),
    };

    // [assertion]
    let assertion = AssertionSettings {
        signing_key_file: fc
            .assertion
            .signing_key_file
            .as_deref()
            .map(resolve)
            .unwrap_or_else(|| base_dir.join("assertion-signing-key.pem")),
        ttl: Duration::from_secs(fc.assertion.ttl_secs.unwrap_or(300)),
    };

    // [[idp]]
    let mut idps: Vec<Arc<IdpConfig>> = Vec::new();
    for (i, idp) in fc.idps.iter().enumerate() {
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
                &mut sink,
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
        if let (Some(issuer), Some(client_secret)) = (issuer, client_secret) {
            let _ = file::IdpKind::Oidc; // only kind so far
            idps.push(Arc::new(IdpConfig {
                id: idp.id.clone(),
                display_name: idp.display_name.clone().unwrap_or_else(|| idp.id.clone()),
                issuer,
                client_id: idp.client_id.clone(),
                client_secret,
                scopes: idp.scopes.clone(),
                claims,
                members: idp.members,
            }));
        }
    }

    // [[app]]
    let mut apps: Vec<Arc<AppConfig>> = Vec::new();
    for (i, app) in fc.apps.iter().enumerate() {
        let ap = root.key("app").index(i);
        if !is_id(&app.id) {
            sink.push(ap.key("id"), "use lower-case letters, digits and `-` only");
        }
        if apps.iter().any(|o| o.id == app.id) {
            sink.push(ap.key("id"), format!("duplicate app id `{}`", app.id));
        }
        let authority = normalize_authority(&app.host);
        if authority.is_none() {
            sink.push(ap.key("host"), "must be a host name, optionally with :port");
        }
        let path_prefix = normalize_prefix(&app.path_prefix);
        if path_prefix.is_none() {
            sink.push(
                ap.key("path_prefix"),
                "must start with `/` and contain no `..`, `?` or `#`",
            );
        }
        let upstream = match Url::parse(&app.upstream) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Some(u),
            Ok(_) => {
                sink.push(ap.key("upstream"), "must be an http:// or https:// URL");
                None
            }
            Err(e) => {
                sink.push(ap.key("upstream"), format!("not a URL: {e}"));
                None
            }
        };
        let upstream_ca = app.upstream_ca.as_deref().map(resolve);
        if let Some(ca) = &upstream_ca
            && !ca.is_file()
        {
            sink.push(
                ap.key("upstream_ca"),
                format!("file {} not found", ca.display()),
            );
        }
        for idp in &app.allowed_idps {
            if !fc.idps.iter().any(|d| &d.id == idp) {
                sink.push(ap.key("allowed_idps"), format!("unknown idp `{idp}`"));
            }
        }
        if app.auth == AuthMode::Required && fc.idps.is_empty() {
            sink.push(
                ap.key("auth"),
                "sign-in is required but no [[idp]] is configured",
            );
        }
        let mut headers = Vec::new();
        for (name, attr) in &app.headers {
            match HeaderName::try_from(name.as_str()) {
                Ok(h) if !is_reserved_header(&h) => headers.push((h, attr.clone())),
                Ok(_) => sink.push(
                    ap.key("headers").key(name),
                    "this header is managed by the gateway",
                ),
                Err(_) => sink.push(ap.key("headers").key(name), "not a valid header name"),
            }
        }
        let assertion_header = match app.assertion_header.as_deref().map(HeaderName::try_from) {
            None => None,
            Some(Ok(h)) => Some(h),
            Some(Err(_)) => {
                sink.push(ap.key("assertion_header"), "not a valid header name");
                None
            }
        };
        let mut owners = Vec::new();
        for (j, o) in app.owners.iter().enumerate() {
            match Address::parse(o) {
                Ok(a) => owners.push(a.as_str().to_string()),
                Err(e) => sink.push(ap.key("owners").index(j), e),
            }
        }
        if app.assignment_required && app.auth == AuthMode::None {
            sink.push(
                ap.key("assignment_required"),
                "needs sign-in: it cannot be combined with auth = \"none\"",
            );
        }
        if let (Some(authority), Some(path_prefix), Some(upstream)) =
            (authority, path_prefix, upstream)
        {
            if apps
                .iter()
                .any(|o| o.authority == authority && o.path_prefix == path_prefix)
            {
                sink.push(
                    ap.key("host"),
                    "another app already serves this host and path_prefix",
                );
            }
            apps.push(Arc::new(AppConfig {
                id: app.id.clone(),
                display_name: app.display_name.clone().unwrap_or_else(|| app.id.clone()),
                authority,
                path_prefix,
                upstream,
                upstream_ca,
                auth: app.auth,
                allowed_idps: app.allowed_idps.clone(),
                assertion_claims: app
                    .assertion_claims
                    .clone()
                    .unwrap_or_else(|| headers.iter().map(|(_, a)| a.clone()).collect()),
                headers,
                assertion_header,
                max_body_bytes: app.max_body_bytes.unwrap_or(limits.max_body_bytes),
                websocket: app.websocket,
                preserve_host: app.preserve_host,
                assignment_required: app.assignment_required,
                owners,
            }));
        }
    }

    let public_host = public_url
        .as_ref()
        .and_then(|u| u.host_str())
        .unwrap_or("localhost")
        .to_string();
    let directory = directory::directory(&mut sink, &root, &fc.directory, &public_host);
    let collaboration = directory::collaboration(&mut sink, &root, &fc.collaboration);
    let smtp = fc
        .smtp
        .as_ref()
        .and_then(|s| directory::smtp(&mut sink, &root, s, &resolve));

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
        idps,
        apps,
        directory,
        collaboration,
        smtp,
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

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        None => false,
    }
}

fn normalize_prefix(raw: &str) -> Option<String> {
    if !raw.starts_with('/') || raw.contains("..") || raw.contains(['?', '#', '\\', ' ']) {
        return None;
    }
    let mut p = raw.to_string();
    if !p.ends_with('/') {
        p.push('/');
    }
    Some(p)
}

/// Headers an operator may not map claims into: the gateway sets or strips these itself.
fn is_reserved_header(h: &HeaderName) -> bool {
    matches!(
        h.as_str(),
        "host"
            | "cookie"
            | "set-cookie"
            | "connection"
            | "upgrade"
            | "content-length"
            | "transfer-encoding"
            | "x-forwarded-for"
            | "x-forwarded-proto"
            | "x-forwarded-host"
            | "x-request-id"
    )
}

#[cfg(test)]
mod authority_tests {
    use super::normalize_authority as n;

    #[test]
    fn normalizes_case_and_default_port() {
        assert_eq!(n("App.Test").as_deref(), Some("app.test:443"));
        assert_eq!(n("app.test:443").as_deref(), Some("app.test:443"));
        assert_eq!(n("app.test.:8443").as_deref(), Some("app.test:8443"));
        assert_eq!(n("[::1]:8443").as_deref(), Some("[::1]:8443"));
        assert_eq!(n("127.0.0.1").as_deref(), Some("127.0.0.1:443"));
    }

    #[test]
    fn refuses_anything_but_a_host() {
        for bad in [
            "",
            ":443",
            "a b",
            "user@app.test",
            "app.test/x",
            "app.test:",
            "app.test:x",
            "app.test:99999",
            "app.test:0",
            "%61pp.test",
            "app..test",
            ".app.test",
            "[::1",
            "[nope]:1",
            "app.test\\x",
            "äpp.test",
        ] {
            assert_eq!(n(bad), None, "{bad:?}");
        }
    }
}
