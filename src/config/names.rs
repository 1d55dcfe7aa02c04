//! Small checks shared by the config sections: ids, hosts, path prefixes, header names.

use http::HeaderName;
use url::Url;

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
    let port_number: u16 = match port {
        None => 443,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse().ok()?
        }
        Some(_) => return None,
    };
    if port_number == 0 {
        return None;
    }
    let mut out = String::with_capacity(host.len() + 6);
    out.push_str(host);
    out.make_ascii_lowercase();
    out.push(':');
    match port {
        // Digits as sent unless a leading zero makes them a different spelling.
        Some(p) if !p.starts_with('0') => out.push_str(p),
        _ => {
            let _ = std::fmt::Write::write_fmt(&mut out, format_args!("{port_number}"));
        }
    }
    Some(out)
}

pub(super) fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub(super) fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        None => false,
    }
}

pub(super) fn normalize_prefix(raw: &str) -> Option<String> {
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
pub(super) fn is_reserved_header(h: &HeaderName) -> bool {
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

#[cfg(test)]
mod tests {
    use super::normalize_authority;

    #[test]
    fn authorities_compare_in_one_spelling() {
        for (raw, want) in [
            ("Example.COM", Some("example.com:443")),
            ("example.com.:443", Some("example.com:443")),
            ("app.test:8443", Some("app.test:8443")),
            ("app.test:08443", Some("app.test:8443")),
            ("app.test:0443", Some("app.test:443")),
            (" app.test ", Some("app.test:443")),
            ("[::1]:8443", Some("[::1]:8443")),
            ("app.test:0", None),
            ("app.test:00", None),
            ("app.test:65536", None),
            ("app.test:", None),
            ("app..test", None),
            ("user@app.test", None),
            ("app.test:+443", None),
        ] {
            assert_eq!(normalize_authority(raw).as_deref(), want, "{raw}");
        }
    }
}
