//! `/terms` on the login host: a policy's terms of use, shown to a signed-in user who has
//! not accepted their current version, and the acceptance (recorded per user, document and
//! version, audited). Then back to the app; the session itself does not change.

use std::collections::HashMap;

use askama::Template;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::start::Target;
use super::{page_with_csp, read_unique_form};
use crate::error::GatewayError;
use crate::policy::Terms;
use crate::response::{self, Body};
use crate::state::{Gateway, RequestCtx, Runtime, SessionCheck};
use crate::web::query;

#[derive(Template)]
#[template(path = "terms.html")]
struct TermsPage<'a> {
    title: &'a str,
    version: &'a str,
    org: &'a str,
    app: &'a str,
    account: &'a str,
    paragraphs: Vec<&'a str>,
    hidden: Vec<(&'static str, String)>,
    request_id: &'a str,
}

/// The document, the return target and the signed-in user's id, or the response instead.
async fn context<'r>(
    gw: &Gateway,
    rt: &'r Runtime,
    headers: &http::HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Result<(&'r Terms, Target, String, String), Response<Body>>, GatewayError> {
    let target = Target::parse(gw, rt, params).await?;
    let terms = params
        .get("t")
        .and_then(|id| rt.config.policies.terms_by_id(id))
        .ok_or(GatewayError::NotFound)?;
    let session = match gw.session_check(rt, headers, None).await? {
        SessionCheck::Admitted(_, s) => s,
        _ => {
            let url = format!("/.borderless/signin?{}", target.query(None));
            return Ok(Err(response::redirect(&url)));
        }
    };
    let account = session
        .first("mail")
        .unwrap_or(session.subject())
        .to_string();
    Ok(Ok((terms, target, session.user_key().to_string(), account)))
}

/// `GET /terms?t=…&rd=…`.
pub(super) async fn page(
    gw: &Gateway,
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let params = query::parse_unique(req.uri().query())
        .map_err(|_| GatewayError::BadRequest("a parameter was repeated"))?;
    let (terms, target, _, account) = match context(gw, rt, req.headers(), &params).await? {
        Ok(c) => c,
        Err(resp) => return Ok(resp),
    };
    let app = target
        .app(rt)
        .map(|a| a.display_name.clone())
        .unwrap_or_else(|| rt.config.directory.organization.clone());
    let mut hidden = vec![
        ("t", terms.id.clone()),
        ("rd", target.return_to.to_string()),
    ];
    if let Some(b) = &target.binding {
        hidden.push(("b", b.clone()));
    }
    page_with_csp(
        StatusCode::OK,
        TermsPage {
            title: &terms.title,
            version: &terms.version,
            org: &rt.config.directory.organization,
            app: &app,
            account: &account,
            paragraphs: terms
                .text
                .split("\n\n")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect(),
            hidden,
            request_id: &ctx.request_id,
        }
        .render(),
    )
}

/// `POST /terms`: the acceptance of the version the page showed.
pub(super) async fn accept(
    gw: &Gateway,
    rt: &Runtime,
    req: Request<Incoming>,
) -> Result<Response<Body>, GatewayError> {
    let headers = req.headers().clone();
    let params = read_unique_form(req, 4096).await?;
    if params.get("decision").map(String::as_str) != Some("accept") {
        return Err(GatewayError::BadRequest("no decision"));
    }
    let (terms, target, user_id, _) = match context(gw, rt, &headers, &params).await? {
        Ok(c) => c,
        Err(resp) => return Ok(resp),
    };
    gw.directory
        .accept_terms(&user_id, &terms.id, &terms.version)
        .await?;
    // This instance at once; the others through the revocation feed.
    gw.access.invalidate(&user_id).await;
    Ok(response::redirect(target.return_to.as_str()))
}
