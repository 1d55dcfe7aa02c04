//! `/signin` and `/signin/{idp}`: pick the identity provider, start its flow, redirect.

use askama::Template;
use http::header::{self};
use http::{Request, Response};
use hyper::body::Incoming;

use super::callback::idp_error;
use super::complete::complete;
use super::flow::{self, Flow, PendingSignIn};
use super::{Choice, default_return, open_steps_cookie, page, redirect_to_login};
use super::{passcode, redeem};
use crate::error::GatewayError;
use crate::response::{self, Body};
use crate::state::{Gateway, RequestCtx, Runtime, SessionCheck};
use crate::web::{cookies, query, return_to};

#[derive(Template)]
#[template(path = "pick_idp.html")]
pub(super) struct PickIdpPage<'a> {
    idps: Vec<Choice>,
    request_id: &'a str,
}

/// `/signin` and `/signin/{idp}` on the login host.
pub(super) async fn signin(
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
        return complete(gw, rt, id, &return_to, binding.as_deref()).await;
    }

    // Offer only the providers the destination app admits (`allowed_idps`).
    let target_app = return_to::authority_of(&return_to)
        .and_then(|a| rt.router.route_normalized(&a, return_to.path()).cloned());
    let offered: Vec<&std::sync::Arc<crate::idp::Provider>> = rt
        .idps
        .iter()
        .filter(|p| {
            target_app.as_ref().is_none_or(|app| {
                app.allowed_idps.is_empty() || app.allowed_idps.contains(&p.config().id)
            })
        })
        .collect();
    let provider = match idp {
        Some(id) => rt.idp(id).ok_or(GatewayError::NotFound)?.clone(),
        None if offered.is_empty() => return Err(GatewayError::NotFound),
        None if offered.len() == 1 => offered[0].clone(),
        None => {
            let choices = offered
                .iter()
                .map(|p| {
                    let mut href = format!("/.borderless/signin/{}", p.config().id);
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
                        name: p.config().display_name.clone(),
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
    if let crate::idp::Provider::Passcode(p) = provider.as_ref() {
        let target = passcode::Target {
            return_to,
            binding,
            redeem: redemption.map(|(_, id)| id),
        };
        return passcode::start(gw, rt, req, ctx, p, target).await;
    }
    // The flow's id is the OAuth `state`: the callback names its flow, and the browser's
    // flow cookie (which lists the sign-ins it has open, one per tab) vouches for it.
    let flow_id = flow::random_token();
    let auth = provider.start(&flow_id).await.map_err(|e| {
        gw.metrics.signin(&provider.config().id, "idp_unavailable");
        idp_error(e)
    })?;
    let pending = PendingSignIn {
        idp: provider.config().id.clone(),
        nonce: auth.nonce,
        pkce_verifier: auth.pkce_verifier,
        return_to,
        binding,
        redeem: redemption.map(|(_, id)| id),
    };
    gw.flows
        .put_as(&flow_id, Flow::AwaitingIdp(pending))
        .await?;
    gw.metrics.signin(&provider.config().id, "started");
    let mut resp = response::redirect(auth.url.as_str());
    let open = cookies::list(req.headers(), &rt.cookies.flow);
    resp.headers_mut().append(
        header::SET_COOKIE,
        open_steps_cookie(&rt.cookies.flow, &cookies::with(&open, &flow_id)),
    );
    Ok(resp)
}
