//! One real browser: headless Chromium (Debian's `chromium`, driven by npm `playwright-core`)
//! opens an app behind the gateway, signs in at the real `oidc-provider` and sees the app page
//! with the identity the gateway forwarded.

mod common;

use common::oidc_provider::{NodeIdp, node_dir};
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
    let result = run_e2e(
        "signin.mjs",
        &gw.url(APP_HOST, "/"),
        "bob",
        "bob@contoso-partner.test",
        &gw.dir.path().join("signed-in.png"),
    )
    .await;
    assert_eq!(result["ok"], true);
    assert_eq!(result["title"], "Demo app");
    assert_eq!(result["url"], gw.url(APP_HOST, "/"));
    gw.stop().await;
}

/// Runs a browser script of `tests/e2e/` (start URL, login, expected text, screenshot path,
/// test hosts); asserts it succeeded and wrote its screenshot; returns its JSON result.
async fn run_e2e(
    script: &str,
    start: &str,
    login: &str,
    expected: &str,
    screenshot: &std::path::Path,
) -> serde_json::Value {
    let out = tokio::process::Command::new("node")
        .arg(node_dir().join("../../e2e").join(script))
        .arg(start)
        .arg(login)
        .arg(expected)
        .arg(screenshot)
        .arg(format!("{LOGIN_HOST},{APP_HOST}"))
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser script {script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::metadata(screenshot).is_ok_and(|m| m.len() > 1000),
        "screenshot written"
    );
    let result: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("result json");
    assert_eq!(result["ok"], true);
    result
}

/// Follows a redemption link in Chromium to the app; returns the script's result.
async fn redeem_in_chromium(
    env: &common::guests::GuestEnv,
    link: &str,
    login: &str,
    expected: &str,
) -> serde_json::Value {
    let screenshot = env.gw.dir.path().join(format!("redeemed-{login}.png"));
    run_e2e("redeem.mjs", link, login, expected, &screenshot).await
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
