//! What kind of request this is, as the browser tells it: a page load, a WebSocket
//! handshake, a POST from our own origin.

use http::{HeaderMap, Method, Request, header};
use hyper::body::Incoming;

/// The request id's header, on requests to apps and on every answer. A constant name
/// spares a parse of the text per request.
pub const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// A request without a session that is not a page load gets 401 rather than a redirect.
pub fn is_navigation(req: &Request<Incoming>) -> bool {
    matches!(*req.method(), Method::GET | Method::HEAD) && !is_websocket_upgrade(req.headers())
}

/// True when the request is an HTTP/1.1 WebSocket handshake (and nothing else, e.g. not h2c).
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let lists = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case(token)))
    };
    // `Connection` is read only when there is an `Upgrade`: most requests have neither.
    lists(header::UPGRADE, "websocket") && lists(header::CONNECTION, "upgrade")
}

/// A browser's POST from this host: `Origin` (or, without it, `Sec-Fetch-Site`) must say so.
/// Clients that send neither (scripts, curl) are not browsers a CSRF page can drive.
/// Our pages set `Referrer-Policy: no-referrer`, under which Chromium sends `Origin: null`
/// even for a same-origin form; then only `Sec-Fetch-Site: same-origin` vouches for it (a
/// sandboxed frame or data: page elsewhere also sends `null`, with `cross-site`).
pub fn same_origin(req: &Request<Incoming>, host: &str) -> bool {
    let h = req.headers();
    let fetch_site = h.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        if origin == "null" {
            return fetch_site == Some("same-origin");
        }
        return url::Url::parse(origin)
            .ok()
            .filter(|u| u.scheme() == "https")
            .and_then(|u| super::return_to::authority_of(&u))
            .is_some_and(|a| a == host);
    }
    match fetch_site {
        Some(site) => site == "same-origin" || site == "none",
        None => true,
    }
}
