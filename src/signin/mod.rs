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
pub mod redeem;

use std::sync::Arc;

use askama::Template;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use subtle::ConstantTimeEq;
use url::Url;

use crate::admission::{Admission, Step};
use crate::config::file::AuthMode;
use crate::directory::User;
use crate::error::GatewayError;
use crate::idp::Identity;
use crate::response::{self, Body};
use crate::session::{Session, SessionId, now_unix};
use crate::state::{Gateway, RequestCtx, Runtime, SessionCheck};
use crate::web::{cookies, query, return_to};
use flow::{Handoff, PendingSignIn};

#[derive(Template)]
#[template(path = "pick_idp.html")]
struct PickIdpPage<'a> {
    idps: Vec<Choice>,
    request_id: &'a str,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage<'a> {
    request_id: &'a str,
}

#[derive(Template)]
#[template(path = "signout.html")]
struct SignOutPage<'a> {
    request_id: &'a str,
}

#[derive(Template)]
#[template(path = "apps.html")]
struct AppsPage<'a> {
    user: Option<String>,
    apps: Vec<Choice>,
    request_id: &'a str,
}

struct Choice {
    name: String,
    href: String,
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
            p if get && (p.starts_with("/signin") || p == "/redeem" || p == "/apps") => {
                return redirect_to_login(rt, &req);
            }
            _ => return Err(GatewayError::NotFound),
        }
    }
    match path {
        "/signin" if get => signin(gw, rt, &req, ctx, None).await,
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

/// A rendered page; a template failure is an internal error (logged, never shown).
fn page(rendered: askama::Result<String>) -> Result<Response<Body>, GatewayError> {
    Ok(response::html(StatusCode::OK, rendered?))
}

/// Response for a request that needs a session it does not have.
pub fn require_sign_in(
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
    had_cookie: bool,
) -> Response<Body> {
    if !crate::web::request::is_navigation(req) {
        let mut r = GatewayError::Unauthorized.into_response(&ctx.request_id);
        if had_cookie {
            r.headers_mut()
                .append(header::SET_COOKIE, cookies::clear(&rt.cookies.session));
        }
        return r;
    }
    let original = format!(
        "https://{}{}",
        ctx.host.strip_suffix(":443").unwrap_or(&ctx.host),
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut signin_url = rt
        .config
        .public_url
        .join("/.borderless/signin")
        .unwrap_or_else(|_| rt.config.public_url.clone());
    let mut resp;
    if rt.is_login_host(&ctx.host) {
        signin_url.query_pairs_mut().append_pair("rd", &original);
        resp = response::redirect(signin_url.as_str());
    } else {
        let binding = flow::random_token();
        signin_url
            .query_pairs_mut()
            .append_pair("rd", &original)
            .append_pair("b", &binding);
        resp = response::redirect(signin_url.as_str());
        resp.headers_mut().append(
            header::SET_COOKIE,
            cookies::set(&rt.cookies.bind, &binding, flow::FLOW_TTL.as_secs() as i64),
        );
    }
    if had_cookie {
        resp.headers_mut()
            .append(header::SET_COOKIE, cookies::clear(&rt.cookies.session));
    }
    resp
}

/// Sign-in and redemption happen on the login host only: the same path and query there.
fn redirect_to_login(
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

fn default_return(rt: &Runtime) -> Url {
    rt.config
        .public_url
        .join("/.borderless/apps")
        .unwrap_or_else(|_| rt.config.public_url.clone())
}

/// `/signin` and `/signin/{idp}` on the login host.
async fn signin(
    gw: &Gateway,
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
    idp: Option<&str>,
) -> Result<Response<Body>, GatewayError> {
    if !rt.is_login_host(&ctx.host) {
        return redirect_to_login(rt, req);
    }
    let q = query::parse_unique(req.uri().query())
        .map_err(|_| GatewayError::BadRequest("a parameter was repeated"))?;
    // From a redemption link: land on the invitation's redirect URL afterwards.
    let redemption = match q.get("redeem") {
        Some(secret) => Some(redeem::redemption_target(gw, rt, secret).await?),
        None => None,
    };
    let return_to = match (&redemption, q.get("rd")) {
        (Some((url, _)), _) => url.clone(),
        (None, None) => default_return(rt),
        (None, Some(rd)) => return_to::validate(
            rd,
            &rt.config.public_url,
            &rt.config.login_authority,
            &rt.router,
        )
        .ok_or(GatewayError::BadRequest(
            "the return address is not an application of this gateway",
        ))?,
    };
    let binding = match q.get("b") {
        Some(b) if flow::is_token(b) => Some(b.clone()),
        Some(_) => return Err(GatewayError::BadRequest("malformed sign-in binding")),
        None => None,
    };

    // Already signed in here (and still admitted): no need to visit the IdP again.
    if redemption.is_none()
        && let SessionCheck::Admitted(id, s) = gw.session_check(rt, req.headers(), None).await?
        && (idp.is_none() || idp == Some(s.idp.as_str()))
    {
        return Ok(complete(gw, rt, id, &return_to, binding.as_deref()).await);
    }

    let provider = match idp {
        Some(id) => rt.idp(id).ok_or(GatewayError::NotFound)?.clone(),
        None if rt.idps.is_empty() => return Err(GatewayError::NotFound),
        None if rt.idps.len() == 1 => rt.idps[0].clone(),
        None => {
            let choices = rt
                .idps
                .iter()
                .map(|p| {
                    let mut href = format!("/.borderless/signin/{}", p.config.id);
                    let mut qs = url::form_urlencoded::Serializer::new(String::new());
                    match q.get("redeem") {
                        Some(secret) => qs.append_pair("redeem", secret),
                        None => qs.append_pair("rd", return_to.as_str()),
                    };
                    if let Some(b) = &binding {
                        qs.append_pair("b", b);
                    }
                    href.push('?');
                    href.push_str(&qs.finish());
                    Choice {
                        name: p.config.display_name.clone(),
                        href,
                    }
                })
                .collect();
            return page(
                PickIdpPage {
                    idps: choices,
                    request_id: &ctx.request_id,
                }
                .render(),
            );
        }
    };

    // Each start holds a pending flow until the IdP answers or it times out.
    rt.rate_limits.sign_in(rt.client_ip(req.headers(), ctx))?;
    let auth = provider.start().await.map_err(|e| {
        gw.metrics.signin(&provider.config.id, "idp_unavailable");
        idp_error(e)
    })?;
    let flow_id = gw
        .flows
        .put(PendingSignIn {
            idp: provider.config.id.clone(),
            state: auth.state,
            nonce: auth.nonce,
            pkce_verifier: auth.pkce_verifier,
            return_to,
            binding,
            redeem: redemption.map(|(_, id)| id),
        })
        .await;
    gw.metrics.signin(&provider.config.id, "started");
    let mut resp = response::redirect(auth.url.as_str());
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(&rt.cookies.flow, &flow_id, flow::FLOW_TTL.as_secs() as i64),
    );
    Ok(resp)
}

/// `/callback/{idp}`: state → code exchange (PKCE) → ID token → UserInfo → session.
async fn callback(
    gw: &Gateway,
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
    idp: &str,
) -> Result<Response<Body>, GatewayError> {
    // The flow is taken (deleted) before anything else, so every failure below leaves no
    // state to retry against.
    let pending = match cookies::value(req.headers(), &rt.cookies.flow) {
        Some(id) => gw.flows.take(id).await,
        None => None,
    };
    let result = finish_callback(rt, req, idp, pending.as_deref()).await;
    let metric_idp = if rt.idp(idp).is_some() {
        idp
    } else {
        "unknown"
    };
    let mut resp = match result {
        Ok((identity, pending)) => {
            gw.metrics.signin(metric_idp, "success");
            tracing::info!(target: "borderless::security", idp, subject = %identity.subject, "signed in at the IdP");
            let step = Step::SignedIn {
                identity: &identity,
                redeem: pending.redeem.as_deref(),
            };
            match gw.gate(rt).admit(step).await? {
                Ok(Admission::SignIn(user)) => {
                    start_session(
                        gw,
                        rt,
                        identity,
                        &user,
                        &pending.return_to,
                        pending.binding.as_deref(),
                    )
                    .await?
                }
                Ok(Admission::Consent(inv)) => {
                    // Consent sets its own flow cookie; do not clear it below.
                    return redeem::ask_consent(
                        gw,
                        rt,
                        ctx,
                        identity,
                        inv,
                        pending.return_to.clone(),
                        pending.binding.clone(),
                    )
                    .await;
                }
                Ok(other) => {
                    return Err(GatewayError::internal(format!(
                        "unexpected admission after sign-in: {other:?}"
                    )));
                }
                Err(refusal) => rt.refused(refusal).into_response(&ctx.request_id),
            }
        }
        Err(e) => {
            gw.metrics.signin(metric_idp, "failure");
            e.into_response(&ctx.request_id)
        }
    };
    resp.headers_mut()
        .append(header::SET_COOKIE, cookies::clear(&rt.cookies.flow));
    Ok(resp)
}

async fn finish_callback<'p>(
    rt: &Runtime,
    req: &Request<Incoming>,
    idp: &str,
    pending: Option<&'p PendingSignIn>,
) -> Result<(Identity, &'p PendingSignIn), GatewayError> {
    let q =
        query::parse_unique(req.uri().query()).map_err(|e| GatewayError::SignIn(e.to_string()))?;
    let pending = pending
        .ok_or_else(|| GatewayError::SignIn("no sign-in in progress for this browser".into()))?;
    if pending.idp != idp {
        return Err(GatewayError::SignIn(format!(
            "callback for {idp} but the flow started at {}",
            pending.idp
        )));
    }
    let state = q
        .get("state")
        .ok_or_else(|| GatewayError::SignIn("missing state".into()))?;
    if !bool::from(state.as_bytes().ct_eq(pending.state.as_bytes())) {
        return Err(GatewayError::SignIn("state does not match".into()));
    }
    if let Some(err) = q.get("error") {
        return Err(GatewayError::SignIn(format!(
            "provider returned error `{err}`: {}",
            q.get("error_description").map(String::as_str).unwrap_or("")
        )));
    }
    let code = q
        .get("code")
        .ok_or_else(|| GatewayError::SignIn("missing code".into()))?;
    let provider = rt
        .idp(idp)
        .ok_or_else(|| GatewayError::SignIn(format!("unknown idp {idp}")))?;
    let identity = provider
        .finish(code, &pending.nonce, &pending.pkce_verifier)
        .await
        .map_err(idp_error)?;
    Ok((identity, pending))
}

/// An IdP that cannot be reached is a 503 the guest can retry; anything else it said is a
/// failed sign-in.
fn idp_error(e: crate::idp::oidc::OidcError) -> GatewayError {
    if e.is_unavailable() {
        GatewayError::IdpUnavailable(e.to_string())
    } else {
        GatewayError::SignIn(e.to_string())
    }
}

/// Signs a directory user in: a new session (keyed by the user id, carrying the directory's
/// view of the user as attributes), the cookie, and on to `return_to`.
pub(crate) async fn start_session(
    gw: &Gateway,
    rt: &Runtime,
    identity: Identity,
    user: &User,
    return_to: &Url,
    binding: Option<&str>,
) -> Result<Response<Body>, GatewayError> {
    if let Err(e) = gw.directory.record_sign_in(&user.id).await {
        tracing::warn!("recording the sign-in time failed: {e}");
    }
    let session = new_session(rt, identity, user);
    let max_age = session.expires_at - session.created_at;
    let id = gw.sessions.create(session).await?;
    let mut resp = complete(gw, rt, id.clone(), return_to, binding).await;
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(&rt.cookies.session, &id.to_cookie(), max_age),
    );
    Ok(resp)
}

fn new_session(rt: &Runtime, identity: Identity, user: &User) -> Session {
    let now = now_unix();
    let lifetime_end = now + rt.config.session.lifetime.as_secs() as i64;
    let mut attributes = identity.attributes;
    for (k, v) in [
        ("user_id", user.id.as_str()),
        ("upn", user.upn.as_str()),
        ("user_type", user.user_type.as_str()),
        ("mail", user.mail.as_str()),
        ("display_name", user.display_name.as_str()),
    ] {
        attributes.insert(k.to_string(), vec![v.to_string()]);
    }
    Session {
        user_key: user.id.clone(),
        idp: identity.idp,
        issuer: identity.issuer,
        subject: identity.subject,
        attributes,
        amr: identity.amr,
        acr: identity.acr,
        auth_time: identity.auth_time.unwrap_or(now),
        created_at: now,
        // A session never outlives the user's access.
        expires_at: user
            .expires_at
            .map_or(lifetime_end, |e| e.min(lifetime_end)),
    }
}

/// Sends a signed-in browser on to `return_to`, through a handoff when it is another host.
async fn complete(
    gw: &Gateway,
    rt: &Runtime,
    id: SessionId,
    return_to: &Url,
    binding: Option<&str>,
) -> Response<Body> {
    let authority = return_to::authority_of(return_to).unwrap_or_default();
    if rt.is_login_host(&authority) {
        return response::redirect(return_to.as_str());
    }
    let Some(binding) = binding else {
        // No binding from the app host: go there; it will bounce back with one.
        return response::redirect(return_to.as_str());
    };
    let code = gw
        .handoffs
        .put(Handoff {
            session: id,
            authority: authority.clone(),
            binding: binding.to_string(),
            return_to: return_to.clone(),
        })
        .await;
    let mut target = return_to.clone();
    target.set_path("/.borderless/handoff");
    target.set_query(None);
    target.set_fragment(None);
    target.query_pairs_mut().append_pair("code", &code);
    response::redirect(target.as_str())
}

/// `/handoff?code=…` on an app host: redeem the code, set this host's session cookie.
async fn handoff(
    gw: &Gateway,
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let q =
        query::parse_unique(req.uri().query()).map_err(|e| GatewayError::SignIn(e.to_string()))?;
    let code = q
        .get("code")
        .ok_or_else(|| GatewayError::SignIn("missing handoff code".into()))?;
    let h = gw
        .handoffs
        .take(code)
        .await
        .ok_or_else(|| GatewayError::SignIn("unknown or used handoff code".into()))?;
    if h.authority != ctx.host {
        return Err(GatewayError::SignIn(
            "handoff code issued for another host".into(),
        ));
    }
    let bound = cookies::value(req.headers(), &rt.cookies.bind)
        .is_some_and(|b| bool::from(b.as_bytes().ct_eq(h.binding.as_bytes())));
    if !bound {
        return Err(GatewayError::SignIn(
            "handoff code not bound to this browser".into(),
        ));
    }
    let Some(session) = gw.sessions.get(&h.session).await? else {
        return Err(GatewayError::SignIn(
            "the session ended before the handoff".into(),
        ));
    };
    let step = Step::Continue {
        session: &session,
        app: None,
    };
    if let Err(refusal) = gw.gate(rt).admit(step).await? {
        return Err(rt.refused(refusal));
    }
    let max_age = (session.expires_at - now_unix()).max(0);
    let mut resp = response::redirect(h.return_to.as_str());
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(&rt.cookies.session, &h.session.to_cookie(), max_age),
    );
    resp.headers_mut()
        .append(header::SET_COOKIE, cookies::clear(&rt.cookies.bind));
    Ok(resp)
}

/// `/signout`: end the session everywhere, then RP-initiated logout at the IdP if it has one.
fn signout_page(ctx: &RequestCtx) -> Result<Response<Body>, GatewayError> {
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

async fn signout(
    gw: &Gateway,
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let mut idp = None;
    if let Some(id) =
        cookies::value(req.headers(), &rt.cookies.session).and_then(SessionId::from_cookie)
    {
        if let Ok(Some(s)) = gw.sessions.get(&id).await {
            idp = Some(s.idp.clone());
        }
        gw.sessions.revoke(&id).await?;
    }
    let signed_out = rt
        .config
        .public_url
        .join("/.borderless/signed-out")
        .map_err(|e| GatewayError::internal(e.to_string()))?;
    let logout = match idp.as_deref().and_then(|i| rt.idp(i)) {
        Some(p) => p.end_session_url(&signed_out).await,
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

/// `/apps`: the apps this gateway fronts, for the signed-in user.
async fn apps(
    gw: &Gateway,
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let session = match gw.session_check(rt, req.headers(), None).await? {
        SessionCheck::Admitted(_, s) => Some(s),
        _ => None,
    };
    let user = session.as_ref().map(|s| {
        s.first("display_name")
            .or(s.first("mail"))
            .unwrap_or(&s.subject)
            .to_string()
    });
    let mut apps = Vec::new();
    for a in &rt.config.apps {
        let open = match &session {
            None => a.auth == AuthMode::None,
            Some(s) => {
                let step = Step::Continue {
                    session: s,
                    app: Some(a),
                };
                a.auth == AuthMode::None || gw.gate(rt).admit(step).await?.is_ok()
            }
        };
        if open {
            apps.push(Choice {
                name: a.display_name.clone(),
                href: a.external_url(),
            });
        }
    }
    page(
        AppsPage {
            user,
            apps,
            request_id: &ctx.request_id,
        }
        .render(),
    )
}
