//! `/mfa` on the login host: the step-up. A signed-in user whose app needs MFA the session
//! does not have comes here (not to a new sign-in) and proves a second factor: the code of
//! the TOTP authenticator they enrolled, one of their recovery codes, or — the first time —
//! enrolls one (QR code and manual key, confirmed by its first code, then ten recovery codes
//! shown once). An app that needs phishing resistance (`s=phishing_resistant`) asks for a
//! passkey instead (`passkey`). On success the session gains the gateway's MFA under a
//! **new id** (the old one is revoked) and the browser goes on to the app through the usual
//! handoff.
//!
//! ```text
//! app ──MfaRequired──302──▶ /mfa?rd=…&b=…[&s=phishing_resistant]
//!   TOTP:    GET ─▶ enroll (QR) | challenge ─POST code─▶ right: rotate ─▶ handoff ─▶ app
//!                                                         wrong: count (5 → lock-out, doubling)
//!   passkey: GET ─▶ create | use (WebAuthn in the page) ─POST /passkey─▶ rotate ─▶ app
//! ```

mod passkey;

pub(super) use passkey::{finish as passkey_finish, script as passkey_script};

use std::collections::HashMap;

use askama::Template;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::complete::complete;
use super::start::Target;
use super::{page_with_csp, read_unique_form};
use crate::directory::User;
use crate::directory::mfa::{Attempts, StoredTotp, seal_context};
use crate::error::GatewayError;
use crate::mfa::totp::{self, Check};
use crate::mfa::{MAX_FAILURES, recovery};
use crate::policy::Strength;
use crate::response::{self, Body};
use crate::session::{Session, SessionId, now_unix};
use crate::state::{Gateway, RequestCtx, Runtime, SessionCheck};
use crate::web::{cookies, query};

#[derive(Template)]
#[template(path = "mfa_enroll.html")]
struct EnrollPage<'a> {
    app: &'a str,
    account: &'a str,
    qr: String,
    manual_key: String,
    hidden: &'a [(&'static str, String)],
    error: Option<&'a str>,
    request_id: &'a str,
}

#[derive(Template)]
#[template(path = "mfa_challenge.html")]
struct ChallengePage<'a> {
    app: &'a str,
    account: &'a str,
    issuer: &'a str,
    org: &'a str,
    hidden: &'a [(&'static str, String)],
    error: Option<&'a str>,
    locked_until: Option<String>,
    request_id: &'a str,
}

#[derive(Template)]
#[template(path = "mfa_recovery.html")]
struct RecoveryPage<'a> {
    app: &'a str,
    codes: &'a [String],
    continue_to: &'a str,
    request_id: &'a str,
}

/// Everything one step-up request is about.
struct StepUp {
    target: Target,
    /// What the app asks for.
    strength: Strength,
    app_name: String,
    session_id: SessionId,
    session: std::sync::Arc<Session>,
    user: User,
    /// The target as hidden form fields, so the POST comes back to the same place.
    hidden: Vec<(&'static str, String)>,
}

/// The step-up's inputs from the query (GET) or the form (POST), or the response that
/// answers instead: sign in first, or a refusal.
async fn step_up(
    gw: &Gateway,
    rt: &Runtime,
    req_headers: &http::HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Result<StepUp, Response<Body>>, GatewayError> {
    let target = Target::parse(gw, rt, params).await?;
    let strength = match params.get("s").map(String::as_str) {
        None => Strength::Mfa,
        Some(s) => Strength::parse(s).ok_or(GatewayError::BadRequest("unknown strength"))?,
    };
    let (session_id, session) = match gw.session_check(rt, req_headers, None).await? {
        SessionCheck::Admitted(id, s) => (id, s),
        // Not signed in here (or no longer): sign in, then the app sends the browser back.
        _ => {
            let url = format!("/.borderless/signin?{}", target.query(None));
            return Ok(Err(response::redirect(&url)));
        }
    };
    let user = gw
        .directory
        .user(session.user_key())
        .await?
        .ok_or(GatewayError::Unauthorized)?;
    let app_name = target
        .app(rt)
        .map(|a| a.display_name.clone())
        .unwrap_or_else(|| rt.config.directory.organization.clone());
    let mut hidden = vec![("rd", target.return_to.to_string())];
    if let Some(b) = &target.binding {
        hidden.push(("b", b.clone()));
    }
    if strength != Strength::Mfa {
        hidden.push(("s", strength.name().to_string()));
    }
    Ok(Ok(StepUp {
        target,
        strength,
        app_name,
        session_id,
        session,
        user,
        hidden,
    }))
}

/// `GET /mfa`: the challenge, or the enrollment of a first authenticator.
pub(super) async fn page(
    gw: &Gateway,
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let params = query::parse_unique(req.uri().query())
        .map_err(|_| GatewayError::BadRequest("a parameter was repeated"))?;
    let s = match step_up(gw, rt, req.headers(), &params).await? {
        Ok(s) => s,
        Err(resp) => return Ok(resp),
    };
    if let Attempts::LockedUntil(until) = gw.directory.mfa_attempts(&s.user.id).await? {
        return challenge(rt, ctx, &s, None, Some(until));
    }
    let totp = gw.directory.mfa_totp(&s.user.id).await?;
    if s.strength == Strength::PhishingResistant {
        // A first passkey is added on the strength of the user's authenticator when they
        // have one (a password alone must not be enough to plant a passkey): its code first.
        let needs_code = totp.as_ref().is_some_and(|t| t.confirmed) && s.session.mfa.is_none();
        if !needs_code || !gw.directory.mfa_passkeys(&s.user.id).await?.is_empty() {
            return passkey::page(gw, rt, ctx, &s, None).await;
        }
    }
    match totp {
        Some(t) if t.confirmed => challenge(rt, ctx, &s, None, None),
        Some(t) => enroll(rt, ctx, &s, &t, None),
        None => {
            let secret = totp::new_secret();
            let id = crate::directory::new_id();
            let sealed = rt
                .mfa_sealer()?
                .seal(&secret, &seal_context(&s.user.id, &id));
            gw.directory
                .mfa_begin_totp(&s.user.id, &id, &sealed)
                .await?;
            let t = StoredTotp {
                id,
                sealed_secret: sealed,
                confirmed: false,
                last_step: 0,
            };
            enroll(rt, ctx, &s, &t, None)
        }
    }
}

/// `POST /mfa`: a code, for the challenge or to confirm the enrollment.
pub(super) async fn submit(
    gw: &Gateway,
    rt: &Runtime,
    req: Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let headers = req.headers().clone();
    let params = read_unique_form(req, 4096).await?;
    let s = match step_up(gw, rt, &headers, &params).await? {
        Ok(s) => s,
        Err(resp) => return Ok(resp),
    };
    let code = params.get("code").map(String::as_str).unwrap_or("").trim();
    if let Attempts::LockedUntil(until) = gw.directory.mfa_attempts(&s.user.id).await? {
        return challenge(rt, ctx, &s, None, Some(until));
    }
    let Some(t) = gw.directory.mfa_totp(&s.user.id).await? else {
        // Reset by an admin while the page was open: start again.
        return Ok(response::redirect(&format!(
            "/.borderless/mfa?{}",
            s.target.query(None)
        )));
    };
    let secret = rt
        .mfa_sealer()?
        .open(&t.sealed_secret, &seal_context(&s.user.id, &t.id))
        .map_err(|e| GatewayError::internal(e.to_string()))?;
    let auth = totp::authenticator(&secret, &rt.config.mfa.issuer, &s.user.mail)
        .ok_or_else(|| GatewayError::internal("a stored TOTP secret is unusable"))?;
    let now = now_unix();

    if !t.confirmed {
        // Enrollment: the first code proves the app holds the secret.
        return match totp::check(&auth, code, now, t.last_step) {
            Check::Accepted(step) => {
                let codes = recovery::generate();
                let hashes: Vec<String> = codes.iter().map(|c| recovery::hash(c)).collect();
                if !gw
                    .directory
                    .mfa_confirm_totp(&s.user.id, &t.id, step, &hashes)
                    .await?
                {
                    return Err(GatewayError::Notice {
                        status: StatusCode::CONFLICT,
                        title: "Already set up".into(),
                        message: "This authenticator was set up in another window. Open the application again.".into(),
                    });
                }
                gw.directory.mfa_succeeded(&s.user.id).await?;
                let (_, cookie) = rotate(gw, rt, &s, Strength::Mfa, "totp").await?;
                let mut resp = page_with_csp(
                    StatusCode::OK,
                    RecoveryPage {
                        app: &s.app_name,
                        codes: &codes,
                        continue_to: s.target.return_to.as_str(),
                        request_id: &ctx.request_id,
                    }
                    .render(),
                )?;
                resp.headers_mut().append(header::SET_COOKIE, cookie);
                // Shown once: never from a cache.
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                Ok(resp)
            }
            Check::Replayed | Check::Wrong => {
                let error = wrong(gw, &s).await?;
                match error {
                    Err(until) => challenge(rt, ctx, &s, None, Some(until)),
                    Ok(msg) => enroll(rt, ctx, &s, &t, Some(&msg)),
                }
            }
        };
    }

    let proven = if recovery::looks_like(code) {
        gw.directory
            .mfa_spend_recovery_code(&s.user.id, &recovery::hash(code))
            .await?
    } else {
        match totp::check(&auth, code, now, t.last_step) {
            // Spent atomically: a second window with the same code loses here.
            Check::Accepted(step) => gw.directory.mfa_spend_step(&t.id, step).await?,
            Check::Replayed | Check::Wrong => false,
        }
    };
    if !proven {
        return match wrong(gw, &s).await? {
            Err(until) => challenge(rt, ctx, &s, None, Some(until)),
            Ok(msg) => challenge(rt, ctx, &s, Some(&msg), None),
        };
    }
    if s.strength == Strength::PhishingResistant {
        // The code was the way to add a passkey: on to it, with the rotated session.
        gw.directory.mfa_succeeded(&s.user.id).await?;
        let (_, cookie) = rotate(gw, rt, &s, Strength::Mfa, "totp").await?;
        let mut resp = response::redirect(&format!("/.borderless/mfa?{}", s.mfa_query()));
        resp.headers_mut().append(header::SET_COOKIE, cookie);
        return Ok(resp);
    }
    stepped_up(gw, rt, &s, Strength::Mfa, "totp").await
}

/// A second factor proven: the count starts again, the session is rotated with it, and the
/// browser goes on to the app (through a handoff when the app is on another host).
async fn stepped_up(
    gw: &Gateway,
    rt: &Runtime,
    s: &StepUp,
    strength: Strength,
    method: &str,
) -> Result<Response<Body>, GatewayError> {
    gw.directory.mfa_succeeded(&s.user.id).await?;
    let (new_id, cookie) = rotate(gw, rt, s, strength, method).await?;
    let mut resp = complete(
        gw,
        rt,
        new_id,
        &s.target.return_to,
        s.target.binding.as_deref(),
    )
    .await?;
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(resp)
}

impl StepUp {
    /// The query that brings the browser back to this step.
    fn mfa_query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.extend_pairs(self.hidden.iter().map(|(k, v)| (*k, v.as_str())));
        q.finish()
    }
}

/// Counts a wrong code: the message to show, or the end of a lock-out.
async fn wrong(gw: &Gateway, s: &StepUp) -> Result<Result<String, i64>, GatewayError> {
    tracing::info!(target: "borderless::security", user = %s.user.id, "wrong MFA code");
    Ok(match gw.directory.mfa_failed(&s.user.id).await? {
        Attempts::LockedUntil(until) => Err(until),
        Attempts::Open { failures } => Ok(format!(
            "That code is not right, or was already used. {} more {} before a pause.",
            MAX_FAILURES - failures,
            if MAX_FAILURES - failures == 1 {
                "try"
            } else {
                "tries"
            }
        )),
    })
}

/// The session again, with the gateway's MFA, under a new id; the old id ends. Returns the
/// new id and the login host's cookie for it.
async fn rotate(
    gw: &Gateway,
    rt: &Runtime,
    s: &StepUp,
    strength: Strength,
    method: &str,
) -> Result<(SessionId, HeaderValue), GatewayError> {
    let now = now_unix();
    // RFC 8176 method values for the session's `amr`.
    let method_amr = if method == "passkey" { "hwk" } else { "otp" };
    let id = gw
        .sessions
        .create(s.session.with_mfa(strength, now, method_amr))
        .await?;
    gw.sessions.revoke(&s.session_id).await?;
    if let Err(e) = gw
        .directory
        .audit(
            &crate::directory::Actor::Gateway,
            "mfa.step_up",
            Some(&s.user.id),
            serde_json::json!({ "method": method, "strength": strength.name() }),
        )
        .await
    {
        tracing::error!("audit write failed: {e}");
    }
    let max_age = (s.session.expires_at - now).max(0);
    let cookie = cookies::set(&rt.cookies.session, &id.to_cookie(), max_age);
    Ok((id, cookie))
}

fn enroll(
    rt: &Runtime,
    ctx: &RequestCtx,
    s: &StepUp,
    t: &StoredTotp,
    error: Option<&str>,
) -> Result<Response<Body>, GatewayError> {
    let secret = rt
        .mfa_sealer()?
        .open(&t.sealed_secret, &seal_context(&s.user.id, &t.id))
        .map_err(|e| GatewayError::internal(e.to_string()))?;
    let auth = totp::authenticator(&secret, &rt.config.mfa.issuer, &s.user.mail)
        .ok_or_else(|| GatewayError::internal("a new TOTP secret is unusable"))?;
    let url = totp::otpauth_url(&auth)
        .ok_or_else(|| GatewayError::internal("no otpauth URL for a TOTP secret"))?;
    let mut resp = page_with_csp(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        EnrollPage {
            app: &s.app_name,
            account: &s.user.mail,
            qr: totp::qr_svg(&url).unwrap_or_default(),
            manual_key: totp::manual_key(&secret),
            hidden: &s.hidden,
            error,
            request_id: &ctx.request_id,
        }
        .render(),
    )?;
    // The page carries the secret: never from a cache.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

fn challenge(
    rt: &Runtime,
    ctx: &RequestCtx,
    s: &StepUp,
    error: Option<&str>,
    locked_until: Option<i64>,
) -> Result<Response<Body>, GatewayError> {
    let status = match (locked_until, error) {
        (Some(_), _) => StatusCode::TOO_MANY_REQUESTS,
        (None, Some(_)) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    page_with_csp(
        status,
        ChallengePage {
            app: &s.app_name,
            account: &s.user.mail,
            issuer: &rt.config.mfa.issuer,
            org: &rt.config.directory.organization,
            hidden: &s.hidden,
            error,
            locked_until: locked_until.map(|u| {
                httpdate::fmt_http_date(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(u.max(0) as u64),
                )
            }),
            request_id: &ctx.request_id,
        }
        .render(),
    )
}
