//! Redeeming an invitation:
//!
//! ```text
//! email link ─▶ /redeem?t=… (names the organisation, offers IdPs) ─▶ /signin/{idp}?redeem=…
//!   ─▶ IdP ─▶ /callback ─▶ directory (admit) ─▶ consent page ─POST /consent─▶ redeem (atomic)
//!   ─▶ session ─▶ the invitation's redirect URL
//! ```
//! A guest who goes straight to an app reaches the same consent page after the callback
//! (just-in-time redemption). The consent state is single-use and bound to the browser by
//! the flow cookie; the POST must come from our own page.

use askama::Template;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use url::Url;

use super::flow::{self, Flow, PendingConsent};
use super::{Choice, open_steps_cookie, page, read_form, start_session};
use crate::admission::{Admission, Step};
use crate::directory::{Invitation, User};
use crate::error::GatewayError;
use crate::idp::Identity;
use crate::response::{self, Body};
use crate::state::{Gateway, RequestCtx, Runtime};
use crate::web::{cookies, query};

#[derive(Template)]
#[template(path = "redeem.html")]
struct RedeemPage<'a> {
    organization: &'a str,
    logo_url: &'a Option<String>,
    support: &'a Option<String>,
    email: &'a str,
    app_name: &'a str,
    /// The link's secret, for the "continue" form (home-realm routing of the invitee).
    secret: &'a str,
    idps: Vec<Choice>,
    request_id: &'a str,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    organization: &'a str,
    name: &'a str,
    email: &'a str,
    idp: &'a str,
    /// The consent step's id, so that a browser with several open knows which it answers.
    flow: &'a str,
    request_id: &'a str,
}

#[derive(Template)]
#[template(path = "declined.html")]
struct DeclinedPage<'a> {
    organization: &'a str,
    request_id: &'a str,
}

/// The invitation behind a link secret, if it can still be redeemed; otherwise the refusal
/// that explains why not.
pub async fn open_invitation(
    gw: &Gateway,
    rt: &Runtime,
    secret: &str,
) -> Result<Invitation, GatewayError> {
    match gw.gate(rt).admit(Step::OpenLink { secret }).await? {
        Ok(Admission::Link(inv)) => Ok(inv),
        Ok(other) => Err(GatewayError::internal(format!(
            "unexpected admission for a link: {other:?}"
        ))),
        Err(refusal) => Err(rt.refused(refusal)),
    }
}

/// `GET /redeem?t=…` on the login host.
pub async fn redeem_page(
    gw: &Gateway,
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let q = query::parse_unique(req.uri().query())
        .map_err(|_| GatewayError::BadRequest("a parameter was repeated"))?;
    let secret = q.get("t").map(String::as_str).unwrap_or("");
    let inv = open_invitation(gw, rt, secret).await?;
    let d = &rt.config.directory;
    let app_name = Url::parse(&inv.redirect_url)
        .ok()
        .and_then(|u| {
            rt.router
                .route(
                    &u[url::Position::BeforeHost..url::Position::AfterPort],
                    u.path(),
                )
                .map(|a| a.display_name.clone())
        })
        .unwrap_or_else(|| d.organization.clone());
    let idps = rt
        .idps
        .iter()
        .map(|p| {
            let mut qs = url::form_urlencoded::Serializer::new(String::new());
            qs.append_pair("redeem", secret);
            Choice {
                name: p.config().display_name.clone(),
                href: format!("/.borderless/signin/{}?{}", p.config().id, qs.finish()),
            }
        })
        .collect();
    let mut resp = page(
        RedeemPage {
            organization: &d.organization,
            logo_url: &d.logo_url,
            support: &d.support_contact,
            email: &inv.email,
            app_name: &app_name,
            secret,
            idps,
            request_id: &ctx.request_id,
        }
        .render(),
    )?;
    // The page URL holds the link secret: keep it out of caches.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The page shows the organisation's logo: admit its origin (and only it) for images.
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        response::form_page_csp(d.logo_origin.as_deref()),
    );
    Ok(resp)
}

/// Where a sign-in that reaches the consent page goes on to, and the other sign-ins the
/// browser has open (its flow cookie, without the one that just ended).
pub struct Waiting<'a> {
    pub return_to: Url,
    pub binding: Option<String>,
    pub open_flows: &'a [&'a str],
}

/// After the callback: keep the identity aside and ask the guest to accept.
pub async fn ask_consent(
    gw: &Gateway,
    rt: &Runtime,
    ctx: &RequestCtx,
    identity: Identity,
    inv: Invitation,
    wait: Waiting<'_>,
) -> Result<Response<Body>, GatewayError> {
    let first = |k: &str| identity.attributes.get(k).and_then(|v| v.first()).cloned();
    let name = first("name").unwrap_or_else(|| inv.display_name.clone());
    let idp_name = rt
        .idp(&identity.idp)
        .map(|p| p.config().display_name.clone())
        .unwrap_or_else(|| identity.idp.clone());
    let id = flow::random_token();
    let html = ConsentPage {
        organization: &rt.config.directory.organization,
        name: &name,
        email: &inv.email,
        idp: &idp_name,
        flow: &id,
        request_id: &ctx.request_id,
    }
    .render()?;
    let pending = PendingConsent {
        identity,
        invitation_id: inv.id.clone(),
        email: inv.email.clone(),
        name,
        return_to: wait.return_to,
        binding: wait.binding,
    };
    gw.flows.put_as(&id, Flow::AwaitingConsent(pending)).await?;
    let mut resp = response::html(StatusCode::OK, html);
    resp.headers_mut().append(
        header::SET_COOKIE,
        open_steps_cookie(&rt.cookies.flow, &cookies::with(wait.open_flows, &id)),
    );
    // The accepted form redirects to the app's host, which `form-action 'self'` would block.
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        response::form_page_csp(None),
    );
    Ok(resp)
}

/// `POST /consent`: accept (redeem atomically, sign in) or decline.
pub async fn consent(
    gw: &Gateway,
    rt: &Runtime,
    req: Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let open: Vec<String> = cookies::list(req.headers(), &rt.cookies.flow)
        .into_iter()
        .map(str::to_string)
        .collect();
    let form = read_form(req).await?;
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let decision = field("decision");
    // The form names its consent step; a client that sends no name (a script) may use the
    // only open one. Either way this browser must hold it.
    let id = match field("flow") {
        Some(id) => Some(id),
        None if open.len() == 1 => open.first().cloned(),
        None => None,
    };
    let pending = match id.as_deref() {
        Some(id) if open.iter().any(|o| o == id) => gw.flows.take_consent(id).await?,
        _ => None,
    };
    let open_refs: Vec<&str> = open.iter().map(String::as_str).collect();
    let remaining = cookies::without(&open_refs, id.as_deref().unwrap_or(""));
    let org = &rt.config.directory.organization;
    let Some(pending) = pending else {
        return Err(GatewayError::notice(
            StatusCode::BAD_REQUEST,
            "This page has expired",
            "The invitation was not accepted because the page was open too long or was already used. Open the invitation link again.",
        ));
    };
    let mut resp = match decision.as_deref() {
        Some("accept") => accept(gw, rt, &pending).await?,
        Some("decline") => page(
            DeclinedPage {
                organization: org,
                request_id: &ctx.request_id,
            }
            .render(),
        )?,
        _ => return Err(GatewayError::BadRequest("unknown consent decision")),
    };
    resp.headers_mut().append(
        header::SET_COOKIE,
        open_steps_cookie(&rt.cookies.flow, &remaining),
    );
    Ok(resp)
}

async fn accept(
    gw: &Gateway,
    rt: &Runtime,
    p: &PendingConsent,
) -> Result<Response<Body>, GatewayError> {
    let step = Step::Accept {
        identity: &p.identity,
        invitation_id: &p.invitation_id,
    };
    let user: User = match gw.gate(rt).admit(step).await? {
        Ok(Admission::SignIn(user)) => user,
        Ok(other) => {
            return Err(GatewayError::internal(format!(
                "unexpected admission on consent: {other:?}"
            )));
        }
        Err(refusal) => {
            return Err(rt.refused(refusal));
        }
    };
    tracing::info!(target: "borderless::security", user = %user.id, mail = %user.mail, idp = %p.identity.idp, "invitation redeemed");
    start_session(
        gw,
        rt,
        p.identity.clone(),
        &user,
        &p.return_to,
        p.binding.as_deref(),
    )
    .await
}

/// The redemption link for a sign-in that started at `/signin/{idp}?redeem=…`: where the
/// guest lands afterwards and the invitation id for the flow.
pub async fn redemption_target(
    gw: &Gateway,
    rt: &Runtime,
    secret: &str,
) -> Result<(Url, String), GatewayError> {
    let inv = open_invitation(gw, rt, secret).await?;
    // `open_invitation` admitted the link only if this still leads to an app.
    let url = gw
        .gate(rt)
        .redirect_target(&inv)
        .ok_or_else(|| GatewayError::internal("admitted invitation without a target"))?;
    Ok((url, inv.id))
}
