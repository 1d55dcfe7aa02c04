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
        .find_map(|v| value_in(v.as_bytes(), name))
}

/// `name`'s value in one `Cookie` header (`a=1; b=2`), if it is visible ASCII (what
/// `HeaderValue::to_str` accepts). Scanned with memchr, and only the value found is checked:
/// checking the whole header, then splitting and trimming it as `str`, went byte by byte
/// through it three times and cost as much as the rest of the session lookup.
fn value_in<'a>(header: &'a [u8], name: &str) -> Option<&'a str> {
    let mut rest = header;
    loop {
        let (pair, next) = match memchr::memchr(b';', rest) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if let Some(eq) = memchr::memchr(b'=', pair)
            && pair[..eq].trim_ascii() == name.as_bytes()
        {
            let value = pair[eq + 1..].trim_ascii();
            let visible = |b: &u8| *b == b'\t' || (b' '..=b'~').contains(b);
            if value.iter().all(visible)
                && let Ok(v) = std::str::from_utf8(value)
            {
                return Some(v);
            }
        }
        rest = next?;
    }
}

/// Most steps one browser keeps open at once in a list cookie (sign-ins in several tabs);
/// adding another drops the oldest.
pub const MAX_LISTED: usize = 4;

/// The ids in a list cookie (`id.id.id`, oldest first); malformed entries are skipped.
pub fn list<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    value(headers, name)
        .map(|v| v.split('.').filter(|t| crate::token::is_token(t)).collect())
        .unwrap_or_default()
}

/// `Set-Cookie` for a list cookie holding `ids` (cleared when empty).
pub fn set_list(name: &str, ids: &[&str], max_age_secs: i64) -> HeaderValue {
    if ids.is_empty() {
        return clear(name);
    }
    let start = ids.len().saturating_sub(MAX_LISTED);
    set(name, &ids[start..].join("."), max_age_secs)
}

/// `ids` with `id` appended.
pub fn with<'a>(ids: &[&'a str], id: &'a str) -> Vec<&'a str> {
    let mut v: Vec<&str> = ids.iter().copied().filter(|t| *t != id).collect();
    v.push(id);
    v
}

/// `ids` without `id`.
pub fn without<'a>(ids: &[&'a str], id: &str) -> Vec<&'a str> {
    ids.iter().copied().filter(|t| *t != id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_by_its_whole_name_in_any_cookie_header() {
        let mut h = HeaderMap::new();
        for v in [
            "xsession=wrong; session_x=wrong2",
            "a=1;session =  right=with=equals ; b",
            "session=later",
        ] {
            h.append(header::COOKIE, HeaderValue::from_static(v));
        }
        assert_eq!(value(&h, "session"), Some("right=with=equals"));
        assert_eq!(value(&h, "a"), Some("1"));
        // A pair without `=` is no cookie, and names are case-sensitive.
        assert_eq!(value(&h, "b"), None);
        assert_eq!(value(&h, "Session"), None);
        assert_eq!(value(&h, "xsession"), Some("wrong"));
        h.insert(header::COOKIE, HeaderValue::from_static("empty=; ;;"));
        assert_eq!(value(&h, "empty"), Some(""));
        assert_eq!(value(&h, ""), None);
        // Bytes `to_str` refuses make the value unreadable, but not the header's others.
        h.insert(
            header::COOKIE,
            HeaderValue::from_bytes(b"bad=\xffx; good=ok").expect("obs-text"),
        );
        assert_eq!(value(&h, "bad"), None);
        assert_eq!(value(&h, "good"), Some("ok"));
    }

    #[test]
    fn list_cookies_keep_the_newest_ids() {
        let ids: Vec<String> = (0..6).map(|_| crate::token::random_token()).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let header = set_list("n", &refs, 60);
        let value = header.to_str().expect("ascii");
        let kept = value
            .strip_prefix("n=")
            .and_then(|v| v.split(';').next())
            .expect("value");
        assert_eq!(kept, refs[2..].join("."));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("n={kept}.not-a-token")).expect("cookie"),
        );
        assert_eq!(list(&h, "n"), refs[2..].to_vec());
        assert_eq!(without(&refs[..2], refs[0]), vec![refs[1]]);
        assert_eq!(with(&refs[..2], refs[0]), vec![refs[1], refs[0]]);
        assert!(
            set_list("n", &[], 60)
                .to_str()
                .expect("ascii")
                .contains("Max-Age=0")
        );
    }
}
