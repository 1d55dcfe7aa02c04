//! The gateway's cookies. All are `__Host-` prefixed: Secure, Path=/, no Domain, so each host
//! (login host, every app host) has its own and no subdomain can plant one.

use http::{HeaderMap, HeaderValue, header};

pub const PREFIX: &str = "__Host-";

/// Cookie names derived from the configured base name.
#[derive(Debug, Clone)]
pub struct CookieNames {
    /// Opaque session id.
    pub session: String,
    /// Sign-in flow in progress (login host).
    pub flow: String,
    /// Binds a handoff code to the browser that started sign-in (app hosts).
    pub bind: String,
}

impl CookieNames {
    pub fn new(base: &str) -> Self {
        Self {
            session: format!("{PREFIX}{base}"),
            flow: format!("{PREFIX}{base}_flow"),
            bind: format!("{PREFIX}{base}_bind"),
        }
    }

    /// Every cookie the upstream must never see, also without the prefix in case a client
    /// sends a look-alike.
    pub fn all(&self) -> Vec<String> {
        let mut v = Vec::new();
        for n in [&self.session, &self.flow, &self.bind] {
            v.push(n.clone());
            v.push(n.trim_start_matches(PREFIX).to_string());
        }
        v
    }
}

pub fn set(name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let s =
        format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}");
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
}

pub fn clear(name: &str) -> HeaderValue {
    set(name, "", 0)
}

/// Reads one cookie's value from the request.
pub fn value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k.trim() == name).then_some(v.trim())
        })
        .next()
}
