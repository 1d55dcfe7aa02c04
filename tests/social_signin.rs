//! GitHub and Facebook as `kind = "oauth2"` providers, against stand-ins that speak their
//! wire formats (tests/common/social_idp.rs): code exchange with PKCE, the profile APIs,
//! which address counts as verified, the providers' error shapes, and the flow's `state`.

mod common;

use common::social_idp::{Account, Flavor, SocialIdp};
use common::{APP_HOST, TestGateway, echoed};

const HEADERS: &str =
    "[app.headers]\nX-Remote-User = \"email\"\nX-Subject = \"subject\"\nX-Login = \"login\"";

async fn start(flavor: Flavor, account: Account) -> (TestGateway, SocialIdp) {
    let echo = common::start_echo().await;
    let idp = SocialIdp::start(flavor, account).await;
    let idp_toml = idp.idp_toml("members = true\n[idp.claims]\nlogin = \"login\"");
    let gw = TestGateway::start("", |port| {
        format!(
            "{idp_toml}\n{}",
            common::app_toml("hr", APP_HOST, port, echo, HEADERS)
        )
    })
    .await;
    (gw, idp)
}

fn octocat(emails: Vec<(&str, bool, bool)>) -> Account {
    Account {
        id: 583231,
        login: "octocat".into(),
        name: "The Octocat".into(),
        // What the user typed on their public profile: never an identity.
        public_email: Some("ceo@victim.test".into()),
        emails: emails
            .into_iter()
            .map(|(e, p, v)| (e.to_string(), p, v))
            .collect(),
    }
}

/// The whole round trip in one client; the final status and body.
async fn attempt(gw: &TestGateway) -> (u16, String) {
    let resp = gw
        .json_browser()
        .client
        .get(gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

#[tokio::test]
async fn github_signs_in_as_the_verified_primary_address_under_the_numeric_id() {
    let (gw, idp) = start(
        Flavor::Github,
        octocat(vec![
            ("old@partner.test", false, true),
            ("octo@partner.test", true, true),
        ]),
    )
    .await;
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 200, "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).expect("echo");
    assert_eq!(echoed(&echo, "x-remote-user"), vec!["octo@partner.test"]);
    // The id, not the login: a renamed login can be taken by someone else.
    assert_eq!(echoed(&echo, "x-subject"), vec!["583231"]);
    assert_eq!(echoed(&echo, "x-login"), vec!["octocat"]);

    let auth = idp.seen(|s| s.authorize[0].clone());
    assert_eq!(auth["scope"], "read:user user:email");
    assert_eq!(auth["code_challenge_method"], "S256");
    assert_eq!(auth["code_challenge"].len(), 43, "a SHA-256 challenge");
    assert!(auth["state"].len() >= 22, "state: {:?}", auth["state"]);
    assert!(auth["redirect_uri"].ends_with("/.borderless/callback/github"));
    assert!(idp.seen(|s| s.refused.is_empty()));
    gw.stop().await;
}

#[tokio::test]
async fn github_addresses_that_are_not_verified_and_primary_are_not_identities() {
    // The primary address is unverified; a verified one exists but is not primary; the
    // public profile names yet another. None of them is an identity.
    let (gw, idp) = start(
        Flavor::Github,
        octocat(vec![
            ("octo@partner.test", true, false),
            ("side@partner.test", false, true),
        ]),
    )
    .await;
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<code>no_verified_email</code>"), "{body}");
    assert!(
        !body.contains("x-remote-user"),
        "the app must not be reached"
    );

    // No address at all (a GitHub App without the email permission answers nothing).
    idp.sign_in_as(octocat(vec![]));
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<code>no_verified_email</code>"), "{body}");
    gw.stop().await;
}

/// GitHub refuses a bad code with status 200 and an `error` member: that is a failed
/// sign-in, never a token. A replayed callback finds no flow.
#[tokio::test]
async fn a_refused_code_and_a_replayed_callback_are_failed_sign_ins() {
    let (gw, idp) = start(
        Flavor::Github,
        octocat(vec![("octo@partner.test", true, true)]),
    )
    .await;
    let browser = gw.json_browser();
    let manual = browser.manual(&gw);
    let at_idp = common::walk_to_idp(&manual, &gw.url(APP_HOST, "/")).await;
    let r = manual.get(&at_idp).send().await.expect("authorize");
    let callback = url::Url::parse(&common::location(&r)).expect("callback");

    // The same flow, another code: the stand-in does not know it.
    let mut forged = callback.clone();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "code" {
                "forged".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let r = manual.get(forged.as_str()).send().await.expect("forged");
    assert_eq!(r.status().as_u16(), 400);
    let body = r.text().await.expect("body");
    assert!(body.contains("<code>token_rejected</code>"), "{body}");
    assert!(idp.seen(|s| s.refused.iter().any(|r| r.contains("incorrect or expired"))));

    // That attempt used the flow up: its genuine callback now finds nothing to finish.
    let r = manual.get(callback.as_str()).send().await.expect("replay");
    assert_eq!(r.status().as_u16(), 400);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("<code>no_sign_in_in_progress</code>"),
        "{body}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn facebook_signs_in_through_graph_with_appsecret_proof() {
    let account = |emails: Vec<(String, bool, bool)>| Account {
        id: 10158000000000001,
        login: String::new(),
        name: "Fay Book".into(),
        public_email: None,
        emails,
    };
    let (gw, idp) = start(
        Flavor::Facebook,
        account(vec![("fay@partner.test".into(), true, true)]),
    )
    .await;
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 200, "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).expect("echo");
    assert_eq!(echoed(&echo, "x-remote-user"), vec!["fay@partner.test"]);
    assert_eq!(echoed(&echo, "x-subject"), vec!["10158000000000001"]);
    let auth = idp.seen(|s| s.authorize[0].clone());
    assert_eq!(
        auth["scope"], "email,public_profile",
        "Facebook's separator"
    );
    assert_eq!(auth["code_challenge_method"], "S256");

    // The guest declined the email permission: Graph sends no address.
    idp.sign_in_as(Account {
        id: 10158000000000002,
        ..account(vec![])
    });
    let (status, body) = attempt(&gw).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<code>no_verified_email</code>"), "{body}");
    gw.stop().await;
}

#[test]
fn oauth2_settings_are_checked_where_they_are_written() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("idps.toml");
    std::fs::write(
        &path,
        "version = 1\n[gateway]\npublic_url = \"https://login.test\"\n\
         [[listener]]\nbind = \"127.0.0.1:0\"\nredirect_to_https = true\n\
         [[idp]]\nid = \"gh\"\nkind = \"oauth2\"\nclient_id = \"c\"\nclient_secret = \"s\"\n\
         [[idp]]\nid = \"fb\"\nkind = \"oauth2\"\nprofile_api = \"facebook\"\nclient_id = \"c\"\nclient_secret = \"s\"\ntoken_endpoint = \"http://graph.example/token\"\nhosted_domain = \"x.example\"\n\
         [[idp]]\nid = \"op\"\nkind = \"oidc\"\nclient_id = \"c\"\nclient_secret = \"s\"\nprofile_api = \"github\"\n",
    )
    .expect("write");
    common::assert_config_errors(
        &path,
        &[
            (7, "idp[0].profile_api", "\"github\" or \"facebook\""),
            (18, "idp[1].token_endpoint", "https://"),
            (
                19,
                "idp[1].hosted_domain",
                "not for kind = \"oauth2\"; only for kind = \"oidc\" or \"microsoft\"",
            ),
            (20, "idp[2].issuer", "required"),
            (25, "idp[2].profile_api", "only for kind = \"oauth2\""),
        ],
    );

    // The presets fill in GitHub's public endpoints, scopes and namespace.
    std::fs::write(
        &path,
        "version = 1\n[gateway]\npublic_url = \"https://login.test\"\n\
         [[listener]]\nbind = \"127.0.0.1:0\"\nredirect_to_https = true\n\
         [[idp]]\nid = \"gh\"\nkind = \"oauth2\"\nprofile_api = \"github\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
    )
    .expect("write");
    let c = borderless::config::load(&path).expect("valid");
    let o = c.idps[0].oauth2.as_ref().expect("oauth2");
    assert_eq!(c.idps[0].issuer, "https://github.com");
    assert_eq!(c.idps[0].scopes, ["read:user", "user:email"]);
    assert_eq!(
        o.token_endpoint.as_str(),
        "https://github.com/login/oauth/access_token"
    );
    assert_eq!(o.api_url.as_str(), "https://api.github.com/");
    assert!(o.pkce);
}
