//! `X-Forwarded-*`: computed from what the gateway saw, extended with the client's own values
//! only when the TCP peer is a trusted proxy.

use std::net::IpAddr;

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue};
use ipnet::IpNet;

#[derive(Debug, Clone)]
pub struct Forwarded {
    /// Built as header values straight away: a string first and a copy into the header
    /// were two allocations per value on every proxied request.
    pub for_chain: HeaderValue,
    pub proto: &'static str,
    pub host: HeaderValue,
    /// The address policy decisions should use: the client, not the proxy in front.
    pub client_ip: IpAddr,
}

pub fn compute(headers: &HeaderMap, peer: IpAddr, trusted: &[IpNet], host: &str) -> Forwarded {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let trusted_peer = is_trusted(&peer);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    // The texts are header values that passed `to_str`, addresses, or the normalised host,
    // so they are valid header values; the fallback is never taken.
    let value = |text: &str| HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""));
    if trusted_peer {
        let prior = header("x-forwarded-for");
        let client_ip = client_from_chain(prior.unwrap_or(""), peer, is_trusted);
        Forwarded {
            for_chain: match prior {
                Some(p) => value(&format!("{p}, {}", ip_text(peer))),
                None => ip_value(peer),
            },
            proto: match header("x-forwarded-proto") {
                Some("http") => "http",
                _ => "https",
            },
            host: value(header("x-forwarded-host").unwrap_or(host)),
            client_ip,
        }
    } else {
        Forwarded {
            for_chain: ip_value(peer),
            proto: "https",
            host: value(host),
            client_ip: peer,
        }
    }
}

/// The client address alone (what `compute` calls `client_ip`), without building the
/// forwarding headers: for rate limits and logs outside the data plane.
pub fn client_ip(headers: &HeaderMap, peer: IpAddr, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let chain = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    client_from_chain(chain, peer, is_trusted)
}

/// The client is the rightmost hop no trusted proxy vouches for: everything left of it was
/// written by the client itself and can say anything. An unparsable hop ends the walk at the
/// last address a trusted proxy wrote.
fn client_from_chain(chain: &str, peer: IpAddr, is_trusted: impl Fn(&IpAddr) -> bool) -> IpAddr {
    let mut client = peer;
    for hop in chain.rsplit(',') {
        if !is_trusted(&client) {
            break;
        }
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => client = ip,
            Err(_) => break,
        }
    }
    client
}

// Names as constants: parsing a name given as text on each request cost more than
// building the three values.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

pub fn apply(headers: &mut HeaderMap, f: Forwarded) {
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(f.proto));
    headers.insert(X_FORWARDED_FOR, f.for_chain);
    headers.insert(X_FORWARDED_HOST, f.host);
}

/// An address as a header value, without a string in between for IPv4.
fn ip_value(ip: IpAddr) -> HeaderValue {
    let IpAddr::V4(v4) = ip else {
        return HeaderValue::from_str(&ip.to_string()).unwrap_or(HeaderValue::from_static(""));
    };
    let mut text = [0u8; 15];
    let mut len = 0;
    for_each_ipv4_byte(v4, |b| {
        text[len] = b;
        len += 1;
    });
    HeaderValue::from_bytes(&text[..len]).unwrap_or(HeaderValue::from_static(""))
}

/// An address as text, as `Display` writes it. IPv4, the usual case, is written by hand:
/// `Display` through the formatting machinery cost more than the rest of this module.
fn ip_text(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut out = String::with_capacity(15);
    for_each_ipv4_byte(v4, |b| out.push(char::from(b)));
    out
}

/// The bytes of an IPv4 address's dotted text, as `Display` writes it.
fn for_each_ipv4_byte(v4: std::net::Ipv4Addr, mut put: impl FnMut(u8)) {
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            put(b'.');
        }
        if octet >= 100 {
            put(b'0' + octet / 100);
        }
        if octet >= 10 {
            put(b'0' + octet / 10 % 10);
        }
        put(b'0' + octet % 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_as_display_writes_them() {
        for octet in 0..=255u8 {
            for ip in [
                std::net::Ipv4Addr::new(octet, 0, 10, 255),
                std::net::Ipv4Addr::new(1, octet, 100, 9),
                std::net::Ipv4Addr::new(199, 99, octet, octet),
            ] {
                assert_eq!(ip_text(IpAddr::V4(ip)), ip.to_string());
                assert_eq!(ip_value(IpAddr::V4(ip)), ip.to_string().as_str());
            }
        }
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(ip_text(v6), "2001:db8::1");
        assert_eq!(ip_value(v6), "2001:db8::1");
    }

    #[test]
    fn only_http_or_https_passes_as_the_protocol() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let peer = "10.0.0.9".parse().unwrap();
        for (sent, want) in [
            ("http", "http"),
            ("https", "https"),
            ("javascript", "https"),
        ] {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-proto", HeaderValue::from_static(sent));
            assert_eq!(compute(&h, peer, &trusted, "app.test").proto, want);
            // An untrusted peer's claim is not read at all.
            assert_eq!(compute(&h, peer, &[], "app.test").proto, "https");
        }
    }

    #[test]
    fn untrusted_peers_cannot_forge_their_address() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        let f = compute(&h, "10.0.0.9".parse().unwrap(), &[], "app.test");
        assert_eq!(f.for_chain, "10.0.0.9");
        assert_eq!(f.client_ip.to_string(), "10.0.0.9");
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let f = compute(&h, "10.0.0.9".parse().unwrap(), &trusted, "app.test");
        assert_eq!(f.for_chain, "1.2.3.4, 10.0.0.9");
        assert_eq!(f.client_ip.to_string(), "1.2.3.4");
    }

    #[test]
    fn client_is_the_rightmost_untrusted_hop() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let peer = "10.0.0.9".parse().unwrap();
        let mut h = HeaderMap::new();
        // The client wrote 6.6.6.6 itself; our proxy (10.0.0.9) appended the real 1.2.3.4.
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 1.2.3.4"),
        );
        let f = compute(&h, peer, &trusted, "app.test");
        assert_eq!(f.client_ip.to_string(), "1.2.3.4");
        // Two trusted proxies in a row are both skipped.
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 1.2.3.4, 10.1.1.1"),
        );
        assert_eq!(
            compute(&h, peer, &trusted, "app.test")
                .client_ip
                .to_string(),
            "1.2.3.4"
        );
        // Garbage to the right of a trusted hop stops the walk at the trusted proxy.
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, nonsense"),
        );
        assert_eq!(
            compute(&h, peer, &trusted, "app.test")
                .client_ip
                .to_string(),
            "10.0.0.9"
        );
    }
}
