//! The SAML endpoints, `/.borderless/saml/{idp}/…`:
//!
//! ```text
//! metadata   GET   our SP metadata for the partner to import
//! acs        POST  the IdP's response (HTTP-POST binding): kept unverified for a minute
//!                  under a new id, 303 to continue (the POST carries no Lax cookies)
//! continue   GET   the same browser: RelayState must be one of its flows (its cookie),
//!                  the response must answer that flow's AuthnRequest; then admission
//! slo        *     the IdP's answer to our LogoutRequest: on to the signed-out page
//! ```

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use subtle::ConstantTimeEq;

use super::callback::{Next, idp_error, proven};
use super::flow::{Flow, SamlPosted};
use super::{default_return, open_steps_cookie, read_form_up_to};
use crate::error::GatewayError;
use crate::idp::Provider;
use crate::idp::saml::SamlProvider;
use crate::response::{self, Body};
use crate::state::{Gateway, RequestCtx, Runtime};
use crate::web::{cookies, query};

/// The largest response accepted: signed, with certificates and attributes, well under.
const MAX_RESPONSE_BYTES: usize = 512 * 1024;

pub(super) async fn handle(
    gw: &Gateway,
    rt: &Runtime,
    req: Request<Incoming>,
    ctx: &RequestCtx,
    rest: &str,
) -> Result<Response<Body>, GatewayError> {
    let (id, endpoint) = rest.split_once('/').ok_or(GatewayError::NotFound)?;
    let provider = match rt.idp(id).map(|p| p.as_ref()) {
        Some(Provider::Saml(p)) => p,
        _ => return Err(GatewayError::NotFound),
    };
    let method = req.method().clone();
    match (endpoint, method) {
        ("metadata", Method::GET) => metadata(provider),
        ("acs", Method::POST) => acs(gw, rt, req, ctx, provider).await,
        ("continue", Method::GET) => finish(gw, rt, req, ctx, provider).await,
        // The IdP's LogoutResponse (the session ended before we sent the request), or an
        // IdP-initiated LogoutRequest, which is not supported: either way, signed out here.
        ("slo", Method::GET | Method::POST) => {
            let to = rt
                .config
                .public_url
                .join("/.borderless/signed-out")
                .map_err(|e| GatewayError::internal(e.to_string()))?;
            Ok(response::redirect(to.as_str()))
        }
        _ => Err(GatewayError::NotFound),
    }
}

fn metadata(provider: &SamlProvider) -> Result<Response<Body>, GatewayError> {
    let xml = provider
        .sp_metadata()
        .map_err(|e| GatewayError::internal(e.to_string()))?;
    let mut resp = response::html(StatusCode::OK, xml);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/samlmetadata+xml"),
    );
    Ok(resp)
}

async fn acs(
    gw: &Gateway,
    rt: &Runtime,
    req: Request<Incoming>,
    ctx: &RequestCtx,
    provider: &SamlProvider,
) -> Result<Response<Body>, GatewayError> {
    // Each POST holds a little state for a minute: limited like a sign-in start.
    rt.rate_limits.sign_in(rt.client_ip(req.headers(), ctx))?;
    let form = read_form_up_to(req, MAX_RESPONSE_BYTES).await?;
    let field = |name: &str| {
        let mut values = form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone());
        match (values.next(), values.next()) {
            (Some(v), None) => Ok(Some(v)),
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(GatewayError::sign_in(
                "repeated_parameter",
                format!("{name} was repeated"),
            )),
        }
    };
    let response = field("SAMLResponse")?
        .ok_or_else(|| GatewayError::sign_in("missing_response", "no SAMLResponse"))?;
    let relay_state = field("RelayState")?.unwrap_or_default();
    let posted = SamlPosted {
        idp: provider.config.id.clone(),
        response,
        relay_state,
    };
    let id = gw.flows.put(Flow::SamlPosted(posted)).await?;
    let mut url = rt
        .config
        .public_url
        .join(&format!(
            "/.borderless/saml/{}/continue",
            provider.config.id
        ))
        .map_err(|e| GatewayError::internal(e.to_string()))?;
    url.query_pairs_mut().append_pair("r", &id);
    Ok(response::see_other(url.as_str()))
}

async fn finish(
    gw: &Gateway,
    rt: &Runtime,
    req: Request<Incoming>,
    ctx: &RequestCtx,
    provider: &SamlProvider,
) -> Result<Response<Body>, GatewayError> {
    let q = query::parse_unique(req.uri().query())
        .map_err(|e| GatewayError::sign_in("repeated_parameter", e.to_string()))?;
    let posted = match q.get("r") {
        Some(r) => gw.flows.take_saml_posted(r).await?,
        None => None,
    }
    .filter(|p| p.idp == provider.config.id)
    .ok_or_else(|| {
        GatewayError::sign_in(
            "no_sign_in_in_progress",
            "no SAML response waits under this id",
        )
    })?;
    // RelayState names the flow; this browser must have started it.
    let open = cookies::list(req.headers(), &rt.cookies.flow);
    let ours = open
        .iter()
        .any(|o| bool::from(o.as_bytes().ct_eq(posted.relay_state.as_bytes())));
    let pending = if ours {
        gw.flows.take_sign_in(&posted.relay_state).await?
    } else {
        None
    };
    let remaining: Vec<&str> = open
        .iter()
        .copied()
        .filter(|o| *o != posted.relay_state)
        .collect();
    let default = default_return(rt);
    let (request_id, next) = match &pending {
        Some(p) if p.idp == provider.config.id => (
            Some(p.nonce.as_str()),
            Next {
                return_to: &p.return_to,
                binding: p.binding.as_deref(),
                redeem: p.redeem.as_deref(),
                fresh_since: p.fresh_since,
            },
        ),
        Some(p) => {
            return Err(GatewayError::sign_in(
                "idp_mismatch",
                format!(
                    "a response from {} for a flow at {}",
                    provider.config.id, p.idp
                ),
            ));
        }
        None if provider.allows_unsolicited() => (
            None,
            Next {
                return_to: &default,
                binding: None,
                redeem: None,
                fresh_since: None,
            },
        ),
        None => {
            return Err(GatewayError::sign_in(
                "no_sign_in_in_progress",
                "no sign-in in progress for this browser",
            ));
        }
    };
    let idp_id = provider.config.id.clone();
    let verified = match provider.finish(&posted.response, request_id).await {
        Ok(v) => v,
        Err(e) => {
            gw.metrics.signin(&idp_id, "failure");
            let mut resp = idp_error(e).into_response(&ctx.request_id);
            resp.headers_mut().append(
                header::SET_COOKIE,
                open_steps_cookie(&rt.cookies.flow, &remaining),
            );
            return Ok(resp);
        }
    };
    let first = gw
        .directory
        .first_use_of_assertion(
            &verified.identity.issuer,
            &verified.assertion_id,
            verified.usable_until,
        )
        .await?;
    if !first {
        gw.metrics.signin(&idp_id, "failure");
        tracing::warn!(target: "borderless::security", idp = %idp_id, assertion = %verified.assertion_id, "a SAML assertion was replayed");
        return Err(GatewayError::sign_in(
            "token_rejected",
            "this assertion was already used",
        ));
    }
    gw.metrics.signin(&idp_id, "success");
    tracing::info!(target: "borderless::security", idp = %idp_id, subject = %verified.identity.subject, "signed in at the SAML IdP");
    proven(gw, rt, ctx, verified.identity, next, &remaining).await
}
