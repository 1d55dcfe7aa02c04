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
    let screenshot = gw.dir.path().join("signed-in.png");
    let script = node_dir().join("../../e2e/signin.mjs");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .arg(gw.url(APP_HOST, "/"))
        .arg("bob")
        .arg("bob@contoso-partner.test")
        .arg(&screenshot)
        .arg(format!("{LOGIN_HOST},{APP_HOST}"))
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser sign-in failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("result json");
    assert_eq!(result["ok"], true);
    assert_eq!(result["title"], "Demo app");
    assert_eq!(result["url"], gw.url(APP_HOST, "/"));
    assert!(
        std::fs::metadata(&screenshot)
            .map(|m| m.len() > 1000)
            .unwrap_or(false),
        "screenshot written"
    );
    gw.stop().await;
}
