//! `/apps` ("My apps"): what the signed-in user may open.

use askama::Template;
use http::{Request, Response};
use hyper::body::Incoming;

use super::{Choice, page};
use crate::admission::{Refusal, Step};
use crate::config::file::AuthMode;
use crate::error::GatewayError;
use crate::response::Body;
use crate::state::{Gateway, RequestCtx, Runtime, SessionCheck};

#[derive(Template)]
#[template(path = "apps.html")]
pub(super) struct AppsPage<'a> {
    user: Option<String>,
    apps: Vec<Choice>,
    request_id: &'a str,
}

/// `/apps`: the apps this gateway fronts, for the signed-in user.
pub(super) async fn apps(
    gw: &Gateway,
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let session = match gw.session_check(rt, req.headers(), None).await? {
        SessionCheck::Admitted(_, s) => Some(s),
        _ => None,
    };
    let user = session.as_ref().map(|s| {
        s.first("display_name")
            .or(s.first("mail"))
            .unwrap_or(s.subject())
            .to_string()
    });
    let mut apps = Vec::new();
    for a in &rt.config.apps {
        let open = match &session {
            None => a.auth == AuthMode::None,
            Some(s) => {
                let step = Step::Continue {
                    session: s,
                    app: Some(rt.visit(a, req.headers(), ctx)),
                };
                // An app that only asks for one more step (MFA, a fresh sign-in) is listed:
                // opening it leads there.
                a.auth == AuthMode::None
                    || match gw.gate(rt).admit(step).await? {
                        Ok(_) => true,
                        Err(r) => {
                            matches!(
                                r,
                                Refusal::MfaRequired { .. }
                                    | Refusal::SignInAgain { .. }
                                    | Refusal::TermsRequired { .. }
                            )
                        }
                    }
            }
        };
        if open {
            apps.push(Choice {
                name: a.display_name.clone(),
                href: a.external_url(),
            });
        }
    }
    page(
        AppsPage {
            user,
            apps,
            request_id: &ctx.request_id,
        }
        .render(),
    )
}
