//! The heads of an HTTP/1.1 exchange with an app: the request head written from an
//! `http::Request` (the `http` types have already validated every byte of it), and the
//! response head read with httparse, with the body's framing decided as RFC 9112 §6.3 says.

use std::mem::MaybeUninit;

use bytes::{BufMut, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode, Version};

use crate::error::GatewayError;

/// Most response header fields accepted from an app (hyper's default, too).
const MAX_HEADERS: usize = 100;
/// Longest response head accepted from an app.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How the request body goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestFraming {
    /// No body, and no length header either (a GET).
    NoBody,
    Length(u64),
    Chunked,
}

/// Writes the request line and header fields into `out`. `Content-Length` and
/// `Transfer-Encoding` come from `framing` only, never from the client's request: the
/// gateway decides how the body is delimited on this connection.
pub fn encode_request(req: &http::request::Parts, framing: RequestFraming, out: &mut BytesMut) {
    let path = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    // Sized up front: a guess of 256 bytes was outgrown by most requests with identity
    // headers, and reallocated and copied on the way.
    let fields: usize = req
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    out.reserve(req.method.as_str().len() + path.len() + fields + 64);
    out.put_slice(req.method.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(path.as_bytes());
    out.put_slice(b" HTTP/1.1\r\n");
    for (name, value) in &req.headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    match framing {
        RequestFraming::NoBody => {}
        RequestFraming::Length(n) => {
            out.put_slice(b"content-length: ");
            out.put_slice(itoa::Buffer::new().format(n).as_bytes());
            out.put_slice(b"\r\n");
        }
        RequestFraming::Chunked => out.put_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.put_slice(b"\r\n");
}

/// How a request with a body of `exact` length (if known) and `empty` is delimited.
pub fn request_framing(method: &Method, exact: Option<u64>, empty: bool) -> RequestFraming {
    match exact {
        // A GET or HEAD without a body says nothing about one, as browsers send them.
        Some(0) | None if empty && (method == Method::GET || method == Method::HEAD) => {
            RequestFraming::NoBody
        }
        Some(n) => RequestFraming::Length(n),
        None if empty => RequestFraming::Length(0),
        None => RequestFraming::Chunked,
    }
}

/// How the response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body: HEAD, 204, 304.
    Empty,
    Length(u64),
    Chunked,
    /// Until the app closes the connection (HTTP/1.0 style); the connection is not reused.
    UntilClose,
}

/// A parsed response head.
pub struct Head {
    pub response: Response<()>,
    pub framing: ResponseFraming,
    /// The connection may carry another request once this body is read.
    pub reusable: bool,
}

/// Where one header field of a parsed head lies in the buffer.
#[derive(Clone, Copy, Default)]
struct FieldAt {
    name: (u32, u32),
    value: (u32, u32),
}

/// Parses a response head at the start of `buf`. `Ok(None)`: not complete yet. On success
/// the head's bytes are taken off `buf`, and the header values share them rather than
/// being copied one allocation each.
pub fn parse_response(buf: &mut BytesMut, method: &Method) -> Result<Option<Head>, GatewayError> {
    // Uninitialised: httparse writes only the fields it finds. Filling 100 empty fields
    // first was a 3 KB memset per answer.
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        buf,
        &mut fields,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            return Err(bad("response head too large"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(GatewayError::BadGateway(format!("app response: {e}"))),
    };
    let status = parsed
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| bad("bad status"))?;
    let http10 = parsed.version == Some(0);
    // The fields borrow `buf`; their places are noted so that the head can be split off.
    let start = buf.as_ptr() as usize;
    let at = |s: &[u8]| {
        let from = s.as_ptr() as usize - start;
        // A head is at most MAX_HEAD_BYTES (64 KB) plus one read, far below u32::MAX.
        (from as u32, (from + s.len()) as u32)
    };
    let mut places = [FieldAt::default(); MAX_HEADERS];
    let count = parsed.headers.len();
    for (place, f) in places.iter_mut().zip(parsed.headers.iter()) {
        *place = FieldAt {
            name: at(f.name.as_bytes()),
            value: at(f.value),
        };
    }
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(count);
    let mut present = Present::default();
    for f in &places[..count] {
        let range = |(from, to): (u32, u32)| from as usize..to as usize;
        let name =
            HeaderName::from_bytes(&head[range(f.name)]).map_err(|_| bad("bad header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(range(f.value)))
            .map_err(|_| bad("bad header value"))?;
        present.note(&name);
        headers.append(name, value);
    }
    let (framing, mut reusable) = framing(status, method, &mut headers, present)?;
    let connection = headers.get_all(header::CONNECTION);
    let says = |word: &[u8]| {
        connection.iter().any(|v| {
            v.as_bytes()
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(word))
        })
    };
    reusable &= if http10 {
        says(b"keep-alive")
    } else {
        !says(b"close")
    };
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = Version::HTTP_11;
    *response.headers_mut() = headers;
    Ok(Some(Head {
        response,
        framing,
        reusable,
    }))
}

/// Which framing fields a head has, noted while it is read: a lookup for a field that is
/// not there costs a hash all the same.
#[derive(Clone, Copy, Default)]
struct Present {
    content_length: bool,
    transfer_encoding: bool,
}

impl Present {
    fn note(&mut self, name: &HeaderName) {
        self.content_length |= name == header::CONTENT_LENGTH;
        self.transfer_encoding |= name == header::TRANSFER_ENCODING;
    }
}

/// RFC 9112 §6.3: the body's framing, and whether it leaves the connection usable.
fn framing(
    status: StatusCode,
    method: &Method,
    headers: &mut HeaderMap,
    present: Present,
) -> Result<(ResponseFraming, bool), GatewayError> {
    if method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok((ResponseFraming::Empty, true));
    }
    if present.transfer_encoding {
        // With both, Transfer-Encoding wins and the length must not be passed on; a
        // message that sends both is suspect, so its connection is not reused either.
        let both = headers.remove(header::CONTENT_LENGTH).is_some();
        let last = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .next_back()
            .and_then(|v| v.as_bytes().rsplit(|b| *b == b',').next())
            .map(<[u8]>::trim_ascii);
        return Ok(match last {
            Some(coding) if coding.eq_ignore_ascii_case(b"chunked") => {
                (ResponseFraming::Chunked, !both)
            }
            _ => (ResponseFraming::UntilClose, false),
        });
    }
    let mut length = None;
    let lengths = present
        .content_length
        .then(|| headers.get_all(header::CONTENT_LENGTH));
    for v in lengths.iter().flatten() {
        // Repeated fields (or a list) must all say the same number.
        for part in v.as_bytes().split(|b| *b == b',') {
            let n = parse_length(part.trim_ascii()).ok_or_else(|| bad("bad Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("conflicting Content-Length"));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(0) => (ResponseFraming::Empty, true),
        Some(n) => (ResponseFraming::Length(n), true),
        None => (ResponseFraming::UntilClose, false),
    })
}

fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn bad(what: &str) -> GatewayError {
    GatewayError::BadGateway(format!("app response: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str, method: &Method) -> Result<Option<Head>, GatewayError> {
        parse_response(&mut BytesMut::from(raw.as_bytes()), method)
    }

    fn head(raw: &str) -> Head {
        parse(raw, &Method::GET).expect("valid").expect("complete")
    }

    #[test]
    fn request_heads_carry_the_gateways_framing_only() {
        let (req, ()) = http::Request::builder()
            .method("POST")
            .uri("/a?b=c")
            .header("host", "app")
            .header("content-length", "999")
            .header("transfer-encoding", "gzip, chunked")
            .header("x-a", "1")
            .body(())
            .expect("request")
            .into_parts();
        let mut out = BytesMut::new();
        encode_request(&req, RequestFraming::Length(12345), &mut out);
        assert_eq!(
            &out[..],
            b"POST /a?b=c HTTP/1.1\r\nhost: app\r\nx-a: 1\r\ncontent-length: 12345\r\n\r\n"
        );
        out.clear();
        encode_request(&req, RequestFraming::Chunked, &mut out);
        assert!(out.ends_with(b"x-a: 1\r\ntransfer-encoding: chunked\r\n\r\n"));
    }

    #[test]
    fn request_framing_follows_the_body() {
        use RequestFraming::*;
        assert_eq!(request_framing(&Method::GET, Some(0), true), NoBody);
        assert_eq!(request_framing(&Method::POST, Some(0), true), Length(0));
        assert_eq!(request_framing(&Method::POST, None, true), Length(0));
        assert_eq!(request_framing(&Method::PUT, Some(7), false), Length(7));
        assert_eq!(request_framing(&Method::GET, None, false), Chunked);
    }

    #[test]
    fn response_framing_follows_rfc_9112() {
        use ResponseFraming::*;
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
        assert_eq!((h.framing, h.reusable), (Length(5), true));
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 5, 5\r\ncontent-length: 5\r\n\r\n");
        assert_eq!(h.framing, Length(5));
        let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n");
        assert_eq!((h.framing, h.reusable), (Chunked, true));
        // Both: chunked wins, the length is dropped and the connection not reused.
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n");
        assert_eq!((h.framing, h.reusable), (Chunked, false));
        assert!(!h.response.headers().contains_key("content-length"));
        let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n");
        assert_eq!((h.framing, h.reusable), (UntilClose, false));
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.reusable), (UntilClose, false));
        let h = head("HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n");
        assert_eq!((h.framing, h.reusable), (Empty, true));
        let h = parse(
            "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n",
            &Method::HEAD,
        )
        .expect("valid")
        .expect("complete");
        assert_eq!(h.framing, Empty);
        assert_eq!(h.response.headers()["content-length"], "10");
        let h =
            head("HTTP/1.1 200 OK\r\nconnection: Keep-Alive, close\r\ncontent-length: 1\r\n\r\n");
        assert!(!h.reusable);
        let h = head("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n");
        assert!(!h.reusable, "HTTP/1.0 closes unless it says keep-alive");
        let h = head("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\n");
        assert!(h.reusable);
    }

    #[test]
    fn broken_response_heads_are_refused() {
        for raw in [
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 1 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "SMTP 200 OK\r\n\r\n",
        ] {
            assert!(parse(raw, &Method::GET).is_err(), "{raw:?}");
        }
        assert!(
            parse("HTTP/1.1 200 OK\r\ncontent-le", &Method::GET)
                .expect("partial is fine")
                .is_none()
        );
        let endless = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD_BYTES));
        assert!(parse(&endless, &Method::GET).is_err());
    }

    #[test]
    fn the_head_is_taken_off_the_buffer_and_the_body_left() {
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"[..]);
        let h = parse_response(&mut buf, &Method::GET)
            .expect("valid")
            .expect("complete");
        assert_eq!(h.response.status(), StatusCode::OK);
        assert_eq!(&buf[..], b"hi");
    }
}
