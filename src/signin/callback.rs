//! `/callback/{idp}`: the IdP's answer, checked against the flow it belongs to, then the
//! admission decision.

use http::header::{self};
use http::{Request, Response};
use hyper::body::Incoming;
use subtle::ConstantTimeEq;

use super::complete::start_session;
use super::flow::PendingSignIn;
use super::{open_steps_cookie, redeem};
use crate::admission::{Admission, Refusal, Step};
use crate::error::GatewayError;
use crate::idp::Identity;
use crate::response::Body;
use crate::state::{Gateway, RequestCtx, Runtime};
use crate::web::{cookies, query};

/// `/callback/{idp}`: state → code exchange (PKCE) → ID token → UserInfo → session.
pub(super) async fn callback(
    gw: &Gateway,
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
    idp: &str,
) -> Result<Response<Body>, GatewayError> {
    // `state` names the flow; this browser must have started it (its flow cookie lists it).
    // Every flow the query names is taken (deleted) before anything else, even when the
    // query is refused below, so no failure leaves state to retry against.
    let open = cookies::list(req.headers(), &rt.cookies.flow);
    let states: Vec<String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .filter(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .collect();
    let mut pending = None;
    for s in &states {
        if open
            .iter()
            .any(|o| bool::from(o.as_bytes().ct_eq(s.as_bytes())))
        {
            let taken = gw.flows.take_sign_in(s).await?;
            pending = pending.or(taken);
        }
    }
    let remaining: Vec<&str> = open
        .iter()
        .copied()
        .filter(|o| !states.iter().any(|s| s == o))
        .collect();
    let q = query::parse_unique(req.uri().query())
        .map_err(|e| GatewayError::sign_in("repeated_parameter", e.to_string()))?;
    let result = finish_callback(rt, &q, idp, pending.as_ref()).await;
    let metric_idp = if rt.idp(idp).is_some() {
        idp
    } else {
        "unknown"
    };
    match result {
        Ok((identity, pending)) => {
            gw.metrics.signin(metric_idp, "success");
            tracing::info!(target: "borderless::security", idp, subject = %identity.subject, "signed in at the IdP");
            let next = Next {
                return_to: &pending.return_to,
                binding: pending.binding.as_deref(),
                redeem: pending.redeem.as_deref(),
                fresh_since: pending.fresh_since,
            };
            proven(gw, rt, ctx, identity, next, &remaining).await
        }
        Err(e) => {
            gw.metrics.signin(metric_idp, "failure");
            let mut resp = e.into_response(&ctx.request_id);
            resp.headers_mut().append(
                header::SET_COOKIE,
                open_steps_cookie(&rt.cookies.flow, &remaining),
            );
            Ok(resp)
        }
    }
}

/// Where a sign-in goes once its identity is proven.
pub(super) struct Next<'a> {
    pub return_to: &'a url::Url,
    pub binding: Option<&'a str>,
    /// The invitation being redeemed, when the sign-in started from a redemption link.
    pub redeem: Option<&'a str>,
    /// When a fresh authentication was asked for (`PendingSignIn::fresh_since`).
    pub fresh_since: Option<i64>,
}

/// How far a provider's clock may lag ours when it says when the user authenticated.
const AUTH_TIME_SKEW_SECS: i64 = 30;

/// An identity a provider proved (any kind): the admission decision, then a session, the
/// consent page, or the refusal. `open_flows` are this browser's other open sign-ins,
/// which its flow cookie keeps listing.
pub(super) async fn proven(
    gw: &Gateway,
    rt: &Runtime,
    ctx: &RequestCtx,
    identity: Identity,
    next: Next<'_>,
    open_flows: &[&str],
) -> Result<Response<Body>, GatewayError> {
    // Asked to authenticate the user anew, the provider answered from an earlier sign-in:
    // a session from it would be refused by the same policy at once, and asking again loop.
    if let (Some(since), Some(at)) = (next.fresh_since, identity.auth_time)
        && at < since - AUTH_TIME_SKEW_SECS
    {
        tracing::info!(target: "borderless::security", idp = %identity.idp, auth_time = at, "provider did not re-authenticate");
        let mut resp = rt
            .refused(Refusal::NotReauthenticated)
            .into_response(&ctx.request_id);
        resp.headers_mut().append(
            header::SET_COOKIE,
            open_steps_cookie(&rt.cookies.flow, open_flows),
        );
        return Ok(resp);
    }
    let step = Step::SignedIn {
        identity: &identity,
        redeem: next.redeem,
    };
    let mut resp = match gw.gate(rt).admit(step).await? {
        Ok(Admission::SignIn(user)) => {
            start_session(gw, rt, identity, &user, next.return_to, next.binding).await?
        }
        Ok(Admission::Consent(inv)) => {
            // The consent step joins this browser's open flows in place of this one.
            let wait = redeem::Waiting {
                return_to: next.return_to.clone(),
                binding: next.binding.map(str::to_string),
                open_flows,
            };
            return redeem::ask_consent(gw, rt, ctx, identity, inv, wait).await;
        }
        Ok(other) => {
            return Err(GatewayError::internal(format!(
                "unexpected admission after sign-in: {other:?}"
            )));
        }
        Err(refusal) => rt.refused(refusal).into_response(&ctx.request_id),
    };
    resp.headers_mut().append(
        header::SET_COOKIE,
        open_steps_cookie(&rt.cookies.flow, open_flows),
    );
    Ok(resp)
}

pub(super) async fn finish_callback<'p>(
    rt: &Runtime,
    q: &std::collections::HashMap<String, String>,
    idp: &str,
    pending: Option<&'p PendingSignIn>,
) -> Result<(Identity, &'p PendingSignIn), GatewayError> {
    let pending = pending.ok_or_else(|| {
        GatewayError::sign_in(
            "no_sign_in_in_progress",
            "no sign-in in progress for this browser",
        )
    })?;
    if pending.idp != idp {
        return Err(GatewayError::sign_in(
            "idp_mismatch",
            format!("callback for {idp} but the flow started at {}", pending.idp),
        ));
    }
    if let Some(err) = q.get("error") {
        return Err(GatewayError::sign_in(
            "idp_error",
            format!(
                "provider returned error `{err}`: {}",
                q.get("error_description").map(String::as_str).unwrap_or("")
            ),
        ));
    }
    let code = q
        .get("code")
        .ok_or_else(|| GatewayError::sign_in("missing_code", "missing code"))?;
    let provider = rt
        .idp(idp)
        .ok_or_else(|| GatewayError::sign_in("unknown_idp", format!("unknown idp {idp}")))?;
    let identity = provider
        .finish(code, &pending.nonce, &pending.pkce_verifier)
        .await
        .map_err(idp_error)?;
    Ok((identity, pending))
}

/// An IdP that cannot be reached is a 503 the guest can retry; anything else it said is a
/// failed sign-in.
pub(super) fn idp_error(e: crate::idp::IdpError) -> GatewayError {
    if e.is_unavailable() {
        GatewayError::IdpUnavailable(e.to_string())
    } else {
        GatewayError::sign_in("token_rejected", e.to_string())
    }
}
