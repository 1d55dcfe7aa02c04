//! The sign-in plane, served under `/.borderless/` on every host:
//!
//! ```text
//! app host, no session ──302──▶ login host /signin?rd=…&b=… ──▶ (pick IdP) ──302──▶ IdP
//!   IdP ──302──▶ login host /callback/{idp} ──▶ session ──302──▶ app host /handoff?code=… ──▶ rd
//! ```
//! The flow state lives server-side (`flow`), bound to the browser by a `__Host-` cookie; any
//! failure deletes it. Sessions reach other hosts through single-use handoff codes that only
//! the browser which started the sign-in can redeem (`b`, the binding cookie on the app host).

pub mod flow;
pub mod flow_store;
pub mod redeem;

mod apps;
mod callback;
mod complete;
mod handoff;
mod home_realm;
mod mfa;
mod passcode;
mod saml;
mod signout;
mod start;
mod terms;

use apps::apps;
use callback::callback;
pub(crate) use complete::start_session;
use handoff::handoff;
use signout::{SignedOutPage, signout, signout_page};
use start::signin;

use std::sync::Arc;

use askama::Template;
use http::header::{self};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use url::Url;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};

use crate::error::GatewayError;
use crate::response::{self, Body};
use crate::state::{Gateway, RequestCtx, Runtime};
use crate::web::cookies;

pub(super) struct Choice {
    pub(super) name: String,
    pub(super) href: String,
}

pub async fn handle(
    gw: &Gateway,
    rt: &Arc<Runtime>,
    req: Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let path = req.uri().path().trim_start_matches("/.borderless");
    let method = req.method().clone();
    let get = method == Method::GET || method == Method::HEAD;
    // App hosts serve the handoff, the redirect to sign-in and sign-out only: a script in a
    // (possibly compromised) app must not reach consent or any other state change with the
    // cookies of the app's host.
    if !rt.is_login_host(&ctx.host) {
        match path {
            "/handoff" | "/signout" | "/signed-out" => {} // below, as on the login host
            p if get
                && (p.starts_with("/signin")
                    || p == "/redeem"
                    || p == "/apps"
                    || p == "/mfa"
                    || p == "/terms") =>
            {
                return redirect_to_login(rt, &req);
            }
            _ => return Err(GatewayError::NotFound),
        }
    }
    match path {
        "/signin" if get => signin(gw, rt, &req, ctx, None).await,
        "/signin" if method == Method::POST => {
            if !crate::web::request::same_origin(&req, &ctx.host) {
                return Err(GatewayError::Forbidden(
                    "Sign-in must start on this site.".into(),
                ));
            }
            home_realm::submit(gw, rt, req, ctx).await
        }
        "/handoff" if get => handoff(gw, rt, &req, ctx).await,
        // Signing out changes state, so it takes a POST from our own page: a link or an image
        // on another site (GET, which carries SameSite=Lax cookies) only shows the question.
        "/signout" if get => signout_page(ctx),
        "/signout" if method == Method::POST => {
            if !crate::web::request::same_origin(&req, &ctx.host) {
                return Err(GatewayError::Forbidden(
                    "Sign-out must come from this site.".into(),
                ));
            }
            signout(gw, rt, &req, ctx).await
        }
        "/signed-out" if get => page(
            SignedOutPage {
                request_id: &ctx.request_id,
            }
            .render(),
        ),
        "/apps" if get => apps(gw, rt, &req, ctx).await,
        "/mfa" if get => mfa::page(gw, rt, &req, ctx).await,
        "/passkey.js" if get => Ok(mfa::passkey_script()),
        "/passkey" if method == Method::POST => {
            if !crate::web::request::same_origin(&req, &ctx.host) {
                return Err(GatewayError::Forbidden(
                    "The passkey must be used on this site.".into(),
                ));
            }
            mfa::passkey_finish(gw, rt, req, ctx).await
        }
        "/terms" if get => terms::page(gw, rt, &req, ctx).await,
        "/terms" if method == Method::POST => {
            if !crate::web::request::same_origin(&req, &ctx.host) {
                return Err(GatewayError::Forbidden(
                    "Terms must be accepted on this site.".into(),
                ));
            }
            terms::accept(gw, rt, req).await
        }
        "/mfa" if method == Method::POST => {
            if !crate::web::request::same_origin(&req, &ctx.host) {
                return Err(GatewayError::Forbidden(
                    "The code must be entered on this site.".into(),
                ));
            }
            mfa::submit(gw, rt, req, ctx).await
        }
        "/redeem" if get => {
            if !rt.is_login_host(&ctx.host) {
                return redirect_to_login(rt, &req);
            }
            redeem::redeem_page(gw, rt, &req, ctx).await
        }
        "/consent" if method == Method::POST => {
            if !crate::web::request::same_origin(&req, &ctx.host) {
                return Err(GatewayError::Forbidden(
                    "The invitation must be accepted on this site.".into(),
                ));
            }
            redeem::consent(gw, rt, req, ctx).await
        }
        "/passcode/send" | "/passcode/verify" if method == Method::POST => {
            if !crate::web::request::same_origin(&req, &ctx.host) {
                return Err(GatewayError::Forbidden(
                    "The code must be entered on this site.".into(),
                ));
            }
            if path == "/passcode/send" {
                passcode::send(gw, rt, req, ctx).await
            } else {
                passcode::verify(gw, rt, req, ctx).await
            }
        }
        p if p.starts_with("/saml/") => {
            let rest = p["/saml/".len()..].to_string();
            saml::handle(gw, rt, req, ctx, &rest).await
        }
        p if get && p.starts_with("/signin/") => {
            let idp = &p["/signin/".len()..];
            signin(gw, rt, &req, ctx, Some(idp)).await
        }
        p if get && p.starts_with("/callback/") => {
            let idp = &p["/callback/".len()..];
            callback(gw, rt, &req, ctx, idp).await
        }
        _ => Err(GatewayError::NotFound),
    }
}

/// `Set-Cookie` for a list cookie of open sign-in steps (flow ids, bindings): they live as
/// long as a flow may wait.
pub(super) fn open_steps_cookie(name: &str, ids: &[&str]) -> http::HeaderValue {
    cookies::set_list(name, ids, flow::MAX_FLOW_TTL.as_secs() as i64)
}

/// A rendered page; a template failure is an internal error (logged, never shown).
pub(super) fn page(rendered: askama::Result<String>) -> Result<Response<Body>, GatewayError> {
    Ok(response::html(StatusCode::OK, rendered?))
}

/// A page whose form leads on to another host in the end (through redirects the default
/// `form-action 'self'` would block).
pub(super) fn page_with_csp(
    status: StatusCode,
    rendered: askama::Result<String>,
) -> Result<Response<Body>, GatewayError> {
    let mut resp = response::html(status, rendered?);
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        response::form_page_csp(None),
    );
    Ok(resp)
}

/// Response for a request that needs a session it does not have; `fresh`: the sign-in
/// must authenticate the user anew at the provider (a policy's sign-in frequency passed).
pub fn require_sign_in(
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
    had_cookie: bool,
    fresh: bool,
) -> Response<Body> {
    if !crate::web::request::is_navigation(req) {
        let mut r = GatewayError::Unauthorized.into_response(&ctx.request_id);
        if had_cookie {
            r.headers_mut()
                .append(header::SET_COOKIE, cookies::clear(&rt.cookies.session));
        }
        return r;
    }
    let params: &[(&str, &str)] = if fresh { &[("fresh", "1")] } else { &[] };
    let mut resp = to_login_host(rt, req, ctx, "/.borderless/signin", params);
    if had_cookie {
        resp.headers_mut()
            .append(header::SET_COOKIE, cookies::clear(&rt.cookies.session));
    }
    resp
}

/// Response for a navigation whose session needs MFA the gateway performs (`refused` is the
/// refusal that said so): to the step-up on the login host, keeping the session. Anything
/// else that is not a page load gets the refusal.
pub fn require_mfa(
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
    refused: crate::admission::Refusal,
) -> Response<Body> {
    if !crate::web::request::is_navigation(req) {
        return rt.refused(refused).into_response(&ctx.request_id);
    }
    match &refused {
        crate::admission::Refusal::MfaRequired { strength, .. }
            if *strength != crate::policy::Strength::Mfa =>
        {
            to_login_host(rt, req, ctx, "/.borderless/mfa", &[("s", strength.name())])
        }
        _ => to_login_host(rt, req, ctx, "/.borderless/mfa", &[]),
    }
}

/// Response for a navigation whose user must accept terms of use first: to the terms page
/// on the login host. Anything else that is not a page load gets the refusal.
pub fn require_terms(
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
    refused: crate::admission::Refusal,
) -> Response<Body> {
    let crate::admission::Refusal::TermsRequired { terms, .. } = &refused else {
        return rt.refused(refused).into_response(&ctx.request_id);
    };
    if !crate::web::request::is_navigation(req) {
        return rt.refused(refused).into_response(&ctx.request_id);
    }
    let t = terms.clone();
    to_login_host(rt, req, ctx, "/.borderless/terms", &[("t", &t)])
}

/// A redirect to a sign-in plane page on the login host that comes back to this request's
/// URL (`rd`) — through a handoff bound to this browser (`b`) when it is on an app host.
fn to_login_host(
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
    path: &str,
    params: &[(&str, &str)],
) -> Response<Body> {
    let original = format!(
        "https://{}{}",
        ctx.host.strip_suffix(":443").unwrap_or(&ctx.host),
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut url = rt
        .config
        .public_url
        .join(path)
        .unwrap_or_else(|_| rt.config.public_url.clone());
    url.query_pairs_mut().extend_pairs(params);
    if rt.is_login_host(&ctx.host) {
        url.query_pairs_mut().append_pair("rd", &original);
        return response::redirect(url.as_str());
    }
    let binding = flow::random_token();
    url.query_pairs_mut()
        .append_pair("rd", &original)
        .append_pair("b", &binding);
    let mut resp = response::redirect(url.as_str());
    let open = cookies::list(req.headers(), &rt.cookies.bind);
    resp.headers_mut().append(
        header::SET_COOKIE,
        open_steps_cookie(&rt.cookies.bind, &cookies::with(&open, &binding)),
    );
    resp
}

/// Sign-in and redemption happen on the login host only: the same path and query there.
pub(super) fn redirect_to_login(
    rt: &Runtime,
    req: &Request<Incoming>,
) -> Result<Response<Body>, GatewayError> {
    let mut url = rt
        .config
        .public_url
        .join(req.uri().path())
        .map_err(|_| GatewayError::NotFound)?;
    url.set_query(req.uri().query());
    Ok(response::redirect(url.as_str()))
}

/// A small urlencoded form body (consent buttons, an address, a code), at most 4 KiB.
pub(super) async fn read_form(
    req: Request<Incoming>,
) -> Result<Vec<(String, String)>, GatewayError> {
    read_form_up_to(req, 4096).await
}

/// A urlencoded form body of at most `max` bytes as a map, refusing a repeated field (two
/// values for one name are an attempt to have two parts of the code read different ones).
pub(super) async fn read_unique_form(
    req: Request<Incoming>,
    max: usize,
) -> Result<std::collections::HashMap<String, String>, GatewayError> {
    let mut map = std::collections::HashMap::new();
    for (k, v) in read_form_up_to(req, max).await? {
        if map.insert(k, v).is_some() {
            return Err(GatewayError::BadRequest("a form field was repeated"));
        }
    }
    Ok(map)
}

/// A urlencoded form body of at most `max` bytes.
pub(super) async fn read_form_up_to(
    req: Request<Incoming>,
    max: usize,
) -> Result<Vec<(String, String)>, GatewayError> {
    let body = Limited::new(req.into_body(), max)
        .collect()
        .await
        .map_err(|_| GatewayError::BadRequest("form too large or unreadable"))?;
    let bytes: Bytes = body.to_bytes();
    Ok(url::form_urlencoded::parse(&bytes).into_owned().collect())
}

pub(super) fn default_return(rt: &Runtime) -> Url {
    rt.config
        .public_url
        .join("/.borderless/apps")
        .unwrap_or_else(|_| rt.config.public_url.clone())
}
