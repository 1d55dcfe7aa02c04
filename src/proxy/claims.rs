//! Session identity → request headers for the app. Values are made safe for a header: control
//! characters (CR, LF, NUL, …) are dropped, multi-valued attributes are joined with `,` and the
//! result is capped so a hostile IdP cannot smuggle headers or bloat requests.
//!
//! The format apps read: values separated by `,`; inside a value `%` is sent as `%25` and `,`
//! as `%2C`, so a value can never pass as two (`["admins,finance"]` arrives as
//! `admins%2Cfinance`, `["admins", "finance"]` as `admins,finance`). Split on `,`, then
//! percent-decode each part.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::session::Session;

/// Longest value put into one identity header.
pub const MAX_HEADER_VALUE: usize = 2048;

/// Sets every mapped header from the session (headers were already scrubbed).
pub fn apply(headers: &mut HeaderMap, map: &[(HeaderName, String)], session: &Session) {
    for (name, attr) in map {
        if let Some(values) = session.attributes().get(attr)
            && let Some(v) = header_value(values)
        {
            headers.insert(name.clone(), v);
        }
    }
}

/// Builds one safe header value from an attribute's values.
pub fn header_value<'a>(
    values: impl ExactSizeIterator<Item = &'a str> + Clone,
) -> Option<HeaderValue> {
    // The usual case, one clean short ASCII value, needs no intermediate string. Checked on
    // bytes (anything else, such as a name like "Zoë", takes the general path below).
    let plain = |b: &u8| (b' '..=b'~').contains(b) && *b != b',' && *b != b'%';
    if values.len() == 1
        && let Some(one) = values.clone().next()
        && !one.is_empty()
        && one.len() <= MAX_HEADER_VALUE
        && one.as_bytes().iter().all(plain)
        && !one.starts_with(' ')
        && !one.ends_with(' ')
    {
        return HeaderValue::from_bytes(one.as_bytes()).ok();
    }
    let mut out = String::new();
    for v in values {
        let clean: String = v.chars().filter(|c| !c.is_control()).collect();
        let clean = clean.trim();
        if clean.is_empty() {
            continue;
        }
        let escaped = escape_value(clean);
        let sep = usize::from(!out.is_empty());
        if out.len() + sep + escaped.len() > MAX_HEADER_VALUE {
            // A cut value would be a different value; send whole values only. A single value
            // longer than the cap is cut on a character boundary outside an escape.
            if out.is_empty() {
                out = truncate_escaped(&escaped, MAX_HEADER_VALUE);
            }
            break;
        }
        if sep == 1 {
            out.push(',');
        }
        out.push_str(&escaped);
    }
    if out.is_empty() {
        return None;
    }
    // Non-ASCII (a name like "Zoë") is sent as UTF-8 bytes, which HeaderValue accepts as
    // opaque octets; only control characters are unsafe and those are gone.
    HeaderValue::from_bytes(out.as_bytes()).ok()
}

fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '%' => out.push_str("%25"),
            ',' => out.push_str("%2C"),
            c => out.push(c),
        }
    }
    out
}

fn truncate_escaped(s: &str, max: usize) -> String {
    let mut cut = max.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    // Do not end inside `%25`/`%2C`.
    if let Some(p) = s[..cut].rfind('%')
        && cut - p < 3
    {
        cut = p;
    }
    s[..cut].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(values: &[&str]) -> Option<HeaderValue> {
        header_value(values.iter().copied())
    }

    #[test]
    fn strips_crlf_and_caps_length() {
        let v = hv(&["alice\r\nX-Admin: 1"]).unwrap();
        assert_eq!(v.to_str().unwrap(), "aliceX-Admin: 1");
        let long = "a".repeat(10_000);
        assert_eq!(hv(&[long.as_str()]).unwrap().len(), MAX_HEADER_VALUE);
    }

    #[test]
    fn joins_multi_valued() {
        let v = hv(&["a", "\u{0}", "b"]).unwrap();
        assert_eq!(v.to_str().unwrap(), "a,b");
    }

    #[test]
    fn a_value_with_the_separator_cannot_pass_as_two() {
        let one = hv(&["admins,finance"]).unwrap();
        let two = hv(&["admins", "finance"]).unwrap();
        assert_ne!(one, two);
        assert_eq!(one.to_str().unwrap(), "admins%2Cfinance");
        assert_eq!(
            hv(&["100%", "a%2Cb"]).unwrap().to_str().unwrap(),
            "100%25,a%252Cb"
        );
        let cut = hv(&[",".repeat(MAX_HEADER_VALUE).as_str()]).unwrap();
        assert!(cut.len() <= MAX_HEADER_VALUE && cut.to_str().unwrap().ends_with("%2C"));
    }
}
