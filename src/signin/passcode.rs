//! The email passcode pages on the login host:
//!
//! ```text
//! /signin/{idp} ─▶ address page ─POST /passcode/send─▶ code page ─POST /passcode/verify─▶ admission
//! ```
//!
//! The flow (`PendingPasscode`) is bound to the browser like every sign-in: its id is in
//! the flow cookie and in the form, and both must agree. The page after "send" is the same
//! whether or not the address may sign in, and the code is issued and mailed by a task of
//! its own, so neither the answer nor its timing tells a stranger who is a guest. Codes are
//! mailed only to guests the directory knows; anyone else gets the same page and no mail.

use askama::Template;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::callback::{Next, proven};
use super::flow::{Flow, PendingPasscode, random_token};
use super::start::Target;
use super::{open_steps_cookie, read_form};
use crate::config::PASSCODE_ISSUER;
use crate::directory::address::Address;
use crate::directory::passcodes::{Checked, Issued, Lockout};
use crate::directory::{Directory, UserType};
use crate::error::GatewayError;
use crate::idp::Provider;
use crate::idp::passcode::{PasscodeProvider, normalize_code};
use crate::mail::{Mailer, PasscodeMail};
use crate::response::{self, Body};
use crate::session::now_unix;
use crate::state::{Gateway, RequestCtx, Runtime};
use crate::web::cookies;

#[derive(Template)]
#[template(path = "passcode_email.html")]
struct EmailPage<'a> {
    flow: &'a str,
    email: &'a str,
    error: Option<String>,
    request_id: &'a str,
}

#[derive(Template)]
#[template(path = "passcode_code.html")]
struct CodePage<'a> {
    flow: &'a str,
    email: &'a str,
    minutes: u64,
    length: u32,
    error: Option<String>,
    request_id: &'a str,
}

/// `/signin/{idp}` for a passcode provider: a new flow and the address page (filled in with
/// what the sign-in page was told; sending stays a POST of the guest's).
pub(super) async fn start(
    gw: &Gateway,
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
    provider: &PasscodeProvider,
    target: Target,
    prefill: Option<&str>,
) -> Result<Response<Body>, GatewayError> {
    let id = random_token();
    let pending = pending(provider, target);
    gw.flows
        .put_as(&id, Flow::AwaitingPasscode(pending))
        .await?;
    gw.metrics.signin(&provider.config.id, "started");
    let html = EmailPage {
        flow: &id,
        email: prefill.unwrap_or(""),
        error: None,
        request_id: &ctx.request_id,
    }
    .render()?;
    let open = cookies::list(req.headers(), &rt.cookies.flow);
    Ok(with_flow_cookie(
        rt,
        form_page(StatusCode::OK, html),
        &cookies::with(&open, &id),
    ))
}

/// A new passcode flow at `provider`, on its way to `target`, no address yet.
fn pending(provider: &PasscodeProvider, target: Target) -> PendingPasscode {
    PendingPasscode {
        idp: provider.config.id.clone(),
        email: None,
        redeem: target.redeem_id(),
        return_to: target.return_to,
        binding: target.binding,
    }
}

/// `POST /passcode/send`: the address (first time or "send a new code").
pub(super) async fn send(
    gw: &Gateway,
    rt: &Runtime,
    req: Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let client = rt.client_ip(req.headers(), ctx);
    let (id, pending, form) = take_flow(gw, rt, req).await?;
    let provider = passcode_provider(rt, &pending)?;
    let typed = field(&form, "email").unwrap_or_default();
    let address = match Address::parse(typed.trim()) {
        Ok(a) => a,
        Err(_) => {
            let html = EmailPage {
                flow: &id,
                email: &typed,
                error: Some("Enter an email address like name@example.com.".into()),
                request_id: &ctx.request_id,
            }
            .render()?;
            gw.flows
                .put_as(&id, Flow::AwaitingPasscode(pending))
                .await?;
            return Ok(form_page(StatusCode::BAD_REQUEST, html));
        }
    };
    send_code(gw, rt, ctx, client, &id, pending, provider, &address).await
}

/// Home-realm discovery sent this address to a passcode provider: a new flow that already
/// knows it, and the code on its way.
pub(super) async fn start_with_address(
    gw: &Gateway,
    rt: &Runtime,
    headers: &http::HeaderMap,
    ctx: &RequestCtx,
    provider: &PasscodeProvider,
    target: Target,
    address: &Address,
) -> Result<Response<Body>, GatewayError> {
    let client = rt.client_ip(headers, ctx);
    let id = random_token();
    let pending = pending(provider, target);
    gw.metrics.signin(&provider.config.id, "started");
    let resp = send_code(gw, rt, ctx, client, &id, pending, provider, address).await?;
    let open = cookies::list(headers, &rt.cookies.flow);
    Ok(with_flow_cookie(rt, resp, &cookies::with(&open, &id)))
}

/// Mails a code to `address` unless a quota is used up, and stores the flow (now with the
/// address) under `id`; the code page either way.
#[allow(clippy::too_many_arguments)]
async fn send_code(
    gw: &Gateway,
    rt: &Runtime,
    ctx: &RequestCtx,
    client: std::net::IpAddr,
    id: &str,
    mut pending: PendingPasscode,
    provider: &PasscodeProvider,
    address: &Address,
) -> Result<Response<Body>, GatewayError> {
    let limited = rt.rate_limits.passcode(client, address.as_str());
    pending.email = Some(address.as_str().to_string());
    let code_page = |error: Option<String>| CodePage {
        flow: id,
        email: address.as_str(),
        minutes: provider.settings.code_ttl.as_secs() / 60,
        length: provider.settings.code_length,
        error,
        request_id: &ctx.request_id,
    };
    let resp = match limited {
        Err(l) => {
            let minutes = l.retry_after_secs.div_ceil(60);
            let html = code_page(Some(format!(
                "Too many codes were requested. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            )))
            .render()?;
            let mut r = form_page(StatusCode::TOO_MANY_REQUESTS, html);
            if let Ok(v) = HeaderValue::from_str(&l.retry_after_secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Ok(()) => {
            let mailer = rt.inviter.mailer().cloned().ok_or_else(|| {
                GatewayError::internal("a passcode provider without [smtp] passed validation")
            })?;
            let d = &rt.config.directory;
            let mail = Delivery {
                directory: gw.directory.clone(),
                mailer,
                address: address.clone(),
                code: provider.new_code(),
                ttl_secs: provider.settings.code_ttl.as_secs() as i64,
                organization: d.organization.clone(),
                logo_url: d.logo_url.clone(),
            };
            tokio::spawn(mail.run());
            gw.metrics.signin(&provider.config.id, "passcode_requested");
            form_page(StatusCode::OK, code_page(None).render()?)
        }
    };
    gw.flows.put_as(id, Flow::AwaitingPasscode(pending)).await?;
    Ok(resp)
}

/// `POST /passcode/verify`: the typed code, checked against the address's newest one.
pub(super) async fn verify(
    gw: &Gateway,
    rt: &Runtime,
    req: Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let open: Vec<String> = cookies::list(req.headers(), &rt.cookies.flow)
        .into_iter()
        .map(str::to_string)
        .collect();
    let (id, pending, form) = take_flow(gw, rt, req).await?;
    let provider = passcode_provider(rt, &pending)?;
    let Some(email) = pending.email.clone() else {
        // A code before any address: back to the address page.
        let html = EmailPage {
            flow: &id,
            email: "",
            error: Some("Enter your email address first.".into()),
            request_id: &ctx.request_id,
        }
        .render()?;
        gw.flows
            .put_as(&id, Flow::AwaitingPasscode(pending))
            .await?;
        return Ok(form_page(StatusCode::BAD_REQUEST, html));
    };
    let s = &provider.settings;
    let typed = field(&form, "code").unwrap_or_default();
    let checked = match normalize_code(&typed, s.code_length) {
        // A typo in the shape is not a guess: it costs no try.
        None => None,
        Some(code) => {
            let rules = Lockout {
                max_failures: s.max_failures,
                lock_secs: s.lockout.as_secs() as i64,
            };
            Some(
                gw.directory
                    .check_passcode(&email, &code, now_unix(), rules)
                    .await?,
            )
        }
    };
    let (status, error) = match checked {
        Some(Checked::Valid) => {
            let address = Address::parse(&email)
                .map_err(|_| GatewayError::internal("a stored passcode address did not parse"))?;
            let identity = provider.identity(&address);
            gw.metrics.signin(&provider.config.id, "success");
            tracing::info!(target: "borderless::security", idp = %provider.config.id, address = %email, "signed in with an email passcode");
            let open_refs: Vec<&str> = open.iter().map(String::as_str).collect();
            let remaining = cookies::without(&open_refs, &id);
            let next = Next {
                return_to: &pending.return_to,
                binding: pending.binding.as_deref(),
                redeem: pending.redeem.as_deref(),
                // A passcode is always a fresh authentication.
                fresh_since: None,
            };
            return proven(gw, rt, ctx, identity, next, &remaining).await;
        }
        None => (
            StatusCode::BAD_REQUEST,
            format!("The code has {} digits.", s.code_length),
        ),
        Some(Checked::Wrong { left }) => {
            gw.metrics.signin(&provider.config.id, "failure");
            (
                StatusCode::BAD_REQUEST,
                format!(
                    "That code is wrong or has expired. {left} more wrong code{} will lock this address for {} minutes.",
                    if left == 1 { "" } else { "s" },
                    s.lockout.as_secs() / 60
                ),
            )
        }
        Some(Checked::Locked { until }) => {
            gw.metrics.signin(&provider.config.id, "locked");
            let minutes = ((until - now_unix()).max(1) as u64).div_ceil(60);
            (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many wrong codes. This address is locked for {minutes} more minute{}; then ask for a new code.",
                    if minutes == 1 { "" } else { "s" }
                ),
            )
        }
    };
    let html = CodePage {
        flow: &id,
        email: &email,
        minutes: s.code_ttl.as_secs() / 60,
        length: s.code_length,
        error: Some(error),
        request_id: &ctx.request_id,
    }
    .render()?;
    gw.flows
        .put_as(&id, Flow::AwaitingPasscode(pending))
        .await?;
    Ok(form_page(status, html))
}

/// The passcode flow a form names, if this browser's flow cookie lists it; taken, so the
/// caller puts it back unless the sign-in ends here.
async fn take_flow(
    gw: &Gateway,
    rt: &Runtime,
    req: Request<Incoming>,
) -> Result<(String, PendingPasscode, Vec<(String, String)>), GatewayError> {
    let open: Vec<String> = cookies::list(req.headers(), &rt.cookies.flow)
        .into_iter()
        .map(str::to_string)
        .collect();
    let form = read_form(req).await?;
    let expired = || {
        GatewayError::notice(
            StatusCode::BAD_REQUEST,
            "This page has expired",
            "The sign-in was open too long or was finished in another tab. Start again from the application.",
        )
    };
    let id = field(&form, "flow").ok_or_else(expired)?;
    if !open.iter().any(|o| o == &id) {
        return Err(expired());
    }
    let pending = gw.flows.take_passcode(&id).await?.ok_or_else(expired)?;
    Ok((id, pending, form))
}

fn passcode_provider<'r>(
    rt: &'r Runtime,
    pending: &PendingPasscode,
) -> Result<&'r PasscodeProvider, GatewayError> {
    match rt.idp(&pending.idp).map(|p| p.as_ref()) {
        Some(Provider::Passcode(p)) => Ok(p),
        // The config changed under the flow.
        _ => Err(GatewayError::sign_in(
            "unknown_idp",
            format!("{} is no longer a passcode provider", pending.idp),
        )),
    }
}

fn field(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn with_flow_cookie(rt: &Runtime, mut resp: Response<Body>, open: &[&str]) -> Response<Body> {
    resp.headers_mut().append(
        header::SET_COOKIE,
        open_steps_cookie(&rt.cookies.flow, open),
    );
    resp
}

/// One passcode on its way, outside the request: issued only to a guest the directory knows
/// (enabled), then mailed.
struct Delivery {
    directory: Directory,
    mailer: Mailer,
    address: Address,
    code: String,
    ttl_secs: i64,
    organization: String,
    logo_url: Option<String>,
}

impl Delivery {
    async fn run(self) {
        let address = self.address.as_str();
        let guest = match self.directory.user_by_mail(address).await {
            // A guest who redeemed with another provider stays on it (as in Entra): a
            // passcode could not sign them in, so none is sent.
            Ok(Some(u)) => {
                u.user_type == UserType::Guest
                    && !u.disabled
                    && u.issuer.as_deref().is_none_or(|i| i == PASSCODE_ISSUER)
            }
            Ok(None) => false,
            Err(e) => {
                tracing::error!(address, "looking up a passcode address failed: {e}");
                return;
            }
        };
        if !guest {
            tracing::info!(target: "borderless::security", address, "no passcode mailed: not a guest of this directory");
            return;
        }
        let now = now_unix();
        match self
            .directory
            .issue_passcode(address, &self.code, now, now + self.ttl_secs)
            .await
        {
            Ok(Issued::Stored) => {}
            Ok(Issued::Locked { .. }) => {
                tracing::info!(target: "borderless::security", address, "no passcode mailed: the address is locked");
                return;
            }
            Err(e) => {
                tracing::error!(address, "storing a passcode failed: {e}");
                return;
            }
        }
        let mail = PasscodeMail {
            to: address,
            code: &self.code,
            minutes: (self.ttl_secs / 60) as u64,
            organization: &self.organization,
            logo_url: &self.logo_url,
        };
        if let Err(e) = self.mailer.send_passcode(&mail).await {
            tracing::warn!(address, "mailing a passcode failed: {e:#}");
        }
    }
}

/// A passcode page: its forms lead to the app's host or the consent page in the end.
fn form_page(status: StatusCode, html: String) -> Response<Body> {
    let mut resp = response::html(status, html);
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        response::form_page_csp(None),
    );
    resp
}
