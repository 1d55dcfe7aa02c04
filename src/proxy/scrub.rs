//! Removes everything a client must not be able to send to an app: the identity headers the
//! gateway injects (in every spelling), the gateway's own cookies, hop-by-hop headers and
//! protocol upgrades other than an allowed WebSocket.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers removed from every request in addition to an app's own header map.
/// Besides our own, these are the names that app servers and frameworks read as the client's
/// address, the original URL or the public host (Spring, IIS URL Rewrite, Symfony, Rails,
/// CDNs): a client must not be able to choose them.
const ALWAYS_STRIPPED: &[&str] = &[
    "x-request-id",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-uri",
    "x-forwarded-server",
    "x-forwarded-scheme",
    "x-forwarded-ssl",
    "x-real-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "forwarded",
];

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy ones proxies also drop.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
];

/// Canonical form used to compare header names: lower case, `_` as `-`. Some app servers
/// (CGI, PHP, nginx with underscores_in_headers) treat `X_Remote_User` as `X-Remote-User`.
pub fn canonical(name: &str) -> String {
    name.chars().map(fold).collect()
}

/// One character of the canonical form.
fn fold(c: char) -> char {
    if c == '_' {
        '-'
    } else {
        c.to_ascii_lowercase()
    }
}

/// `canonical(name) == canonical`, without building a string.
fn same_canonical(canonical: &str, name: &str) -> bool {
    canonical.len() == name.len() && canonical.chars().eq(name.chars().map(fold))
}

/// The set of canonical names to strip for one app (its identity headers, the gateway's own
/// and the hop-by-hop ones), computed once per config so each request header costs one
/// hash lookup (a binary search over the 30-odd names was 2 % of a request's instructions).
#[derive(Debug, Clone, Default)]
pub struct InjectedNames(foldhash::HashSet<String>);

impl InjectedNames {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a HeaderName>) -> Self {
        let mut set: foldhash::HashSet<String> =
            names.into_iter().map(|n| canonical(n.as_str())).collect();
        set.extend(
            ALWAYS_STRIPPED
                .iter()
                .chain(HOP_BY_HOP)
                .map(|s| s.to_string()),
        );
        Self(set)
    }

    fn contains(&self, name: &str) -> bool {
        // Header names arrive lower-cased from hyper; only `_` needs folding.
        if name.as_bytes().contains(&b'_') {
            self.0.contains(&canonical(name))
        } else {
            self.0.contains(name)
        }
    }
}

/// What the scrub kept that later steps need.
#[derive(Debug, Default)]
pub struct Scrubbed {
    /// The client asked for a WebSocket upgrade (kept only if the app allows it).
    pub websocket: bool,
}

/// Scrubs request headers in place. `gateway_cookies` are cookie names owned by the gateway.
pub fn scrub_request(
    headers: &mut HeaderMap,
    injected: &InjectedNames,
    gateway_cookies: &[String],
    allow_websocket: bool,
) -> Scrubbed {
    let websocket = crate::web::request::is_websocket_upgrade(headers);

    // Headers named in `Connection` are hop-by-hop too. Browsers send `keep-alive` there on
    // every HTTP/1.1 request: that name (and `close`, an option, not a header) is dropped
    // anyway, so the list stays empty in the usual case.
    let connection_named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| {
            !s.is_empty()
                && !s.eq_ignore_ascii_case("keep-alive")
                && !s.eq_ignore_ascii_case("close")
        })
        .map(canonical)
        .collect();

    // Usually nothing matches, so collect only the names to drop.
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let n = name.as_str();
            injected.contains(n) || connection_named.iter().any(|c| same_canonical(c, n))
        })
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(&name);
    }

    strip_cookies(headers, gateway_cookies);

    let keep_ws = websocket && allow_websocket;
    if keep_ws {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    Scrubbed { websocket: keep_ws }
}

/// The `;`-separated pairs of a `Cookie` value, trimmed.
fn cookie_pairs(v: &HeaderValue) -> impl Iterator<Item = &[u8]> {
    v.as_bytes().split(|b| *b == b';').map(<[u8]>::trim_ascii)
}

/// Removes the gateway's cookies from `Cookie` headers, keeping the app's own cookies. A
/// value that is not visible ASCII cannot be split safely and is dropped whole.
pub fn strip_cookies<S: AsRef<str>>(headers: &mut HeaderMap, gateway_cookies: &[S]) {
    // On bytes: every proxied request carries at least the session cookie, and `to_str`
    // plus `split(';')` over it cost more than the rest of the scrub.
    let is_ours = |pair: &[u8]| {
        let name = pair
            .split(|b| *b == b'=')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        gateway_cookies
            .iter()
            .any(|g| g.as_ref().as_bytes().eq_ignore_ascii_case(name))
    };
    let readable = |v: &HeaderValue| v.to_str().is_ok();
    // One pass: whether any value holds a gateway cookie (or cannot be read), and what the
    // rewritten header would keep. A browser usually sends only the session cookie, and
    // then nothing is kept and nothing allocated.
    let mut any_ours = false;
    let mut kept: Vec<u8> = Vec::new();
    for v in headers.get_all(header::COOKIE) {
        if !readable(v) {
            any_ours = true;
            continue;
        }
        for pair in cookie_pairs(v).filter(|c| !c.is_empty()) {
            if is_ours(pair) {
                any_ours = true;
                continue;
            }
            if !kept.is_empty() {
                kept.extend_from_slice(b"; ");
            }
            kept.extend_from_slice(pair);
        }
    }
    if !any_ours {
        return;
    }
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_bytes(&kept)
    {
        headers.insert(header::COOKIE, v);
    }
}

/// Drops hop-by-hop headers from an upstream response, and any `Set-Cookie` for one of the
/// gateway's cookie names: an app must not plant or clear the gateway's session.
pub fn scrub_response<S: AsRef<str>>(
    headers: &mut HeaderMap,
    keep_upgrade: bool,
    gateway_cookies: &[S],
) {
    // Which of the names this scrub looks up are there at all: one pass over a response's
    // few headers costs less than a hash lookup per name that is usually absent.
    let (mut set_cookie, mut connection, mut upgrade) = (false, false, false);
    for name in headers.keys() {
        set_cookie |= name == header::SET_COOKIE;
        connection |= name == header::CONNECTION;
        upgrade |= name == header::UPGRADE;
    }
    if set_cookie {
        drop_gateway_set_cookies(headers, gateway_cookies);
    }
    // Apps name other headers in `Connection` rarely; most send only `keep-alive` or
    // `close`, and then no header name needs comparing with the list.
    let names_others = !keep_upgrade
        && connection
        && headers.get_all(header::CONNECTION).iter().any(|v| {
            v.as_bytes().split(|b| *b == b',').any(|t| {
                let t = t.trim_ascii();
                !t.is_empty()
                    && !t.eq_ignore_ascii_case(b"keep-alive")
                    && !t.eq_ignore_ascii_case(b"close")
            })
        });
    let named_in_connection = |name: &HeaderName| {
        headers.get_all(header::CONNECTION).iter().any(|v| {
            v.as_bytes().split(|b| *b == b',').any(|t| {
                t.trim_ascii()
                    .eq_ignore_ascii_case(name.as_str().as_bytes())
            })
        })
    };
    // One pass over the response's few headers, instead of a removal (a name parse and a
    // hash) per hop-by-hop name. `Connection` and `Upgrade` are left to the end, so that
    // the usual response, whose only hop-by-hop header is `Connection`, allocates nothing.
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            *name != header::CONNECTION
                && *name != header::UPGRADE
                && (HOP_BY_HOP.contains(&name.as_str())
                    || (names_others && named_in_connection(name)))
        })
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(&name);
    }
    if !keep_upgrade && connection {
        headers.remove(header::CONNECTION);
    }
    if !keep_upgrade && upgrade {
        headers.remove(header::UPGRADE);
    }
}

fn drop_gateway_set_cookies<S: AsRef<str>>(headers: &mut HeaderMap, gateway_cookies: &[S]) {
    let is_ours = |v: &HeaderValue| {
        let raw = String::from_utf8_lossy(v.as_bytes());
        let name = raw.split(['=', ';']).next().unwrap_or("").trim();
        // Browsers also accept the `__Secure-` spelling of a name; compare without prefixes.
        let bare = |n: &str| {
            let n = n.to_ascii_lowercase();
            n.trim_start_matches("__host-")
                .trim_start_matches("__secure-")
                .to_string()
        };
        let name = bare(name);
        gateway_cookies.iter().any(|g| bare(g.as_ref()) == name)
    };
    if !headers.get_all(header::SET_COOKIE).iter().any(is_ours) {
        return;
    }
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| !is_ours(v))
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for v in kept {
        headers.append(header::SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&'static str]) -> InjectedNames {
        let hs: Vec<HeaderName> = list.iter().map(|s| HeaderName::from_static(s)).collect();
        InjectedNames::new(hs.iter())
    }

    #[test]
    fn strips_injected_headers_in_every_spelling() {
        let mut h = HeaderMap::new();
        h.insert("x-remote-user", HeaderValue::from_static("mallory"));
        h.insert("x_remote_user", HeaderValue::from_static("mallory"));
        h.insert("X_Remote_USER", HeaderValue::from_static("mallory"));
        h.insert("x-other", HeaderValue::from_static("ok"));
        scrub_request(&mut h, &names(&["x-remote-user"]), &[] as &[String], false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-other"));
    }

    #[test]
    fn strips_h2c_and_connection_named_headers() {
        let mut h = HeaderMap::new();
        h.insert("upgrade", HeaderValue::from_static("h2c"));
        h.insert(
            "connection",
            HeaderValue::from_static("Upgrade, HTTP2-Settings, X-Secret"),
        );
        h.insert("http2-settings", HeaderValue::from_static("AAA"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        let s = scrub_request(&mut h, &names(&[]), &[] as &[String], true);
        assert!(!s.websocket);
        assert!(h.is_empty(), "{h:?}");
    }

    #[test]
    fn connection_named_headers_go_in_either_spelling_and_keep_alive_is_no_header_name() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, X-Secret, close"),
        );
        h.insert("x_secret", HeaderValue::from_static("1"));
        h.insert("x-secretive", HeaderValue::from_static("kept"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        scrub_request(&mut h, &names(&[]), &[] as &[String], false);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["accept", "x-secretive"]);
    }

    #[test]
    fn responses_lose_hop_by_hop_headers_unless_an_upgrade_keeps_them() {
        let response = || {
            let mut h = HeaderMap::new();
            for (n, v) in [
                ("connection", "keep-alive, X-Private-Hop"),
                ("keep-alive", "timeout=5"),
                ("transfer-encoding", "chunked"),
                ("upgrade", "websocket"),
                ("proxy-authenticate", "Basic"),
                ("x-private-hop", "1"),
                ("content-type", "text/plain"),
                ("x-app", "kept"),
            ] {
                h.insert(HeaderName::from_static(n), HeaderValue::from_static(v));
            }
            h
        };
        let mut h = response();
        scrub_response(&mut h, false, &["__Host-borderless_session"]);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["content-type", "x-app"]);

        let mut h = response();
        scrub_response(&mut h, true, &["__Host-borderless_session"]);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(
            left,
            [
                "connection",
                "content-type",
                "upgrade",
                "x-app",
                "x-private-hop"
            ]
        );
    }

    #[test]
    fn upstream_cannot_set_the_gateway_cookies() {
        let mut h = HeaderMap::new();
        for c in [
            "app=1; Path=/",
            "__Host-borderless_session=planted; Path=/; Secure",
            "__HOST-BORDERLESS_SESSION=x",
            "__Secure-borderless_session=x; Secure",
            "borderless_session=x",
            "borderless_session_other=kept",
        ] {
            h.append(header::SET_COOKIE, HeaderValue::from_static(c));
        }
        scrub_response(&mut h, false, &["__Host-borderless_session"]);
        let left: Vec<_> = h
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect();
        assert_eq!(left, ["app=1; Path=/", "borderless_session_other=kept"]);
    }

    #[test]
    fn keeps_app_cookies_and_drops_gateway_cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            HeaderValue::from_static("a=1; __Host-borderless_session=xyz; b=2"),
        );
        strip_cookies(&mut h, &["__Host-borderless_session"]);
        assert_eq!(
            h.get("cookie").map(|v| v.to_str().unwrap_or("")),
            Some("a=1; b=2")
        );
        // HTTP/2 sends one `cookie` field per cookie: the app's are joined into one header.
        let mut h = HeaderMap::new();
        for c in ["a=1", "__Host-borderless_session=xyz", " b=2 "] {
            h.append("cookie", HeaderValue::from_static(c));
        }
        strip_cookies(&mut h, &["__Host-borderless_session"]);
        let left: Vec<_> = h.get_all("cookie").iter().collect();
        assert_eq!(left, ["a=1; b=2"]);
        // Only the gateway's cookie: no `Cookie` header at all, not an empty one.
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            HeaderValue::from_static("__Host-borderless_session=xyz"),
        );
        strip_cookies(&mut h, &["__Host-borderless_session"]);
        assert!(h.get("cookie").is_none());
    }

    #[test]
    fn cookie_values_that_are_not_visible_ascii_are_dropped_whole() {
        // Such a value cannot be split on `;` safely, so a gateway cookie could hide in it.
        let mut h = HeaderMap::new();
        h.append(
            "cookie",
            HeaderValue::from_bytes(b"x=\xff; __Host-borderless_session=xyz").expect("obs-text"),
        );
        h.append("cookie", HeaderValue::from_static("app=1"));
        strip_cookies(&mut h, &["__Host-borderless_session"]);
        let left: Vec<_> = h.get_all("cookie").iter().collect();
        assert_eq!(left, ["app=1"]);
        // Names compare without regard to case; values are kept as sent.
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            HeaderValue::from_static("__HOST-BORDERLESS_SESSION=a;Keep=B ; ;"),
        );
        strip_cookies(&mut h, &["__Host-borderless_session"]);
        assert_eq!(
            h.get("cookie").map(HeaderValue::as_bytes),
            Some(&b"Keep=B"[..])
        );
    }
}
