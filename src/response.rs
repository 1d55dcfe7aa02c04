//! The response body type shared by every handler and a few constructors.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

fn no_store(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Headers on everything the gateway answers itself (pages, JSON, redirects): no MIME
/// sniffing, and no `Referer` carrying a link secret or a handoff code to another site.
fn own_response(mut r: Response<Body>) -> Response<Body> {
    let h = r.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// The Content-Security-Policy of the gateway's pages; `img_origin` admits the configured
/// logo's origin (the redemption page shows it).
pub fn page_csp(img_origin: Option<&str>) -> HeaderValue {
    let img = img_origin
        .map(|o| format!(" img-src {o};"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "default-src 'none';{img} style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(DEFAULT_CSP))
}

/// For pages whose form leads off this origin (the sign-in page's address goes on to an
/// IdP, a code or a consent goes on to the app's host): browsers apply `form-action` to
/// the redirects after a submission too, so it is left out. The pages run no script.
pub fn form_page_csp(img_origin: Option<&str>) -> HeaderValue {
    let img = img_origin
        .map(|o| format!(" img-src {o};"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "default-src 'none';{img} style-src 'unsafe-inline'; frame-ancestors 'none'"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(FORM_PAGE_CSP))
}

const FORM_PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

const DEFAULT_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

pub fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut r = Response::new(full(page));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DEFAULT_CSP),
    );
    r.headers_mut()
        .insert("x-frame-options", HeaderValue::from_static("DENY"));
    own_response(no_store(r))
}

pub fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    own_response(r)
}

pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    own_response(r)
}

/// A 302 to `location`, which the caller has already checked is safe to send the user to.
pub fn redirect(location: &str) -> Response<Body> {
    redirect_with(StatusCode::FOUND, location)
}

/// A 303 after a form: the browser follows with a GET.
pub fn see_other(location: &str) -> Response<Body> {
    redirect_with(StatusCode::SEE_OTHER, location)
}

fn redirect_with(status: StatusCode, location: &str) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    own_response(no_store(r))
}
