//! Conditional Access and partner settings end to end, against the real oidc-provider as
//! the partners' IdP: each policy is sent the request it must refuse (or let through), and
//! each refusal is asserted by its stable code; report-only changes nothing but is audited;
//! a policy change takes effect on the next request.

mod common;

use common::APP_HOST;
use common::guests::{GuestEnv, Options};

/// Fabrikam's MFA is trusted; Woodgrove's is not, whatever its IdP says. Both route to the
/// test IdP.
const PARTNERS: &str = r#"
[[partner]]
name = "fabrikam"
domains = ["fabrikam.example"]
providers = ["partner"]
[partner.mfa_trust]
amr = ["mfa"]

[[partner]]
name = "woodgrove"
domains = ["woodgrove.example"]
providers = ["partner"]

[[location]]
name = "loopback"
ranges = ["127.0.0.0/8", "::1/128"]
"#;

async fn env(policies: &str) -> GuestEnv {
    GuestEnv::start_with(Options {
        extra: format!("{PARTNERS}\n{policies}"),
        ..Default::default()
    })
    .await
}

/// Invites `mail` to `hr`, redeems the link as `login` and returns the browser and the page
/// the guest lands on (the app, or a refusal).
async fn redeem(
    env: &mut GuestEnv,
    mail: &str,
    login: &str,
) -> (reqwest::Client, reqwest::Response) {
    let out = env.cli_json(&["invite", mail, "--app", "hr"]).await;
    assert_eq!(out["result"], "invited", "{out}");
    let link = env.smtp().next_mail().await.redeem_link();
    let browser = env.browser();
    let consent = env.open_link(&browser, &link, login).await;
    assert_eq!(consent.status(), 200, "consent page");
    let landed = env.consent(&browser, "accept").await;
    (browser, landed)
}

/// The response is a refusal page with this status and stable code, and a request id.
async fn expect_refusal(r: reqwest::Response, status: u16, code: &str) -> String {
    let got = r.status().as_u16();
    let id = r
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    let page = r.text().await.expect("page");
    assert_eq!(got, status, "{page}");
    assert!(
        page.contains(&format!("<code>{code}</code>")),
        "no refusal code `{code}` in:\n{page}"
    );
    assert!(
        !id.is_empty() && page.contains(&id),
        "the page names its request id"
    );
    page
}

async fn audit(env: &GuestEnv, action: &str) -> Vec<serde_json::Value> {
    // The audit write happens off the request; give it a moment.
    for _ in 0..50 {
        let events = env.cli_json(&["audit", "--since", "1h"]).await;
        let found: Vec<_> = events
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect();
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Vec::new()
}

const MFA_FOR_HR: &str = r#"
[[policy]]
name = "MFA for guests on HR"
users = ["guests"]
apps = ["hr"]
require = ["mfa"]
"#;

#[tokio::test]
async fn a_trusted_partners_mfa_claim_lets_its_guest_in_without_a_prompt() {
    let mut env = env(MFA_FOR_HR).await;
    let (frank, landed) = redeem(&mut env, "frank@fabrikam.example", "frank").await;
    assert_eq!(
        landed.status(),
        200,
        "{}",
        landed.text().await.unwrap_or_default()
    );
    let again = frank
        .get(env.gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app");
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn the_same_claim_from_an_untrusted_partner_does_not_count() {
    let mut env = env(MFA_FOR_HR).await;
    let (_grace, landed) = redeem(&mut env, "grace@woodgrove.example", "grace").await;
    let page = expect_refusal(landed, 403, "mfa_required").await;
    assert!(
        page.contains("MFA for guests on HR"),
        "names the policy: {page}"
    );
    // A guest of the trusted partner whose IdP did not do MFA is refused too.
    let (_alice, landed) = redeem(&mut env, "alice@fabrikam.example", "alice").await;
    expect_refusal(landed, 403, "mfa_required").await;
    let events = audit(&env, "policy.mfa_required").await;
    assert!(
        events
            .iter()
            .any(|e| e["detail"]["policies"][0] == "MFA for guests on HR"
                && e["detail"]["app"] == "hr"),
        "audited with the policy: {events:?}"
    );
}

#[tokio::test]
async fn a_blocked_location_is_refused_and_report_only_changes_nothing_but_is_audited() {
    let mut env = env(r#"
[[policy]]
name = "Would block loopback"
state = "report_only"
users = ["all"]
apps = ["all"]
locations = ["loopback"]
block = true
"#)
    .await;
    let (alice, landed) = redeem(&mut env, "alice@fabrikam.example", "alice").await;
    assert_eq!(landed.status(), 200, "report-only is not enforced");
    let events = audit(&env, "policy.report_only").await;
    let e = events.first().expect("a report-only audit event");
    assert_eq!(
        e["detail"]["report_only"][0]["policy"],
        "Would block loopback"
    );
    assert_eq!(e["detail"]["report_only"][0]["result"], "block");
    assert_eq!(e["detail"]["result"], "allow");

    // Switched on: the next request is refused, the session is not ended.
    let config = std::fs::read_to_string(env.config()).expect("config");
    std::fs::write(
        env.config(),
        config.replace("state = \"report_only\"", "state = \"on\""),
    )
    .expect("config");
    borderless::reload(&env.gw.gw, &env.config()).expect("reload");
    let r = alice
        .get(env.gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app");
    expect_refusal(r, 403, "policy_blocked").await;
    assert_eq!(audit(&env, "policy.blocked").await.len(), 1);
    // And off again: in at once, the same session.
    let config = std::fs::read_to_string(env.config()).expect("config");
    std::fs::write(
        env.config(),
        config.replace("state = \"on\"", "state = \"off\""),
    )
    .expect("config");
    borderless::reload(&env.gw.gw, &env.config()).expect("reload");
    let r = alice
        .get(env.gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn platforms_are_matched_from_the_user_agent() {
    let mut env = env(r#"
[[policy]]
name = "No phones on HR"
users = ["guests"]
apps = ["hr"]
platforms = ["android", "ios"]
block = true
"#)
    .await;
    let (alice, landed) = redeem(&mut env, "alice@fabrikam.example", "alice").await;
    assert_eq!(landed.status(), 200);
    let r = alice
        .get(env.gw.url(APP_HOST, "/"))
        .header(
            "user-agent",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15",
        )
        .send()
        .await
        .expect("app");
    expect_refusal(r, 403, "policy_blocked").await;
}

#[tokio::test]
async fn partner_settings_block_a_partner_and_narrow_another_to_some_apps() {
    let mut env = env("").await;
    let (alice, landed) = redeem(&mut env, "alice@fabrikam.example", "alice").await;
    assert_eq!(landed.status(), 200);
    let (grace, landed) = redeem(&mut env, "grace@woodgrove.example", "grace").await;
    assert_eq!(landed.status(), 200);

    let config = std::fs::read_to_string(env.config()).expect("config");
    let config = config
        .replace(
            "name = \"woodgrove\"",
            "name = \"woodgrove\"\ninbound = \"block\"",
        )
        .replace(
            "name = \"fabrikam\"",
            "name = \"fabrikam\"\napps = [\"wiki\"]",
        );
    std::fs::write(env.config(), config).expect("config");
    borderless::reload(&env.gw.gw, &env.config()).expect("reload");
    let r = grace
        .get(env.gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app");
    let page = expect_refusal(r, 403, "partner_blocked").await;
    assert!(page.contains("woodgrove"), "{page}");
    let r = alice
        .get(env.gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app");
    expect_refusal(r, 403, "partner_blocked").await;
    let events = audit(&env, "policy.partner_blocked").await;
    assert_eq!(events.len(), 2, "{events:?}");
}

#[tokio::test]
async fn a_session_older_than_the_policys_lifetime_must_sign_in_again() {
    let mut env = env(r#"
[[policy]]
name = "Short sessions"
users = ["guests"]
apps = ["hr"]
session_lifetime_secs = 2
"#)
    .await;
    let (alice, landed) = redeem(&mut env, "alice@fabrikam.example", "alice").await;
    assert_eq!(landed.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let r = alice
        .get(env.gw.url(APP_HOST, "/"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("app");
    expect_refusal(r, 403, "sign_in_again").await;
}
