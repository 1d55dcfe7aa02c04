//! Passkeys (WebAuthn) as the gateway's phishing-resistant factor: the page that creates
//! one (first time) or uses one, with the ceremony's options from webauthn-rs and its state
//! kept server-side in the flow store; the POST that finishes it. Bound to the login host's
//! origin, a passkey cannot be relayed by a look-alike site, which is what an app's
//! `phishing_resistant` requirement asks for.

use askama::Template;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Uuid,
};

use super::super::flow::{Flow, PasskeyCeremony, PendingPasskey};
use super::{StepUp, step_up, stepped_up, wrong};
use crate::directory::mfa::seal_context;
use crate::error::GatewayError;
use crate::policy::Strength;
use crate::response::{self, Body};
use crate::state::{Gateway, RequestCtx, Runtime};

#[derive(Template)]
#[template(path = "passkey.html")]
struct PasskeyPage<'a> {
    register: bool,
    app: &'a str,
    account: &'a str,
    /// The ceremony's public options, as JSON for the page's script.
    options: String,
    hidden: Vec<(&'static str, String)>,
    error: Option<&'a str>,
    request_id: &'a str,
}

/// The page's script allows itself and nothing else; its form leads on to the app's host.
const PAGE_CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/// `GET /passkey.js`.
pub(in crate::signin) fn script() -> Response<Body> {
    let mut r = response::text(StatusCode::OK, include_str!("passkey.js"));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

/// The user's passkeys, opened.
async fn passkeys(
    gw: &Gateway,
    rt: &Runtime,
    user_id: &str,
) -> Result<Vec<(String, Passkey)>, GatewayError> {
    let sealer = rt.mfa_sealer()?;
    let mut out = Vec::new();
    for (id, sealed) in gw.directory.mfa_passkeys(user_id).await? {
        let json = sealer
            .open(&sealed, &seal_context(user_id, &id))
            .map_err(|e| GatewayError::internal(e.to_string()))?;
        let pk: Passkey = serde_json::from_slice(&json)
            .map_err(|e| GatewayError::internal(format!("a stored passkey: {e}")))?;
        out.push((id, pk));
    }
    Ok(out)
}

/// Starts a ceremony — creating the user's first passkey, or using one — and shows it.
pub(super) async fn page(
    gw: &Gateway,
    rt: &Runtime,
    ctx: &RequestCtx,
    s: &StepUp,
    error: Option<&str>,
) -> Result<Response<Body>, GatewayError> {
    let webauthn = rt.webauthn()?;
    let existing = passkeys(gw, rt, &s.user.id).await?;
    let internal = |e: webauthn_rs::prelude::WebauthnError| GatewayError::internal(e.to_string());
    let state = |v: Result<serde_json::Value, serde_json::Error>| {
        v.map_err(|e| GatewayError::internal(e.to_string()))
    };
    let (register, options, ceremony) = if existing.is_empty() {
        let user_uuid = Uuid::parse_str(&s.user.id)
            .map_err(|_| GatewayError::internal("a user id that is not a UUID"))?;
        let (ccr, reg) = webauthn
            .start_passkey_registration(user_uuid, &s.user.mail, &s.user.display_name, None)
            .map_err(internal)?;
        (
            true,
            serde_json::to_string(&ccr).map_err(|e| GatewayError::internal(e.to_string()))?,
            PasskeyCeremony::Register(state(serde_json::to_value(&reg))?),
        )
    } else {
        let keys: Vec<Passkey> = existing.into_iter().map(|(_, pk)| pk).collect();
        let (rcr, auth) = webauthn
            .start_passkey_authentication(&keys)
            .map_err(internal)?;
        (
            false,
            serde_json::to_string(&rcr).map_err(|e| GatewayError::internal(e.to_string()))?,
            PasskeyCeremony::Authenticate(state(serde_json::to_value(&auth))?),
        )
    };
    let flow = gw
        .flows
        .put(Flow::AwaitingPasskey(PendingPasskey {
            user_id: s.user.id.clone(),
            ceremony,
        }))
        .await?;
    let mut hidden = s.hidden.clone();
    hidden.push(("flow", flow));
    let html = PasskeyPage {
        register,
        app: &s.app_name,
        account: &s.user.mail,
        // Inside a JSON <script> block: a `</` in a value must not close it.
        options: options.replace("</", "<\\/"),
        hidden,
        error,
        request_id: &ctx.request_id,
    }
    .render()?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut resp = response::html(status, html);
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `POST /passkey`: the browser's answer to the ceremony its page started.
pub(in crate::signin) async fn finish(
    gw: &Gateway,
    rt: &Runtime,
    req: Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let headers = req.headers().clone();
    // A WebAuthn answer is a few kilobytes of base64.
    let params = super::super::read_unique_form(req, 32 * 1024).await?;
    let s = match step_up(gw, rt, &headers, &params).await? {
        Ok(s) => s,
        Err(resp) => return Ok(resp),
    };
    // Taken (deleted) before anything else: a ceremony answers once.
    let pending = match params.get("flow") {
        Some(f) => gw.flows.take_passkey(f).await?,
        None => None,
    };
    let Some(pending) = pending.filter(|p| p.user_id == s.user.id) else {
        return page(
            gw,
            rt,
            ctx,
            &s,
            Some("That passkey step expired. Try again."),
        )
        .await;
    };
    let answer = params.get("credential").map(String::as_str).unwrap_or("");
    let webauthn = rt.webauthn()?;
    let sealer = rt.mfa_sealer()?;
    let outcome: Result<(), String> = match pending.ceremony {
        PasskeyCeremony::Register(state) => {
            let state: PasskeyRegistration =
                serde_json::from_value(state).map_err(|e| GatewayError::internal(e.to_string()))?;
            match serde_json::from_str::<RegisterPublicKeyCredential>(answer)
                .map_err(|e| e.to_string())
                .and_then(|c| {
                    webauthn
                        .finish_passkey_registration(&c, &state)
                        .map_err(|e| e.to_string())
                }) {
                Ok(pk) => {
                    let id = crate::directory::new_id();
                    let json = serde_json::to_vec(&pk)
                        .map_err(|e| GatewayError::internal(e.to_string()))?;
                    let sealed = sealer.seal(&json, &seal_context(&s.user.id, &id));
                    gw.directory
                        .mfa_add_passkey(&s.user.id, &id, &sealed)
                        .await?;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        PasskeyCeremony::Authenticate(state) => {
            let state: PasskeyAuthentication =
                serde_json::from_value(state).map_err(|e| GatewayError::internal(e.to_string()))?;
            match serde_json::from_str::<PublicKeyCredential>(answer)
                .map_err(|e| e.to_string())
                .and_then(|c| {
                    webauthn
                        .finish_passkey_authentication(&c, &state)
                        .map_err(|e| e.to_string())
                }) {
                Ok(result) => {
                    // Keep the authenticator's counter, so a cloned key shows.
                    for (id, mut pk) in passkeys(gw, rt, &s.user.id).await? {
                        if pk.update_credential(&result).is_some_and(|changed| changed) {
                            let json = serde_json::to_vec(&pk)
                                .map_err(|e| GatewayError::internal(e.to_string()))?;
                            let sealed = sealer.seal(&json, &seal_context(&s.user.id, &id));
                            gw.directory.mfa_update_passkey(&id, &sealed).await?;
                        }
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    };
    if let Err(why) = outcome {
        tracing::info!(target: "borderless::security", user = %s.user.id, why, "passkey refused");
        return match wrong(gw, &s).await? {
            Err(until) => super::challenge(rt, ctx, &s, None, Some(until)),
            Ok(_) => {
                page(
                    gw,
                    rt,
                    ctx,
                    &s,
                    Some("That passkey did not check out. Try again."),
                )
                .await
            }
        };
    }
    stepped_up(gw, rt, &s, Strength::PhishingResistant, "passkey").await
}
