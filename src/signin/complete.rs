//! A signed-in user's new session, and the way on to the app: directly on the login host,
//! through a single-use handoff code to another host.

use http::Response;
use http::header::{self};
use url::Url;

use super::flow::{Flow, Handoff};
use crate::directory::User;
use crate::error::GatewayError;
use crate::idp::Identity;
use crate::response::{self, Body};
use crate::session::{NewSession, Session, SessionId, now_unix};
use crate::state::{Gateway, Runtime};
use crate::web::{cookies, return_to};

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
    // The sign-in just read the user from the directory; what this process cached about
    // them may be older (a change from another process the feed has not brought yet).
    gw.access.invalidate(&user.id).await;
    let session = new_session(rt, identity, user);
    let max_age = session.expires_at - session.created_at;
    let id = gw.sessions.create(session).await?;
    let mut resp = complete(gw, rt, id.clone(), return_to, binding).await?;
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(&rt.cookies.session, &id.to_cookie(), max_age),
    );
    Ok(resp)
}

pub(super) fn new_session(rt: &Runtime, identity: Identity, user: &User) -> Session {
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
    Session::from(NewSession {
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
        mfa: None,
    })
}

/// Sends a signed-in browser on to `return_to`, through a handoff when it is another host.
pub(super) async fn complete(
    gw: &Gateway,
    rt: &Runtime,
    id: SessionId,
    return_to: &Url,
    binding: Option<&str>,
) -> Result<Response<Body>, GatewayError> {
    let authority = return_to::authority_of(return_to).unwrap_or_default();
    if rt.is_login_host(&authority) {
        return Ok(response::redirect(return_to.as_str()));
    }
    let Some(binding) = binding else {
        // No binding from the app host: go there; it will bounce back with one.
        return Ok(response::redirect(return_to.as_str()));
    };
    let handoff = Handoff {
        session: id,
        authority: authority.clone(),
        binding: binding.to_string(),
        return_to: return_to.clone(),
    };
    let code = gw.flows.put(Flow::Handoff(handoff)).await?;
    let mut target = return_to.clone();
    target.set_path("/.borderless/handoff");
    target.set_query(None);
    target.set_fragment(None);
    target.query_pairs_mut().append_pair("code", &code);
    Ok(response::redirect(target.as_str()))
}
