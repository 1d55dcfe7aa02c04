//! Continuous access: partners' Shared Signals (OpenID SSF / CAEP) transmitters push
//! Security Event Tokens to `POST /.borderless/ssf/events` on the login host (RFC 8935 push
//! delivery). A verified event about one of that partner's guests acts at once, on every
//! gateway instance through the revocation feed:
//!
//! | event | effect |
//! |---|---|
//! | `session-revoked`, `credential-change` | every session of the guest ends |
//! | `assurance-level-change`, `change_direction: decrease` | the partner's MFA from before it no longer counts: apps that need MFA ask for the gateway's own |
//!
//! A transmitter speaks only about its own partner's guests — those the partner settings
//! match to its entry, by the issuer they signed in with or their domain, exactly as
//! Conditional Access does; an event about anyone else is accepted and ignored, so the
//! answer says nothing about who is a guest here. Forged, replayed, stale and wrongly addressed events
//! are refused with the RFC 8935 error codes.

pub mod keys;
pub mod verify;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use crate::config::SignalReceiver;
use crate::directory::{Actor, User};
use crate::error::GatewayError;
use crate::response::{self, Body};
use crate::state::{Gateway, RequestCtx, Runtime};
use verify::SetError;

pub use keys::KeyCache;

const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const MAX_SET_BYTES: usize = 64 * 1024;

/// `POST /.borderless/ssf/events`.
pub async fn receive(
    gw: &Gateway,
    rt: &Runtime,
    req: Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    if !rt.is_login_host(&ctx.host) {
        return Err(GatewayError::NotFound);
    }
    let is_set = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/secevent+jwt"));
    if !is_set {
        return Ok(refuse(
            SetError::InvalidRequest,
            "send Content-Type: application/secevent+jwt",
        ));
    }
    let body: Bytes = match Limited::new(req.into_body(), MAX_SET_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(refuse(SetError::InvalidRequest, "the SET is too large")),
    };
    let Ok(token) = std::str::from_utf8(&body).map(str::trim) else {
        return Ok(refuse(SetError::InvalidRequest, "not a JWT"));
    };
    match accept(gw, rt, token).await? {
        Ok(()) => {
            let mut r = Response::new(response::empty());
            *r.status_mut() = StatusCode::ACCEPTED;
            Ok(r)
        }
        Err((e, why)) => {
            tracing::warn!(target: "borderless::security", code = e.code(), why, "security event refused");
            Ok(refuse(e, why))
        }
    }
}

type Refused = (SetError, &'static str);

async fn accept(
    gw: &Gateway,
    rt: &Runtime,
    token: &str,
) -> Result<Result<(), Refused>, GatewayError> {
    let issuer = match verify::claimed_issuer(token) {
        Ok(i) => i,
        Err(e) => return Ok(Err((e, "not a SET"))),
    };
    let Some(receiver) = rt.config.signals.iter().find(|r| r.issuer == issuer) else {
        return Ok(Err((
            SetError::InvalidIssuer,
            "no partner sends events as this issuer",
        )));
    };
    let kid = match verify::key_id(token) {
        Ok(k) => k,
        Err(e) => return Ok(Err((e, "unreadable header"))),
    };
    let keys = match rt.signal_keys.keys(&receiver.keys, kid.as_deref()).await {
        Ok(k) => k,
        Err(why) => {
            tracing::warn!(partner = %receiver.partner, "transmitter keys unavailable: {why}");
            return Err(GatewayError::IdpUnavailable(why));
        }
    };
    let now = crate::db::now();
    let claims = match verify::verify(token, receiver, &keys, now) {
        Ok(c) => c,
        Err(e) => return Ok(Err((e, "the SET did not verify"))),
    };
    // Each SET once: kept for as long as a SET is accepted at all.
    let first = gw
        .directory
        .first_use_of_assertion(
            &format!("ssf:{}", claims.iss),
            &claims.jti,
            claims.iat + verify::MAX_AGE_SECS + verify::IAT_SKEW_SECS,
        )
        .await?;
    if !first {
        return Ok(Err((
            SetError::InvalidRequest,
            "this jti was already received",
        )));
    }
    for (event_type, payload) in &claims.events {
        let Some(kind) = event_type.strip_prefix(CAEP) else {
            continue;
        };
        let subject = payload.get("subject").or(claims.sub_id.as_ref());
        let Some(user) = subject_user(gw, rt, receiver, subject).await? else {
            audit_ignored(gw, receiver, kind, &claims.jti).await;
            continue;
        };
        act(gw, receiver, kind, payload, &user, &claims.jti, now).await?;
    }
    Ok(Ok(()))
}

/// The directory user an event's subject names, if it is one of this partner's guests.
async fn subject_user(
    gw: &Gateway,
    rt: &Runtime,
    receiver: &SignalReceiver,
    subject: Option<&Value>,
) -> Result<Option<User>, GatewayError> {
    let Some(s) = subject else { return Ok(None) };
    let str_of = |k: &str| s.get(k).and_then(Value::as_str);
    let user = match str_of("format") {
        Some("iss_sub") => match (str_of("iss"), str_of("sub")) {
            (Some(iss), Some(sub)) => gw.directory.user_by_identity(iss, sub).await?,
            _ => None,
        },
        Some("email") => match str_of("email") {
            Some(mail) => {
                gw.directory
                    .user_by_mail(&mail.to_ascii_lowercase())
                    .await?
            }
            None => None,
        },
        _ => None,
    };
    Ok(user.filter(|u| belongs_to(rt, receiver, u)))
}

/// Whether the partner settings match `u` to the transmitter's partner entry (guests only).
fn belongs_to(rt: &Runtime, receiver: &SignalReceiver, u: &User) -> bool {
    let partners = &rt.config.policies.partners;
    u.user_type == crate::directory::UserType::Guest
        && partners.position(&receiver.partner).is_some()
        && partners.find(u.issuer.as_deref().unwrap_or(""), &u.mail)
            == partners.position(&receiver.partner)
}

async fn act(
    gw: &Gateway,
    receiver: &SignalReceiver,
    kind: &str,
    payload: &Value,
    user: &User,
    jti: &str,
    now: i64,
) -> Result<(), GatewayError> {
    let actor = Actor::Partner(receiver.partner.clone());
    let detail = serde_json::json!({
        "partner": receiver.partner,
        "event": kind,
        "jti": jti,
        "reason": payload.get("reason_admin").or(payload.get("reason_user")),
    });
    match kind {
        "session-revoked" | "credential-change" => {
            let action = if kind == "session-revoked" {
                "ssf.session_revoked"
            } else {
                "ssf.credential_change"
            };
            gw.directory
                .end_sessions_for_signal(&actor, &user.id, action, detail)
                .await?;
        }
        "assurance-level-change" => {
            let decrease =
                payload.get("change_direction").and_then(Value::as_str) == Some("decrease");
            if !decrease {
                return Ok(());
            }
            // `event_timestamp` says when it happened at the partner; never in our future.
            let at = payload
                .get("event_timestamp")
                .and_then(Value::as_i64)
                .map_or(now, |t| t.min(now));
            gw.directory
                .lower_assurance(&actor, &user.id, at, detail)
                .await?;
        }
        _ => return Ok(()),
    }
    // This instance at once; the others through the revocation feed.
    gw.sessions.forget_user(&user.id);
    gw.access.invalidate(&user.id).await;
    tracing::info!(target: "borderless::security", partner = %receiver.partner, event = kind, user = %user.id, "security event applied");
    Ok(())
}

async fn audit_ignored(gw: &Gateway, receiver: &SignalReceiver, kind: &str, jti: &str) {
    let detail = serde_json::json!({ "partner": receiver.partner, "event": kind, "jti": jti });
    if let Err(e) = gw
        .directory
        .audit(
            &Actor::Partner(receiver.partner.clone()),
            "ssf.unknown_subject",
            None,
            detail,
        )
        .await
    {
        tracing::error!("audit write failed: {e}");
    }
}

/// RFC 8935 §2.4: 400 with `{"err": code, "description": …}`.
fn refuse(e: SetError, why: &str) -> Response<Body> {
    response::json(
        StatusCode::BAD_REQUEST,
        serde_json::json!({ "err": e.code(), "description": why }).to_string(),
    )
}
