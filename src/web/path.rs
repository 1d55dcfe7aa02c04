//! The request path every later step reads: routing, the upstream's path, return URLs.
//!
//! Servers behind a gateway disagree on how to read a path (Tomcat drops `;params` and then
//! resolves `..`, IIS decodes `%5c` into a separator, some apps decode twice). A path that
//! any of them could read as something other than what we routed is refused, not repaired:
//! a legitimate browser never sends one, because browsers resolve dot segments before
//! sending. What passes is forwarded as it is, with runs of `/` merged.
//!
//! Refused: a raw or percent-encoded `.` / `..` segment (also with `;params`, trailing
//! spaces or Unicode look-alike dots), an encoded `/` or `\`, a raw `\`, NUL and other
//! control characters, malformed or non-UTF-8 percent-encoding (which is how overlong
//! UTF-8 such as `%c0%ae` arrives), double encoding (`%25` followed by two hex digits), and
//! `;` parameters before the last segment.

use std::borrow::Cow;

/// Why a path was refused; the message is shown on the 400 page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefusal {
    NotAbsolute,
    DotSegment,
    EncodedSeparator,
    Backslash,
    ControlCharacter,
    BadEncoding,
    DoubleEncoding,
    ParameterBeforeLastSegment,
}

impl PathRefusal {
    pub fn message(self) -> &'static str {
        match self {
            Self::NotAbsolute => "the path does not start with `/`",
            Self::DotSegment => "the path contains `.` or `..` segments",
            Self::EncodedSeparator => "the path contains an encoded `/` or `\\`",
            Self::Backslash => "the path contains `\\`",
            Self::ControlCharacter => "the path contains a control character",
            Self::BadEncoding => "the path has malformed percent-encoding",
            Self::DoubleEncoding => "the path is percent-encoded twice",
            Self::ParameterBeforeLastSegment => "the path has `;` parameters before its end",
        }
    }
}

/// The normalised form of `path`, or why it is refused. Borrowed unless `//` was merged.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathRefusal> {
    if !path.starts_with('/') {
        return Err(PathRefusal::NotAbsolute);
    }
    if path.contains('\\') {
        return Err(PathRefusal::Backslash);
    }
    let mut segments = path[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        check_segment(segment, last)?;
    }
    if path.contains("//") {
        let mut merged = String::with_capacity(path.len());
        for c in path.chars() {
            if !(c == '/' && merged.ends_with('/')) {
                merged.push(c);
            }
        }
        return Ok(Cow::Owned(merged));
    }
    Ok(Cow::Borrowed(path))
}

fn check_segment(segment: &str, last: bool) -> Result<(), PathRefusal> {
    let decoded = decode(segment)?;
    if decoded.contains('/') || decoded.contains('\\') {
        return Err(PathRefusal::EncodedSeparator);
    }
    if decoded.chars().any(char::is_control) {
        return Err(PathRefusal::ControlCharacter);
    }
    if has_encoded_escape(&decoded) {
        return Err(PathRefusal::DoubleEncoding);
    }
    // Tomcat and Jetty drop everything from `;` before resolving dot segments.
    let (stem, params) = match decoded.split_once(';') {
        Some((stem, _)) => (stem, true),
        None => (decoded.as_ref(), false),
    };
    if is_dot_segment(stem) {
        return Err(PathRefusal::DotSegment);
    }
    if params && !last {
        return Err(PathRefusal::ParameterBeforeLastSegment);
    }
    Ok(())
}

/// Percent-decodes one segment; every `%` must start a valid escape and the result must be
/// UTF-8 (overlong forms are not).
fn decode(segment: &str) -> Result<Cow<'_, str>, PathRefusal> {
    if !segment.contains('%') {
        return Ok(Cow::Borrowed(segment));
    }
    let bytes = segment.as_bytes();
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'%') {
        let at = i + off;
        let valid = bytes
            .get(at + 1..at + 3)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
        if !valid {
            return Err(PathRefusal::BadEncoding);
        }
        i = at + 3;
    }
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| PathRefusal::BadEncoding)
}

/// `%2e` after one decode: the client encoded twice, hoping someone decodes again.
fn has_encoded_escape(decoded: &str) -> bool {
    let b = decoded.as_bytes();
    b.windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

/// `.` or `..`, also with trailing spaces (Windows drops them) or look-alike dots that
/// Unicode-normalising servers turn into `.`.
fn is_dot_segment(stem: &str) -> bool {
    let trimmed = stem.trim_end_matches(' ');
    let dots = trimmed
        .chars()
        .filter(|&c| matches!(c, '.' | '\u{FF0E}' | '\u{2024}' | '\u{FE52}'))
        .count();
    dots == trimmed.chars().count() && (1..=2).contains(&dots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_pass_borrowed() {
        for p in [
            "/",
            "/hr/",
            "/a/b.c/d",
            "/a/...",
            "/file%20name.txt",
            "/100%25",
            "/page.jsp;jsessionid=ABC",
            "/caf%C3%A9",
            "/.well-known/x",
        ] {
            assert!(
                matches!(normalize(p), Ok(Cow::Borrowed(_))),
                "{p}: {:?}",
                normalize(p)
            );
        }
    }

    #[test]
    fn slashes_are_merged() {
        assert_eq!(normalize("//a///b/").as_deref(), Ok("/a/b/"));
    }

    #[test]
    fn each_confusion_has_its_reason() {
        use PathRefusal::*;
        for (p, why) in [
            ("a", NotAbsolute),
            ("*", NotAbsolute),
            ("/a/../b", DotSegment),
            ("/a/./b", DotSegment),
            ("/a/%2e%2e/b", DotSegment),
            ("/a/.%2E/b", DotSegment),
            ("/a/..;/b", DotSegment),
            ("/a/..;x=1", DotSegment),
            ("/a/.. /b", DotSegment),
            ("/a/%EF%BC%8E%EF%BC%8E/b", DotSegment),
            ("/a%2fb", EncodedSeparator),
            ("/a%5Cb", EncodedSeparator),
            ("/a\\b", Backslash),
            ("/a%00b", ControlCharacter),
            ("/a%0d%0ab", ControlCharacter),
            ("/a%zz", BadEncoding),
            ("/a%2", BadEncoding),
            ("/a/%c0%ae%c0%ae/b", BadEncoding),
            ("/a/%e0%80%ae/b", BadEncoding),
            ("/a/%252e%252e/b", DoubleEncoding),
            ("/a;x/b", ParameterBeforeLastSegment),
        ] {
            assert_eq!(normalize(p), Err(why), "{p}");
        }
    }
}
