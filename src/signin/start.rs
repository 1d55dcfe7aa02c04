//! `/signin` and `/signin/{idp}`: where the sign-in goes afterwards, then either the
//! sign-in page (an address field for home-realm discovery, and provider buttons) or the
//! chosen provider's first step: the redirect to it, or the passcode address page.

use std::collections::HashMap;
use std::sync::Arc;

use http::header::{self};
use http::{Request, Response};
use hyper::body::Incoming;
use url::Url;

use super::callback::idp_error;
use super::complete::complete;
use super::flow::{self, Flow, PendingSignIn};
use super::{default_return, home_realm, open_steps_cookie, passcode, redeem, redirect_to_login};
use crate::directory::address::Address;
use crate::error::GatewayError;
use crate::idp::Provider;
use crate::response::{self, Body};
use crate::state::{Gateway, RequestCtx, Runtime, SessionCheck};
use crate::web::{cookies, query, return_to};

/// Where a sign-in goes once it is done, from the query (or the sign-in page's form).
pub(super) struct Target {
    pub return_to: Url,
    pub binding: Option<String>,
    /// A redemption link's secret (for the links on the page) and its invitation's id.
    pub redeem: Option<(String, String)>,
    /// The user must authenticate again at the provider (`fresh=1`: a policy's sign-in
    /// frequency passed).
    pub fresh: bool,
}

impl Target {
    /// From `rd`, `b` and `redeem`, each checked: `rd` must lead to an app of this gateway,
    /// `b` must be a binding token, `redeem` an open invitation (whose target replaces `rd`).
    pub async fn parse(
        gw: &Gateway,
        rt: &Runtime,
        q: &HashMap<String, String>,
    ) -> Result<Target, GatewayError> {
        let redeem = match q.get("redeem") {
            Some(secret) => {
                let (url, id) = redeem::redemption_target(gw, rt, secret).await?;
                Some((url, secret.clone(), id))
            }
            None => None,
        };
        let return_to = match (&redeem, q.get("rd")) {
            (Some((url, _, _)), _) => url.clone(),
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
        Ok(Target {
            return_to,
            binding,
            redeem: redeem.map(|(_, secret, id)| (secret, id)),
            fresh: q.get("fresh").is_some_and(|f| f == "1"),
        })
    }

    /// The query that carries this target to `/signin/{idp}`.
    pub fn query(&self, login_hint: Option<&str>) -> String {
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        match &self.redeem {
            Some((secret, _)) => qs.append_pair("redeem", secret),
            None => qs.append_pair("rd", self.return_to.as_str()),
        };
        if let Some(b) = &self.binding {
            qs.append_pair("b", b);
        }
        if let Some(hint) = login_hint {
            qs.append_pair("login_hint", hint);
        }
        if self.fresh {
            qs.append_pair("fresh", "1");
        }
        qs.finish()
    }

    pub fn redeem_id(&self) -> Option<String> {
        self.redeem.as_ref().map(|(_, id)| id.clone())
    }

    /// The providers the destination app admits (`allowed_idps`), in config order.
    pub fn offered<'r>(&self, rt: &'r Runtime) -> Vec<&'r Arc<Provider>> {
        let app = self.app(rt);
        rt.idps
            .iter()
            .filter(|p| {
                app.as_ref().is_none_or(|app| {
                    app.allowed_idps.is_empty() || app.allowed_idps.contains(&p.config().id)
                })
            })
            .collect()
    }

    pub fn app(&self, rt: &Runtime) -> Option<Arc<crate::config::AppConfig>> {
        return_to::authority_of(&self.return_to).and_then(|a| {
            rt.router
                .route_normalized(&a, self.return_to.path())
                .cloned()
        })
    }
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
    let target = Target::parse(gw, rt, &q).await?;

    // Already signed in here (and still admitted): no need to visit the IdP again, unless
    // a fresh authentication is what was asked for.
    if target.redeem.is_none()
        && !target.fresh
        && let SessionCheck::Admitted(id, s) = gw.session_check(rt, req.headers(), None).await?
        && (idp.is_none() || idp == Some(&*s.idp))
    {
        return complete(gw, rt, id, &target.return_to, target.binding.as_deref()).await;
    }

    let offered = target.offered(rt);
    let provider = match idp {
        Some(id) => rt.idp(id).ok_or(GatewayError::NotFound)?.clone(),
        None if offered.is_empty() => return Err(GatewayError::NotFound),
        // One provider that redirects: nothing to ask.
        None if offered.len() == 1 && !matches!(offered[0].as_ref(), Provider::Passcode(_)) => {
            offered[0].clone()
        }
        None => return home_realm::page(rt, ctx, &target, None, ""),
    };
    // An address the sign-in page already asked for: a hint for the provider.
    let login_hint = q
        .get("login_hint")
        .and_then(|h| Address::parse(h).ok())
        .map(|a| a.as_str().to_string());

    // Each start holds a pending flow until the IdP answers or it times out.
    rt.rate_limits.sign_in(rt.client_ip(req.headers(), ctx))?;
    if let Provider::Passcode(p) = provider.as_ref() {
        return passcode::start(gw, rt, req, ctx, p, target, login_hint.as_deref()).await;
    }
    // The flow's id is the OAuth `state`: the callback names its flow, and the browser's
    // flow cookie (which lists the sign-ins it has open, one per tab) vouches for it.
    let flow_id = flow::random_token();
    let auth = provider
        .start(&flow_id, login_hint.as_deref(), target.fresh)
        .await
        .map_err(|e| {
            gw.metrics.signin(&provider.config().id, "idp_unavailable");
            idp_error(e)
        })?;
    let redeem = target.redeem_id();
    let pending = PendingSignIn {
        idp: provider.config().id.clone(),
        nonce: auth.nonce,
        pkce_verifier: auth.pkce_verifier,
        return_to: target.return_to,
        binding: target.binding,
        redeem,
        fresh_since: target.fresh.then(crate::db::now),
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
