//! `/handoff?code=…` on an app host: the session arrives from the login host.

use http::header::{self};
use http::{Request, Response};
use hyper::body::Incoming;
use subtle::ConstantTimeEq;

use super::open_steps_cookie;
use crate::admission::Step;
use crate::error::GatewayError;
use crate::response::{self, Body};
use crate::session::now_unix;
use crate::state::{Gateway, RequestCtx, Runtime};
use crate::web::{cookies, query};

/// `/handoff?code=…` on an app host: redeem the code, set this host's session cookie.
pub(super) async fn handoff(
    gw: &Gateway,
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let q = query::parse_unique(req.uri().query())
        .map_err(|e| GatewayError::sign_in("repeated_parameter", e.to_string()))?;
    let code = q
        .get("code")
        .ok_or_else(|| GatewayError::sign_in("missing_handoff_code", "missing handoff code"))?;
    let h =
        gw.flows.take_handoff(code).await?.ok_or_else(|| {
            GatewayError::sign_in("handoff_unknown", "unknown or used handoff code")
        })?;
    if h.authority != ctx.host {
        return Err(GatewayError::sign_in(
            "handoff_wrong_host",
            "handoff code issued for another host",
        ));
    }
    // The bind cookie lists the sign-ins this browser started from this host (one per tab).
    let bindings = cookies::list(req.headers(), &rt.cookies.bind);
    let bound = bindings
        .iter()
        .any(|b| bool::from(b.as_bytes().ct_eq(h.binding.as_bytes())));
    if !bound {
        return Err(GatewayError::sign_in(
            "handoff_not_bound",
            "handoff code not bound to this browser",
        ));
    }
    let Some(session) = gw.sessions.get(&h.session).await? else {
        return Err(GatewayError::sign_in(
            "session_ended",
            "the session ended before the handoff",
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
    resp.headers_mut().append(
        header::SET_COOKIE,
        open_steps_cookie(&rt.cookies.bind, &cookies::without(&bindings, &h.binding)),
    );
    Ok(resp)
}
