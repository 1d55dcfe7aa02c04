//! `[[app]]`: the apps behind the gateway, their hosts, upstreams and identity headers.

use std::path::PathBuf;
use std::sync::Arc;

use http::HeaderName;
use url::Url;

use super::errors::{ErrorSink, KeyPath};
use super::file::{AuthMode, FileConfig};
use super::limits::Limits;
use super::names::{is_id, is_reserved_header, normalize_authority, normalize_prefix};
use crate::directory::address::Address;

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
    /// Provider buttons on the sign-in page; `None` shows every admitted provider.
    pub sign_in_buttons: Option<Vec<String>>,
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

pub(super) fn apps(
    sink: &mut ErrorSink<'_>,
    root: &KeyPath,
    fc: &FileConfig,
    limits: &Limits,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Vec<Arc<AppConfig>> {
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
        for (j, idp) in app.sign_in_buttons.iter().flatten().enumerate() {
            if !fc.idps.iter().any(|d| &d.id == idp) {
                sink.push(
                    ap.key("sign_in_buttons").index(j),
                    format!("unknown idp `{idp}`"),
                );
            } else if !app.allowed_idps.is_empty() && !app.allowed_idps.contains(idp) {
                sink.push(
                    ap.key("sign_in_buttons").index(j),
                    format!("`{idp}` is not in this app's allowed_idps"),
                );
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
                sign_in_buttons: app.sign_in_buttons.clone(),
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
    apps
}
