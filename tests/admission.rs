//! The admission decision, attacked at each step it guards: a disabled or expired guest
//! redeeming, consenting or going straight to an app; an expiry a few seconds ahead ending a
//! live session at that moment; a stored redirect URL that no longer leads to an app. Each
//! refusal is asserted by its stable code, not only by a status.

mod common;

use common::guests::GuestEnv;
use common::{APP_HOST, LOGIN_HOST};

const ALICE: &str = "alice@fabrikam.example";

/// The response is a refusal page with this status and stable code; returns the page.
async fn expect_refusal(r: reqwest::Response, status: u16, code: &str) -> String {
    let got = r.status().as_u16();
    let page = r.text().await.expect("page");
    assert_eq!(got, status, "{page}");
    assert!(
        page.contains(&format!("<code>{code}</code>")),
        "no refusal code `{code}` in:\n{page}"
    );
    page
}

async fn invite(env: &mut GuestEnv) -> String {
    let out = env.cli_json(&["invite", ALICE, "--app", "hr"]).await;
    assert_eq!(out["result"], "invited");
    env.smtp().next_mail().await.redeem_link()
}

async fn cli_ok(env: &GuestEnv, args: &[&str]) {
    let out = env.cli(args).await;
    assert!(
        out.status.success(),
        "borderless {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn user_state(env: &GuestEnv) -> String {
    let u = env.cli_json(&["guests", "show", ALICE]).await;
    u["externalUserState"]
        .as_str()
        .or(u["user"]["externalUserState"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_guest_disabled_before_accepting_can_neither_redeem_nor_sign_in() {
    let mut env = GuestEnv::start().await;
    let link = invite(&mut env).await;
    cli_ok(&env, &["guests", "disable", ALICE]).await;

    // The mailed link: refused on its first page.
    let browser = env.browser();
    let r = browser.get(&link).send().await.expect("link");
    expect_refusal(r, 403, "user_disabled").await;
    // Just-in-time redemption, straight to the app.
    let r = env.visit_app(&env.browser(), APP_HOST, "alice").await;
    expect_refusal(r, 403, "user_disabled").await;
    assert_eq!(user_state(&env).await, "PendingAcceptance");

    // Enabled again, the same link works up to the consent page; disabled while that page
    // is open, accepting it is refused and nothing is redeemed.
    cli_ok(&env, &["guests", "enable", ALICE]).await;
    let alice = env.browser();
    let consent = env.open_link(&alice, &link, "alice").await;
    assert_eq!(consent.status(), 200, "consent page");
    cli_ok(&env, &["guests", "disable", ALICE]).await;
    let r = env.consent(&alice, "accept").await;
    expect_refusal(r, 403, "user_disabled").await;
    assert_eq!(user_state(&env).await, "PendingAcceptance");
}

#[tokio::test]
async fn an_expiry_seconds_ahead_ends_the_live_session_at_that_moment() {
    let mut env = GuestEnv::start().await;
    let link = invite(&mut env).await;
    let alice = env.browser();
    assert_eq!(env.open_link(&alice, &link, "alice").await.status(), 200);
    let landed = env.consent(&alice, "accept").await;
    assert_eq!(landed.status(), 200);
    let app = env.gw.url(APP_HOST, "/");

    // A full RFC 3339 timestamp three seconds ahead, from another process (the CLI).
    let end = borderless::session::now_unix() + 3;
    let stamp = chrono::DateTime::from_timestamp(end, 0)
        .expect("time")
        .to_rfc3339();
    cli_ok(&env, &["guests", "expire", ALICE, &stamp]).await;
    let r = alice.get(&app).send().await.expect("app");
    assert_eq!(r.status(), 200, "still before the expiry");

    let refused = loop {
        let r = alice.get(&app).send().await.expect("app");
        if r.status() != 200 {
            break r;
        }
        assert!(
            borderless::session::now_unix() <= end + 1,
            "session still served after its user's expiry"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        borderless::session::now_unix() >= end,
        "ended before the expiry"
    );
    expect_refusal(refused, 403, "user_expired").await;
    // And signing in again is refused too.
    let r = env.visit_app(&env.browser(), APP_HOST, "alice").await;
    expect_refusal(r, 403, "user_expired").await;
}

#[tokio::test]
async fn a_new_session_never_outlives_the_users_expiry() {
    let mut env = GuestEnv::start().await;
    let link = invite(&mut env).await;
    let in_ten_minutes = (borderless::session::now_unix() + 600).to_string();
    cli_ok(&env, &["guests", "expire", ALICE, &in_ten_minutes]).await;
    let alice = env.gw.json_browser();
    assert_eq!(
        env.open_link(&alice.client, &link, "alice").await.status(),
        200
    );
    let r = alice
        .manual(&env.gw)
        .post(env.gw.url(LOGIN_HOST, "/.borderless/consent"))
        .header("origin", env.gw.url(LOGIN_HOST, ""))
        .form(&[("decision", "accept")])
        .send()
        .await
        .expect("consent");
    let max_age: i64 = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-borderless_session="))
        .and_then(|c| c.split("Max-Age=").nth(1))
        .and_then(|v| v.split(';').next())
        .and_then(|v| v.parse().ok())
        .expect("session cookie with Max-Age");
    assert!(
        (590..=600).contains(&max_age),
        "session cookie lives {max_age} s, the user 600 s"
    );
}

#[tokio::test]
async fn a_stored_redirect_that_no_longer_leads_to_an_app_is_refused() {
    let mut env = GuestEnv::start().await;
    let link = invite(&mut env).await;
    // The invitation was checked when it was made; the config (or the row) changed since.
    sqlx::query("UPDATE invitations SET redirect_url = 'https://evil.test/'")
        .execute(env.gw.gw.directory.pool())
        .await
        .expect("update");
    let r = env.browser().get(&link).send().await.expect("link");
    expect_refusal(r, 403, "redirect_not_allowed").await;
}

#[tokio::test]
async fn the_redemption_page_may_show_the_configured_logo_and_nothing_else() {
    let mut env = GuestEnv::start().await;
    let link = invite(&mut env).await;
    let r = env.browser().get(&link).send().await.expect("link");
    assert_eq!(r.status(), 200);
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(csp.contains("img-src https://contoso.example;"), "{csp}");
    assert!(csp.starts_with("default-src 'none';"), "{csp}");
    let html = r.text().await.expect("page");
    assert!(html.contains("https://contoso.example/logo.png"), "{html}");
}
