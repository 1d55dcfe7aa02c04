//! Session identity → request headers for the app. Values are made safe for a header: control
//! characters (CR, LF, NUL, …) are dropped, multi-valued attributes are joined with `,` and the
//! result is capped so a hostile IdP cannot smuggle headers or bloat requests.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::session::Session;

/// Longest value put into one identity header.
pub const MAX_HEADER_VALUE: usize = 2048;

/// Sets every mapped header from the session (headers were already scrubbed).
pub fn apply(headers: &mut HeaderMap, map: &[(HeaderName, String)], session: &Session) {
    for (name, attr) in map {
        if let Some(values) = session.attributes.get(attr)
            && let Some(v) = header_value(values)
        {
            headers.insert(name.clone(), v);
        }
    }
}

/// Builds one safe header value from an attribute's values.
pub fn header_value(values: &[String]) -> Option<HeaderValue> {
    // The usual case, one clean short value, needs no intermediate string.
    if let [one] = values
        && !one.is_empty()
        && one.len() <= MAX_HEADER_VALUE
        && !one.chars().any(char::is_control)
        && one.trim() == one
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
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(clean);
        if out.len() >= MAX_HEADER_VALUE {
            break;
        }
    }
    if out.len() > MAX_HEADER_VALUE {
        let mut cut = MAX_HEADER_VALUE;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    if out.is_empty() {
        return None;
    }
    // Non-ASCII (a name like "Zoë") is sent as UTF-8 bytes, which HeaderValue accepts as
    // opaque octets; only control characters are unsafe and those are gone.
    HeaderValue::from_bytes(out.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_crlf_and_caps_length() {
        let v = header_value(&["alice\r\nX-Admin: 1".into()]).unwrap();
        assert_eq!(v.to_str().unwrap(), "aliceX-Admin: 1");
        let long = "a".repeat(10_000);
        assert_eq!(header_value(&[long]).unwrap().len(), MAX_HEADER_VALUE);
    }

    #[test]
    fn joins_multi_valued() {
        let v = header_value(&["a".into(), "\u{0}".into(), "b".into()]).unwrap();
        assert_eq!(v.to_str().unwrap(), "a,b");
    }
}
