//! Home-realm discovery: one sign-in page for everyone. The guest types an address and is
//! sent on, in this order, to
//!
//! 1. the provider they redeemed with, if the directory has them pinned to one;
//! 2. the providers of the `[[partner]]` that owns the address's domain, in order, or else
//!    the `[redemption]` providers whose `domains` list the domain (`gmail.com` → Google);
//! 3. the fallback, an email passcode, if there is one;
//!
//! and each step only to a provider the destination app admits. If nothing fits, the page
//! says so and offers the buttons. The directory is read for every address, known or not,
//! and an unknown address is routed exactly as a known guest who has not yet redeemed,
//! so the answer tells a stranger nothing the domain did not (a redeemed guest's own
//! provider is the one exception, as in Entra: it is where they have to go).

use std::sync::Arc;

use askama::Template;
use http::header::{self};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::start::Target;
use super::{passcode, read_unique_form};
use crate::config::{Config, IdpConfig};
use crate::directory::address::Address;
use crate::error::GatewayError;
use crate::idp::Provider;
use crate::response::{self, Body};
use crate::state::{Gateway, RequestCtx, Runtime};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    organization: &'a str,
    logo_url: &'a Option<String>,
    app_name: Option<&'a str>,
    /// The target as hidden fields of the address form.
    hidden: Vec<(&'static str, String)>,
    email: &'a str,
    error: Option<String>,
    buttons: Vec<super::Choice>,
    request_id: &'a str,
}

/// The sign-in page: the address field, then the buttons the app chose to show.
pub(super) fn page(
    rt: &Runtime,
    ctx: &RequestCtx,
    target: &Target,
    error: Option<String>,
    email: &str,
) -> Result<Response<Body>, GatewayError> {
    let app = target.app(rt);
    let buttons = target
        .offered(rt)
        .into_iter()
        .filter(|p| {
            app.as_ref()
                .and_then(|a| a.sign_in_buttons.as_ref())
                .is_none_or(|shown| shown.contains(&p.config().id))
        })
        .map(|p| super::Choice {
            name: p.config().display_name.clone(),
            href: format!(
                "/.borderless/signin/{}?{}",
                p.config().id,
                target.query(None)
            ),
        })
        .collect();
    let mut hidden = Vec::new();
    match &target.redeem {
        Some((secret, _)) => hidden.push(("redeem", secret.clone())),
        None => hidden.push(("rd", target.return_to.to_string())),
    }
    if let Some(b) = &target.binding {
        hidden.push(("b", b.clone()));
    }
    if target.fresh {
        hidden.push(("fresh", "1".into()));
    }
    let d = &rt.config.directory;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let html = SignInPage {
        organization: &d.organization,
        logo_url: &d.logo_url,
        app_name: app.as_ref().map(|a| a.display_name.as_str()),
        hidden,
        email,
        error,
        buttons,
        request_id: &ctx.request_id,
    }
    .render()?;
    let mut resp = response::html(status, html);
    // The page shows the organisation's logo: admit its origin (and only it) for images.
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        response::form_page_csp(d.logo_origin.as_deref()),
    );
    Ok(resp)
}

/// `POST /signin`: the address from the sign-in page, routed to its provider.
pub(super) async fn submit(
    gw: &Gateway,
    rt: &Runtime,
    req: Request<Incoming>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, GatewayError> {
    let headers = req.headers().clone();
    let q = read_unique_form(req, 4096).await?;
    let target = Target::parse(gw, rt, &q).await?;
    let typed = q.get("email").map(|e| e.trim()).unwrap_or("");
    let Ok(address) = Address::parse(typed) else {
        let error = "Enter an email address like name@example.com.".to_string();
        return page(rt, ctx, &target, Some(error), typed);
    };
    // Read for every address, so known and unknown ones take the same time.
    let user = gw.directory.user_by_mail(address.as_str()).await?;
    let pinned = user.filter(|u| u.redeemed_at.is_some()).and_then(|u| u.idp);
    let offered = target.offered(rt);
    let admits = |id: &str| offered.iter().any(|p| p.config().id == id);
    let Some(idp) = route(&rt.config, pinned.as_deref(), address.domain(), admits) else {
        let error = format!(
            "There is no sign-in set up for addresses at {}. Choose how to sign in below, or ask the person who invited you.",
            address.domain()
        );
        return page(rt, ctx, &target, Some(error), typed);
    };
    tracing::debug!(idp, domain = address.domain(), "home-realm discovery");
    let provider: &Arc<Provider> = rt
        .idp(idp)
        .ok_or_else(|| GatewayError::internal("a routed provider is not configured"))?;
    match provider.as_ref() {
        Provider::Passcode(p) => {
            rt.rate_limits.sign_in(rt.client_ip(&headers, ctx))?;
            passcode::start_with_address(gw, rt, &headers, ctx, p, target, &address).await
        }
        _ => {
            // A GET of the provider's own start (a redirect, so the flow starts there, once).
            let href = format!(
                "/.borderless/signin/{idp}?{}",
                target.query(Some(address.as_str()))
            );
            Ok(response::see_other(&href))
        }
    }
}

/// The provider an address goes to: pinned, partner or domain rule, fallback; each only if
/// the app admits it. `None`: nothing fits.
pub fn route<'c>(
    config: &'c Config,
    pinned: Option<&str>,
    domain: &str,
    admits: impl Fn(&str) -> bool,
) -> Option<&'c str> {
    let idp = |id: &str| -> Option<&'c Arc<IdpConfig>> { config.idps.iter().find(|i| i.id == id) };
    if let Some(p) = pinned.and_then(idp)
        && admits(&p.id)
    {
        return Some(&p.id);
    }
    let (rule, _) = config.home_realm.rule_for(domain);
    let chosen = rule.providers.iter().filter_map(|id| idp(id)).find(|i| {
        admits(&i.id) && (!rule.by_provider_domains || i.domains.iter().any(|d| d == domain))
    });
    if let Some(i) = chosen {
        return Some(&i.id);
    }
    rule.fallback
        .as_deref()
        .and_then(idp)
        .filter(|i| admits(&i.id))
        .map(|i| i.id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!(
                "version = 1\n[gateway]\npublic_url = \"https://login.test\"\n\
                 [[listener]]\nbind = \"127.0.0.1:0\"\nredirect_to_https = true\n\
                 [smtp]\nhost = \"127.0.0.1\"\nfrom = \"a@b.example\"\nsecurity = \"none\"\n\
                 [[idp]]\nid = \"google\"\nkind = \"oidc\"\nissuer = \"https://accounts.google.com\"\nclient_id = \"c\"\nclient_secret = \"s\"\ndomains = [\"gmail.com\"]\n\
                 [[idp]]\nid = \"fabrikam\"\nkind = \"oidc\"\nissuer = \"https://idp.fabrikam.example\"\nclient_id = \"c\"\nclient_secret = \"s\"\n\
                 [[idp]]\nid = \"fabrikam-old\"\nkind = \"oidc\"\nissuer = \"https://old.fabrikam.example\"\nclient_id = \"c\"\nclient_secret = \"s\"\n\
                 [[idp]]\nid = \"email\"\nkind = \"email_passcode\"\n\
                 {extra}"
            ),
        )
        .expect("write");
        crate::config::load(&path).expect("valid config")
    }

    const PARTNER: &str = "[[partner]]\nname = \"Fabrikam\"\ndomains = [\"fabrikam.example\"]\nproviders = [\"fabrikam\", \"fabrikam-old\"]\nfallback = \"none\"\n";

    #[test]
    fn pinned_then_partner_then_domain_then_fallback() {
        let c = config(PARTNER);
        let all = |_: &str| true;
        assert_eq!(route(&c, None, "gmail.com", all), Some("google"));
        assert_eq!(route(&c, None, "fabrikam.example", all), Some("fabrikam"));
        assert_eq!(route(&c, None, "nofed.example", all), Some("email"));
        // A redeemed guest stays on their provider, whatever the domain says.
        assert_eq!(route(&c, Some("email"), "gmail.com", all), Some("email"));
        // A pin to a provider that is gone falls back to the rules.
        assert_eq!(route(&c, Some("gone"), "gmail.com", all), Some("google"));
        // The partner's own order, then its fallback ("none"), never the default one.
        let no_first = |id: &str| id != "fabrikam";
        assert_eq!(
            route(&c, None, "fabrikam.example", no_first),
            Some("fabrikam-old")
        );
        let neither = |id: &str| !id.starts_with("fabrikam");
        assert_eq!(route(&c, None, "fabrikam.example", neither), None);
        // The app does not admit the passcode: nothing for a domain without federation.
        let no_email = |id: &str| id != "email";
        assert_eq!(route(&c, None, "nofed.example", no_email), None);
        assert_eq!(
            route(&c, Some("email"), "gmail.com", no_email),
            Some("google")
        );
    }

    #[test]
    fn redemption_order_and_fallback_are_configurable() {
        let c = config("[redemption]\nproviders = [\"fabrikam\"]\nfallback = \"none\"\n");
        let all = |_: &str| true;
        // Google is not in the default order any more; `fabrikam` lists no domains.
        assert_eq!(route(&c, None, "gmail.com", all), None);
        assert_eq!(route(&c, None, "nofed.example", all), None);
    }

    #[test]
    fn routing_settings_name_their_mistakes() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            "version = 1\n[gateway]\npublic_url = \"https://login.test\"\n\
             [[listener]]\nbind = \"127.0.0.1:0\"\nredirect_to_https = true\n\
             [[idp]]\nid = \"op\"\nkind = \"oidc\"\nissuer = \"https://op.example\"\nclient_id = \"c\"\nclient_secret = \"s\"\ndomains = [\"not a domain\"]\n\
             [redemption]\nproviders = [\"nope\"]\nfallback = \"op\"\n\
             [[partner]]\ndomains = [\"a.example\"]\nproviders = [\"op\"]\n\
             [[partner]]\ndomains = [\"A.example\"]\n",
        )
        .expect("write");
        let errs = crate::config::load(&path).expect_err("invalid").to_string();
        for (key, says) in [
            ("idp[0].domains[0]", "must be a domain name"),
            ("redemption.providers[0]", "no [[idp]] has the id `nope`"),
            ("redemption.fallback", "not an email passcode provider"),
            (
                "partner[1].domains[0]",
                "already belongs to another partner",
            ),
        ] {
            assert!(
                errs.lines()
                    .any(|l| l.contains(&format!("key `{key}`")) && l.contains(says)),
                "missing {key} … {says} in:\n{errs}"
            );
        }
    }
}
