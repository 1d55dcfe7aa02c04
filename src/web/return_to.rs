//! Where a browser may be sent after sign-in. Only URLs of configured apps (or the login host
//! itself) pass; everything else is an open-redirect attempt and is refused.

use url::Url;

use crate::config::normalize_authority;
use crate::proxy::route::Router;

/// Longest return URL accepted.
const MAX_LEN: usize = 4096;

/// Checks a raw `rd` value and returns the absolute URL to redirect to.
pub fn validate(
    raw: &str,
    login_base: &Url,
    login_authority: &str,
    router: &Router,
) -> Option<Url> {
    if raw.is_empty() || raw.len() > MAX_LEN {
        return None;
    }
    // Browsers strip tabs/newlines and turn `\` into `/` when resolving URLs, which is what
    // makes `/\evil.com` and `/\t/evil.com` redirect off-site. None of them occur in a
    // legitimate app URL, so any occurrence refuses the value outright.
    if raw
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return None;
    }
    let lower = raw.to_ascii_lowercase();
    if lower.contains("%5c")
        || lower.contains("%09")
        || lower.contains("%0a")
        || lower.contains("%0d")
        || lower.contains("%00")
    {
        return None;
    }
    let url = if raw.starts_with('/') {
        // A path on the login host; `//host` would be protocol-relative.
        if raw.starts_with("//") {
            return None;
        }
        login_base.join(raw).ok()?
    } else {
        Url::parse(raw).ok()?
    };
    if url.scheme() != "https" || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    // The app is chosen by the path the gateway would route, so the path must pass the
    // same normalisation a request would.
    if super::path::normalize(url.path()).is_err() {
        return None;
    }
    let authority = normalize_authority(&url[url::Position::BeforeHost..url::Position::AfterPort])?;
    if authority == login_authority || router.route_normalized(&authority, url.path()).is_some() {
        Some(url)
    } else {
        None
    }
}

/// `host:port` of a URL, normalized as routes are.
pub fn authority_of(url: &Url) -> Option<String> {
    normalize_authority(&url[url::Position::BeforeHost..url::Position::AfterPort])
}
