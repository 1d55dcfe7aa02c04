//! The data plane, one phase per step: route → scrub → session → policy → claims → upstream.
//! `handle` is the whole lifecycle of an app request and reads top to bottom.

pub mod claims;
pub mod forwarded;
pub mod route;
pub mod scrub;
pub mod target;
pub mod tunnel;
pub mod upstream;

use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Request, Response};
use http_body::Body as _;
use hyper::body::Incoming;

use crate::admission::Refusal;
use crate::config::AppConfig;
use crate::config::file::AuthMode;
use crate::error::GatewayError;
use crate::policy::Platform;
use crate::response::Body;
use crate::session::SessionId;
use crate::signin;
use crate::state::{AppRuntime, Gateway, RequestCtx, Runtime, SessionCheck};

/// Serves one request for `app`.
pub async fn handle(
    gw: &Arc<Gateway>,
    rt: &Runtime,
    app: &Arc<AppConfig>,
    app_rt: &AppRuntime,
    mut req: Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    // The body limit is checked up front when the client declares a length (hyper has read
    // Content-Length into the body's size); chunked bodies are counted while they stream
    // (see `upstream::limited_body`).
    if req
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n > app.max_body_bytes)
    {
        return Err(GatewayError::PayloadTooLarge);
    }

    let visit = rt.visit(app, req.headers(), ctx);
    let session = gw.session_check(rt, req.headers(), Some(visit)).await?;
    let public = app.auth == AuthMode::None;
    // Before the scrub: the answer reads the browser's binding cookie to add to it.
    match session {
        SessionCheck::None { had_cookie } if !public => {
            return Ok(signin::require_sign_in(rt, &req, ctx, had_cookie, false));
        }
        // A policy's sign-in frequency or session lifetime passed: sign in anew.
        SessionCheck::Refused(Refusal::SignInAgain { .. }) if !public => {
            return Ok(signin::require_sign_in(rt, &req, ctx, true, true));
        }
        // A policy asks for MFA the gateway can perform: the step-up, not a new sign-in.
        SessionCheck::Refused(r @ Refusal::MfaRequired { .. }) if !public => {
            return Ok(signin::require_mfa(rt, &req, ctx, r));
        }
        // Terms of use not yet accepted in their current version: the terms page.
        SessionCheck::Refused(r @ Refusal::TermsRequired { .. }) if !public => {
            return Ok(signin::require_terms(rt, &req, ctx, r));
        }
        _ => {}
    }

    // scrub: computed before anything reads identity from the request.
    // Apps build absolute URLs from X-Forwarded-Host; the default port would only clutter them.
    let public_host = ctx.host.strip_suffix(":443").unwrap_or(&ctx.host);
    let fwd = forwarded::compute(
        req.headers(),
        ctx.peer.ip(),
        &rt.config.trusted_proxies,
        public_host,
    );
    let scrubbed = scrub::scrub_request(
        req.headers_mut(),
        &app_rt.injected,
        rt.gateway_cookies(),
        app.websocket,
    );

    // session + admission: the cookie was read before the scrub removed it.
    let (session_id, session) = match session {
        SessionCheck::Admitted(id, s) => (Some(id), Some(s)),
        // An open app serves everyone; it just gets no identity from a refused session.
        _ if public => (None, None),
        // Answered above, before the scrub; never forward without a session.
        SessionCheck::None { .. } => return Err(GatewayError::Unauthorized),
        SessionCheck::Refused(refusal) => {
            let mut resp = rt.refused(refusal.clone()).into_response(&ctx.request_id);
            if refusal.ends_session() {
                resp.headers_mut().append(
                    header::SET_COOKIE,
                    crate::web::cookies::clear(&rt.cookies.session),
                );
            }
            return Ok(resp);
        }
    };

    // claims
    if let Some(s) = &session {
        claims::apply(req.headers_mut(), &app.headers, s);
        if let Some(h) = &app.assertion_header {
            // A session always came from a cookie id; the id's hash keys the assertion cache.
            let key = session_id
                .as_ref()
                .map(SessionId::key)
                .ok_or_else(|| GatewayError::internal("session without id"))?;
            let jwt = gw
                .signer
                .load()
                .assertion(key, &app.id, &app.assertion_claims, s)?;
            if let Ok(v) = HeaderValue::from_str(&jwt) {
                req.headers_mut().insert(h.clone(), v);
            }
        }
    }
    forwarded::apply(req.headers_mut(), fwd);
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        req.headers_mut()
            .insert(crate::web::request::X_REQUEST_ID, v);
    }

    // upstream
    *req.uri_mut() = app_rt.target.uri(req.uri())?;
    let host = if app.preserve_host {
        // Apps that build absolute URLs from Host want the name users typed.
        HeaderValue::from_str(public_host).map_err(|_| GatewayError::BadRequest("invalid Host"))?
    } else {
        app_rt.target.host_header()
    };
    req.headers_mut().insert(header::HOST, host);
    *req.version_mut() = http::Version::HTTP_11;
    let client_upgrade = scrubbed.websocket.then(|| {
        (
            hyper::upgrade::on(&mut req),
            Platform::of_request(req.headers()),
        )
    });
    let req = req.map(|b| upstream::limited_body(b, app.max_body_bytes));
    let mut resp = app_rt.upstream.send(req).await?;

    match client_upgrade {
        Some((client, platform)) if upstream::is_switching(&resp) => {
            let upstream_side = upstream::take_upgrade(&mut resp)
                .ok_or_else(|| GatewayError::internal("101 without the app's connection"))?;
            let watch = session_id.map(|id| tunnel::SessionWatch::new(gw, id, &visit, platform));
            tunnel::splice(client, upstream_side, watch);
            scrub::scrub_response(resp.headers_mut(), true, rt.gateway_cookies());
        }
        _ => {
            if upstream::is_switching(&resp) {
                // The app switched protocols without being asked to; never pass that through.
                return Err(GatewayError::BadGateway(
                    "unexpected 101 from upstream".into(),
                ));
            }
            scrub::scrub_response(resp.headers_mut(), false, rt.gateway_cookies());
        }
    }
    Ok(resp)
}
