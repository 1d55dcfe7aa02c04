//! The data plane, one phase per step: route → scrub → session → policy → claims → upstream.
//! `handle` is the whole lifecycle of an app request and reads top to bottom.

pub mod claims;
pub mod forwarded;
pub mod route;
pub mod scrub;
pub mod upstream;

use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;

use crate::config::AppConfig;
use crate::error::GatewayError;
use crate::gateway::{Gateway, RequestCtx, Runtime};
use crate::policy::{self, Decision};
use crate::response::{self, Body};
use crate::session::{Session, SessionId};
use crate::signin;

/// Serves one request for `app`.
pub async fn handle(
    gw: &Gateway,
    rt: &Runtime,
    app: &Arc<AppConfig>,
    mut req: Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let app_rt = rt
        .app(&app.id)
        .ok_or_else(|| GatewayError::Internal(format!("app {} has no runtime", app.id)))?;

    // The body limit is checked up front when the client declares a length; chunked bodies
    // are counted while they stream (see `upstream::limited_body`).
    if declared_length(&req).is_some_and(|n| n > app.max_body_bytes) {
        return Err(GatewayError::PayloadTooLarge);
    }

    // scrub: computed before anything reads identity from the request.
    let fwd = forwarded::compute(
        req.headers(),
        ctx.peer.ip(),
        &rt.config.trusted_proxies,
        &ctx.host,
    );
    let session_cookie =
        scrub::cookie_value(req.headers(), &rt.cookies.session).and_then(SessionId::from_cookie);
    let scrubbed = scrub::scrub_request(
        req.headers_mut(),
        &app_rt.injected,
        &rt.gateway_cookie_refs(),
        app.websocket,
    );

    // session
    let session: Option<Arc<Session>> = match &session_cookie {
        Some(id) => gw
            .sessions
            .get(id)
            .await
            .map_err(|e| GatewayError::Internal(e.to_string()))?,
        None => None,
    };

    // policy
    match policy::evaluate(app, session.as_deref()) {
        Decision::Allow => {}
        Decision::SignIn => {
            return Ok(signin::require_sign_in(
                rt,
                &req,
                ctx,
                session_cookie.is_some(),
            ));
        }
        Decision::Deny(why) => return Err(GatewayError::Forbidden(why)),
    }

    // claims
    if let Some(s) = &session {
        claims::apply(req.headers_mut(), &app.headers, s);
        if let Some(h) = &app.assertion_header {
            let jwt = gw
                .signer
                .sign(&app.id, s)
                .map_err(|e| GatewayError::Internal(e.to_string()))?;
            if let Ok(v) = HeaderValue::from_str(&jwt) {
                req.headers_mut().insert(h.clone(), v);
            }
        }
    }
    forwarded::apply(req.headers_mut(), &fwd);
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        req.headers_mut().insert("x-request-id", v);
    }

    // upstream
    *req.uri_mut() = upstream_uri(app, req.uri())?;
    if let Some(authority) = req.uri().authority()
        && let Ok(v) = HeaderValue::from_str(authority.as_str())
    {
        req.headers_mut().insert(header::HOST, v);
    }
    *req.version_mut() = http::Version::HTTP_11;
    let client_upgrade = scrubbed.websocket.then(|| hyper::upgrade::on(&mut req));
    let req = req.map(|b| upstream::limited_body(b, app.max_body_bytes));
    let mut resp = app_rt.upstream.send(req).await?;

    match client_upgrade {
        Some(client) if upstream::is_switching(&resp) => {
            let upstream_side = hyper::upgrade::on(&mut resp);
            upstream::splice_upgrade(client, upstream_side);
            scrub::scrub_response(resp.headers_mut(), true);
        }
        _ => {
            if upstream::is_switching(&resp) {
                // The app switched protocols without being asked to; never pass that through.
                return Err(GatewayError::BadGateway(
                    "unexpected 101 from upstream".into(),
                ));
            }
            scrub::scrub_response(resp.headers_mut(), false);
        }
    }
    Ok(resp)
}

fn declared_length(req: &Request<Incoming>) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// External path under the app's prefix → the upstream URL's path.
fn upstream_uri(app: &AppConfig, uri: &Uri) -> Result<Uri, GatewayError> {
    let path = uri.path();
    let rest = path.strip_prefix(app.path_prefix.as_str()).unwrap_or({
        // `/hr` for prefix `/hr/`
        ""
    });
    let base = app.upstream.path().trim_end_matches('/');
    let mut target = format!(
        "{}://{}{}/{}",
        app.upstream.scheme(),
        &app.upstream[url::Position::BeforeHost..url::Position::AfterPort],
        base,
        rest
    );
    if let Some(q) = uri.query() {
        target.push('?');
        target.push_str(q);
    }
    target
        .parse()
        .map_err(|_| GatewayError::BadRequest("unusable request path"))
}

/// A request without a session that is not a page load gets 401 rather than a redirect.
pub fn is_navigation(req: &Request<Incoming>) -> bool {
    matches!(*req.method(), Method::GET | Method::HEAD)
        && !scrub::is_websocket_upgrade(req.headers())
}

pub fn status_page(status: StatusCode) -> Response<Body> {
    response::text(status, status.canonical_reason().unwrap_or(""))
}
