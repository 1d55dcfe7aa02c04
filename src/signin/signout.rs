//! `/signout`: the question (GET), ending the session (same-origin POST), and the IdP's logout.

use askama::Template;
use http::header::{self, HeaderValue};
use http::{Request, Response};
use hyper::body::Incoming;

use super::page;
use crate::error::GatewayError;
use crate::response::{self, Body};
use crate::session::SessionId;
use crate::state::{Gateway, RequestCtx, Runtime};
use crate::web::cookies;

#[derive(Template)]
#[template(path = "signed_out.html")]
pub(super) struct SignedOutPage<'a> {
    pub(super) request_id: &'a str,
}

#[derive(Template)]
#[template(path = "signout.html")]
pub(super) struct SignOutPage<'a> {
    pub(super) request_id: &'a str,
}

/// `/signout`: end the session everywhere, then RP-initiated logout at the IdP if it has one.
pub(super) fn signout_page(ctx: &RequestCtx) -> Result<Response<Body>, GatewayError> {
    let mut r = page(
        SignOutPage {
            request_id: &ctx.request_id,
        }
        .render(),
    )?;
    // The form posts here, and the answer redirects to the IdP's logout endpoint, which a
    // `form-action 'self'` policy would block; the form's target is fixed, so drop it here.
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    Ok(r)
}

pub(super) async fn signout(
    gw: &Gateway,
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let mut session = None;
    if let Some(id) =
        cookies::value(req.headers(), &rt.cookies.session).and_then(SessionId::from_cookie)
    {
        if let Ok(Some(s)) = gw.sessions.get(&id).await {
            session = Some(s);
        }
        gw.sessions.revoke(&id).await?;
    }
    let signed_out = rt
        .config
        .public_url
        .join("/.borderless/signed-out")
        .map_err(|e| GatewayError::internal(e.to_string()))?;
    let logout = match session.as_ref().and_then(|s| Some((s, rt.idp(&s.idp)?))) {
        Some((s, p)) => p.end_session_url(s, &signed_out).await,
        None => None,
    };
    let mut resp = match logout {
        Some(url) => response::redirect(url.as_str()),
        None => page(
            SignedOutPage {
                request_id: &ctx.request_id,
            }
            .render(),
        )?,
    };
    resp.headers_mut()
        .append(header::SET_COOKIE, cookies::clear(&rt.cookies.session));
    Ok(resp)
}
