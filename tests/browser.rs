//! One real browser: headless Chromium (Debian's `chromium`, driven by npm `playwright-core`)
//! opens an app behind the gateway, signs in at the real `oidc-provider` and sees the app page
//! with the identity the gateway forwarded.

mod common;

use common::oidc_provider::NodeIdp;
use common::{APP_HOST, GatewaySlot, LOGIN_HOST};

#[tokio::test]
async fn chromium_signs_in_and_sees_the_demo_app() {
    assert!(
        std::path::Path::new(
            &std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
        )
        .exists(),
        "Chromium is required for the browser test: apt-get install chromium (bash .ci/run does)"
    );
    let echo = common::start_echo().await;
    let slot = GatewaySlot::new().await;
    let accounts = serde_json::json!({
        "bob": { "email": "bob@contoso-partner.test", "email_verified": true, "name": "Bob Browser" }
    });
    let idp = NodeIdp::start(&slot.login_url(), "op", "op-secret", accounts).await;
    let port = slot.port;
    let gw = slot
        .start(
            "",
            &format!(
                "[[idp]]\nid = \"op\"\nkind = \"oidc\"\nissuer = \"{}\"\nclient_id = \"op\"\nclient_secret = \"op-secret\"\nmembers = true\n\n\
                 [[app]]\nid = \"demo\"\ndisplay_name = \"Demo\"\nhost = \"{APP_HOST}:{port}\"\nupstream = \"http://{echo}\"\n\
                 [app.headers]\nX-Remote-User = \"email\"\nX-Remote-Name = \"name\"\n",
                idp.issuer
            ),
        )
        .await;
    let result = common::e2e::run(
        "signin.mjs",
        &[&gw.url(APP_HOST, "/"), "bob", "bob@contoso-partner.test"],
        &gw.dir.path().join("signed-in.png"),
    )
    .await;
    assert_eq!(result["ok"], true);
    assert_eq!(result["title"], "Demo app");
    assert_eq!(result["url"], gw.url(APP_HOST, "/"));
    gw.stop().await;
}

/// Follows a redemption link in Chromium to the app; returns the script's result.
async fn redeem_in_chromium(
    env: &common::guests::GuestEnv,
    link: &str,
    login: &str,
    expected: &str,
) -> serde_json::Value {
    let screenshot = env.gw.dir.path().join(format!("redeemed-{login}.png"));
    common::e2e::run("redeem.mjs", &[link, login, expected], &screenshot).await
}

#[tokio::test]
async fn chromium_redeems_cli_and_api_invitations_from_the_mail() {
    let mut env = common::guests::GuestEnv::start().await;

    // Through the CLI…
    env.cli_json(&["invite", "alice@fabrikam.example", "--app", "hr"])
        .await;
    let link = env.smtp().next_mail().await.redeem_link();
    let upn = "alice_fabrikam.example#EXT#@contoso.example";
    let result = redeem_in_chromium(&env, &link, "alice", upn).await;
    assert_eq!(result["ok"], true);
    assert_eq!(result["url"], env.gw.url(APP_HOST, "/"));
    assert!(
        result["steps"][0]["title"]
            .as_str()
            .unwrap_or("")
            .contains("Contoso")
    );
    assert!(
        result["steps"][1]["text"]
            .as_str()
            .unwrap_or("")
            .contains("Alice Fabrikam")
    );
    let text = result["text"].as_str().unwrap_or("");
    assert!(
        text.contains("x-user-type") && text.contains("Guest"),
        "{text}"
    );

    // …and through the Graph-compatible API.
    let key = env.admin_key("browser-test").await;
    let inv: serde_json::Value = env
        .gw
        .manual_client()
        .post(env.gw.url(LOGIN_HOST, "/.borderless/api/v1/invitations"))
        .bearer_auth(key)
        .json(&serde_json::json!({
            "invitedUserEmailAddress": "carol@fabrikam.example",
            "inviteRedirectUrl": env.gw.url(APP_HOST, "/"),
            "sendInvitationMessage": true,
        }))
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    let mail = env.smtp().next_mail().await;
    assert_eq!(
        Some(mail.redeem_link().as_str()),
        inv["inviteRedeemUrl"].as_str()
    );
    let result = redeem_in_chromium(
        &env,
        &mail.redeem_link(),
        "carol",
        "carol_fabrikam.example#EXT#@contoso.example",
    )
    .await;
    assert_eq!(result["ok"], true);
}
