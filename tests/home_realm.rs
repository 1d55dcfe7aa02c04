//! Home-realm discovery: the sign-in page asks for an address and sends it to the guest's
//! own provider (pinned after redemption), the partner's federation, the provider for the
//! domain (`gmail.test` → a Google stand-in) or an email passcode; invitation redemption
//! routes the same way; an app chooses its buttons and the providers it admits. Partner
//! federation is the real `oidc-provider`, mail the real SMTP server, and one run is in
//! headless Chromium with JavaScript off, by keyboard.

mod common;

use std::time::Duration;

use common::fake_idp::FakeIdp;
use common::guests::{GuestEnv, Options};
use common::passcode::{Guest, code_in, flow_of};
use common::{APP_HOST, LOGIN_HOST, OTHER_HOST, location};

async fn start() -> (GuestEnv, FakeIdp) {
    let google = FakeIdp::start().await;
    let extra = format!(
        r#"
[[app]]
id = "vault"
display_name = "Vault"
host = "{OTHER_HOST}:{{PORT}}"
path_prefix = "/vault/"
upstream = "http://127.0.0.1:9"
allowed_idps = ["partner"]
sign_in_buttons = []

[[idp]]
id = "email"
kind = "email_passcode"

[[idp]]
id = "google"
kind = "oidc"
display_name = "Google"
issuer = "{}"
client_id = "fake"
client_secret = "fake-secret"
domains = ["gmail.test"]

[[partner]]
name = "Fabrikam"
domains = ["fabrikam.example"]
providers = ["partner"]
"#,
        google.issuer
    );
    let env = GuestEnv::start_with(Options {
        extra,
        ..Default::default()
    })
    .await;
    (env, google)
}

/// The sign-in page's form, posted from our origin without following redirects.
async fn submit(
    env: &GuestEnv,
    client: &reqwest::Client,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    client
        .post(env.gw.url(LOGIN_HOST, "/.borderless/signin"))
        .header("origin", env.gw.url(LOGIN_HOST, ""))
        .form(fields)
        .send()
        .await
        .expect("submit")
}

/// Where an address is sent: the provider's authorization URL (after the gateway's own
/// `/signin/{idp}` hop), with its `login_hint`.
async fn routed_to(env: &GuestEnv, email: &str) -> url::Url {
    let b = env.gw.json_browser();
    let manual = b.manual(&env.gw);
    let rd = env.gw.url(APP_HOST, "/");
    let r = submit(env, &manual, &[("rd", &rd), ("email", email)]).await;
    assert_eq!(
        r.status(),
        303,
        "{email}: {}",
        r.text().await.unwrap_or_default()
    );
    let hop = env.gw.url(LOGIN_HOST, &location(&r));
    assert!(hop.contains("/.borderless/signin/"), "{hop}");
    let r = manual.get(&hop).send().await.expect("start");
    assert_eq!(r.status(), 302, "{hop}");
    url::Url::parse(&location(&r)).expect("authorization url")
}

fn hint(url: &url::Url) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == "login_hint")
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn an_address_goes_to_its_partner_its_domain_or_a_passcode() {
    let (mut env, google) = start().await;
    // The page: branding, a labelled address field, then the buttons.
    let html = env
        .browser()
        .get(env.gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app")
        .text()
        .await
        .expect("page");
    assert!(html.contains("Sign in to Contoso"), "{html}");
    assert!(html.contains("https://contoso.example/logo.png"), "{html}");
    assert!(
        html.contains("<label for=\"email\">Email address</label>"),
        "{html}"
    );
    let field = html.find("id=\"email\"").expect("field");
    let first_button = html.find("class=\"button\"").expect("buttons");
    assert!(field < first_button, "the address field comes first");

    // The partner's own federation, for its domain (any case).
    let to = routed_to(&env, "Alice@Fabrikam.Example").await;
    assert_eq!(
        to.origin().ascii_serialization(),
        url::Url::parse(&env.idp.issuer)
            .expect("issuer")
            .origin()
            .ascii_serialization()
    );
    assert_eq!(hint(&to).as_deref(), Some("alice@fabrikam.example"));
    // The provider that serves the domain.
    let to = routed_to(&env, "carol@gmail.test").await;
    assert!(to.as_str().starts_with(&google.issuer), "{to}");
    assert_eq!(hint(&to).as_deref(), Some("carol@gmail.test"));

    // No federation: the passcode fallback, the code page at once, for a guest and a
    // stranger alike; only the guest gets mail.
    env.cli_json(&["invite", "dave@nofed.example", "--app", "hr", "--no-email"])
        .await;
    let rd = env.gw.url(APP_HOST, "/");
    let mut pages = Vec::new();
    for email in ["dave@nofed.example", "stranger@nofed.example"] {
        let r = submit(&env, &env.browser(), &[("rd", &rd), ("email", email)]).await;
        assert_eq!(r.status(), 200);
        let page = r.text().await.expect("page");
        assert!(page.contains("autocomplete=\"one-time-code\""), "{page}");
        let flow = flow_of(&page);
        pages.push(
            page.replace(email, "ADDRESS")
                .replace(&flow, "FLOW")
                .split("Request id")
                .next()
                .unwrap_or("")
                .to_string(),
        );
    }
    assert_eq!(
        pages[0], pages[1],
        "the same page for a guest and a stranger"
    );
    let mails = env.smtp().drain(Duration::from_millis(1500)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].envelope_to, vec!["dave@nofed.example".to_string()]);

    // Not an address: said so, what was typed kept, the buttons still there.
    let r = submit(
        &env,
        &env.browser(),
        &[("rd", &rd), ("email", "dave at nofed")],
    )
    .await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.expect("page");
    assert!(page.contains("Enter an email address"), "{page}");
    assert!(page.contains("value=\"dave at nofed\""), "{page}");
    assert!(page.contains("class=\"button\""), "{page}");
    // A cross-site post of the form is refused.
    let r = env
        .browser()
        .post(env.gw.url(LOGIN_HOST, "/.borderless/signin"))
        .header("origin", "https://evil.example")
        .form(&[("rd", rd.as_str()), ("email", "dave@nofed.example")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    env.gw.stop().await;
}

/// Redemption routes the invitee's own address; a guest who redeemed with a passcode goes
/// back to it, though their domain has a provider of its own.
#[tokio::test]
async fn redemption_routes_the_invitee_and_a_redeemed_guest_stays_on_their_provider() {
    let (mut env, google) = start().await;
    env.cli_json(&["invite", "bob@gmail.test", "--app", "hr"])
        .await;
    let link = env.smtp().next_mail().await.redeem_link();
    let client = env.browser();
    let html = client
        .get(&link)
        .send()
        .await
        .expect("link")
        .text()
        .await
        .expect("page");
    assert!(html.contains("Continue as bob@gmail.test"), "{html}");
    let secret = common::hidden_field(&html, "redeem").expect("secret");
    // "Continue" routes bob's address: gmail.test has a provider.
    let manual = env.gw.json_browser().manual(&env.gw);
    let r = submit(
        &env,
        &manual,
        &[("redeem", &secret), ("email", "bob@gmail.test")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert!(
        location(&r).starts_with("/.borderless/signin/google?redeem="),
        "{}",
        location(&r)
    );

    // Bob picks the passcode instead and redeems with it.
    let g = Guest::choose(&env, client, &html).await;
    g.send("bob@gmail.test").await;
    let code = code_in(&env.smtp().next_mail().await.text);
    let (status, page) = g.verify(&code).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"accept\""), "{page}");
    assert_eq!(env.consent(&g.client, "accept").await.status(), 200);

    // From now on bob's address goes to the passcode; another gmail.test address does not.
    let rd = env.gw.url(APP_HOST, "/");
    let r = submit(
        &env,
        &env.browser(),
        &[("rd", &rd), ("email", "bob@gmail.test")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("page").contains("one-time-code"));
    let mail = env.smtp().next_mail().await;
    assert_eq!(mail.envelope_to, vec!["bob@gmail.test".to_string()]);
    let to = routed_to(&env, "erin@gmail.test").await;
    assert!(to.as_str().starts_with(&google.issuer), "{to}");

    // An invitee without federation: "continue" mails the code straight away.
    env.cli_json(&["invite", "frank@nofed.example", "--app", "hr"])
        .await;
    let link = env.smtp().next_mail().await.redeem_link();
    let client = env.browser();
    let html = client
        .get(&link)
        .send()
        .await
        .expect("link")
        .text()
        .await
        .expect("page");
    let secret = common::hidden_field(&html, "redeem").expect("secret");
    let r = submit(
        &env,
        &client,
        &[("redeem", &secret), ("email", "frank@nofed.example")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("page");
    let g = Guest {
        login: env.gw.url(LOGIN_HOST, ""),
        client,
        flow: flow_of(&page),
    };
    let code = code_in(&env.smtp().next_mail().await.text);
    let (status, page) = g.verify(&code).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"accept\""), "{page}");
    let r = env.consent(&g.client, "accept").await;
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.expect("echo");
    assert_eq!(
        common::echoed(&echo, "x-remote-user"),
        vec!["frank_nofed.example#EXT#@contoso.example"]
    );
    env.gw.stop().await;
}

/// An app that admits only the partner's federation and shows no buttons: the page is the
/// address field alone, and an address with no admitted provider is told so.
#[tokio::test]
async fn an_app_chooses_its_buttons_and_its_providers() {
    let (env, _google) = start().await;
    let vault = env.gw.url(OTHER_HOST, "/vault/");
    let page = env
        .browser()
        .get(&vault)
        .send()
        .await
        .expect("vault")
        .text()
        .await
        .expect("page");
    // One admitted provider that redirects: no page at all, straight to the partner.
    assert!(!page.contains("Sign in to Contoso"), "{page}");
    let r = submit(
        &env,
        &env.browser(),
        &[("rd", &vault), ("email", "dave@nofed.example")],
    )
    .await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.expect("page");
    assert!(
        page.contains("no sign-in set up for addresses at nofed.example"),
        "{page}"
    );
    assert!(
        !page.contains("class=\"button\""),
        "sign_in_buttons = []: {page}"
    );
    assert!(
        !page.contains("one-time-code"),
        "the passcode is not admitted: {page}"
    );
    env.gw.stop().await;
}

#[test]
fn partner_settings_name_their_mistakes() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        "version = 1\n[gateway]\npublic_url = \"https://login.test\"\n\
         [[listener]]\nbind = \"127.0.0.1:0\"\nredirect_to_https = true\n\
         [[idp]]\nid = \"op\"\nkind = \"oidc\"\nissuer = \"https://op.example\"\nclient_id = \"c\"\nclient_secret = \"s\"\n\
         [[partner]]\ndomains = []\nproviders = [\"nope\"]\nfallback = \"nope\"\n\
         [[app]]\nid = \"a\"\nhost = \"a.test\"\nupstream = \"http://127.0.0.1:9\"\nallowed_idps = [\"op\"]\nsign_in_buttons = [\"other\"]\n",
    )
    .expect("write");
    common::assert_config_errors(
        &path,
        &[
            (14, "partner[0].domains", "at least one domain"),
            (
                15,
                "partner[0].providers[0]",
                "no [[idp]] has the id `nope`",
            ),
            (16, "partner[0].fallback", "or write \"none\""),
            (22, "app[0].sign_in_buttons[0]", "unknown idp `other`"),
        ],
    );
}

/// The page in headless Chromium with JavaScript off, by keyboard: the address field has
/// focus, Tab reaches Next and then the buttons, Enter sends the address to the partner's
/// provider, and the guest lands on the app.
#[tokio::test]
async fn chromium_signs_in_from_the_address_alone_without_javascript() {
    let (env, _google) = start().await;
    env.cli_json(&[
        "invite",
        "alice@fabrikam.example",
        "--app",
        "hr",
        "--no-email",
    ])
    .await;
    let app = env.gw.url(APP_HOST, "/");
    let result = common::e2e::run(
        "home_realm.mjs",
        &[
            &app,
            "alice@fabrikam.example",
            "alice",
            "alice_fabrikam.example#EXT#@contoso.example",
        ],
        &env.gw.dir.path().join("home-realm.png"),
    )
    .await;
    assert_eq!(result["javascript"], false);
    assert_eq!(result["focus"][0], "email", "{result}");
    assert_eq!(result["focus"][1], "next", "{result}");
    assert_eq!(result["focus"][2], "button", "{result}");
    assert_eq!(result["url"], env.gw.url(APP_HOST, "/"));
    env.gw.stop().await;
}
