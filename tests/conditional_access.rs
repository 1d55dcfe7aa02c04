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
    let (grace, landed) = redeem(&mut env, "grace@woodgrove.example", "grace").await;
    // A page load goes to the gateway's own MFA step (tests/mfa.rs follows it through).
    assert_eq!(landed.url().path(), "/.borderless/mfa", "{}", landed.url());
    // A script's request gets the refusal, naming the policy.
    let r = grace
        .post(env.gw.url(APP_HOST, "/api"))
        .send()
        .await
        .expect("post");
    let page = expect_refusal(r, 403, "mfa_required").await;
    assert!(
        page.contains("MFA for guests on HR"),
        "names the policy: {page}"
    );
    // A guest of the trusted partner whose IdP did not do MFA is asked too.
    let (_alice, landed) = redeem(&mut env, "alice@fabrikam.example", "alice").await;
    assert_eq!(landed.url().path(), "/.borderless/mfa");
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
    reconfigure(&env, "state = \"report_only\"", "state = \"on\"");
    let r = alice
        .get(env.gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app");
    expect_refusal(r, 403, "policy_blocked").await;
    assert_eq!(audit(&env, "policy.blocked").await.len(), 1);
    // And off again: in at once, the same session.
    reconfigure(&env, "state = \"on\"", "state = \"off\"");
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

    reconfigure(
        &env,
        "name = \"woodgrove\"",
        "name = \"woodgrove\"\ninbound = \"block\"",
    );
    reconfigure(
        &env,
        "name = \"fabrikam\"",
        "name = \"fabrikam\"\napps = [\"wiki\"]",
    );
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

/// Opens the app as a browser would (following redirects) and returns where it ended up.
async fn open_app(env: &GuestEnv, browser: &reqwest::Client) -> (url::Url, String) {
    let r = browser
        .get(env.gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app");
    let at = r.url().clone();
    (at, r.text().await.expect("page"))
}

/// At the test IdP's login form (not let through by its single sign-on session).
fn at_idp_login(at: &url::Url, page: &str) -> bool {
    at.host_str() == Some("127.0.0.1") && page.contains("name=\"login\"")
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
    let (at, page) = open_app(&env, &alice).await;
    assert!(
        at_idp_login(&at, &page),
        "sent to sign in anew, got {at}:\n{page}"
    );
    let r = common::oidc_provider::sign_in(&alice, &env.gw.url(APP_HOST, "/"), "alice").await;
    assert_eq!(r.status(), 200, "signed in again: {}", r.url());
}

#[tokio::test]
async fn sign_in_frequency_forces_a_fresh_authentication_at_the_idp() {
    let mut env = env(r#"
[[policy]]
name = "Re-authenticate often"
users = ["guests"]
apps = ["hr"]
sign_in_frequency_secs = 2
"#)
    .await;
    let (alice, landed) = redeem(&mut env, "alice@fabrikam.example", "alice").await;
    assert_eq!(landed.status(), 200);
    let (at, _) = open_app(&env, &alice).await;
    assert_eq!(at.host_str(), Some(APP_HOST), "within the frequency: in");
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    // The IdP still has its own session for alice: without `prompt=login` it would send her
    // straight back with the old `auth_time`, and the gateway would loop or let her in.
    let (at, page) = open_app(&env, &alice).await;
    assert!(
        at_idp_login(&at, &page),
        "the IdP was asked to authenticate again, got {at}:\n{page}"
    );
    assert!(
        at.query().unwrap_or("").contains("prompt=login") || page.contains("name=\"login\""),
        "{at}"
    );
    let r = common::oidc_provider::sign_in(&alice, &env.gw.url(APP_HOST, "/"), "alice").await;
    assert_eq!(
        r.status(),
        200,
        "in again after a fresh sign-in: {}",
        r.url()
    );
    let (at, _) = open_app(&env, &alice).await;
    assert_eq!(at.host_str(), Some(APP_HOST));
}

/// Rewrites the running gateway's config (`from` → `to`) and reloads it, as SIGHUP does.
fn reconfigure(env: &GuestEnv, from: &str, to: &str) {
    let config = std::fs::read_to_string(env.config()).expect("config");
    assert!(config.contains(from), "`{from}` is not in the config");
    std::fs::write(env.config(), config.replace(from, to)).expect("config");
    borderless::reload(&env.gw.gw, &env.config()).expect("reload");
}

/// The line of the first line of `toml` that contains `needle` (1-based).
fn line_of(toml: &str, needle: &str) -> usize {
    toml.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("`{needle}` not in the config"))
}

#[test]
fn policy_mistakes_are_named_by_file_line_and_key() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ca.toml");
    let toml = r#"version = 1
[gateway]
public_url = "https://login.test"
[[listener]]
bind = "127.0.0.1:0"
redirect_to_https = true
[[idp]]
id = "op"
kind = "oidc"
issuer = "https://op.example"
client_id = "c"
client_secret = "s"
[[app]]
id = "hr"
host = "hr.test"
upstream = "http://127.0.0.1:9"
[[partner]]
name = "fabrikam"
domains = ["fabrikam.example"]
issuers = ["not a url"]
[[location]]
name = "office"
ranges = ["10.0.0.0/8", "10.0.0.300"]
[[policy]]
name = "typos"
users = ["guest"]
apps = ["payroll"]
locations = ["home"]
platforms = ["beos"]
idps = ["google"]
partners = ["contoso"]
require = ["sms"]
[[policy]]
name = "nothing"
users = ["all"]
apps = ["all"]
[[policy]]
name = "block and more"
users = ["all"]
apps = ["all"]
block = true
require = ["mfa"]
sign_in_frequency_secs = 0
[[policy]]
name = "nothing"
exclude_users = ["all"]
apps = ["hr"]
require = ["mfa"]
"#;
    std::fs::write(&path, toml).expect("write");
    common::assert_config_errors(
        &path,
        &[
            (
                line_of(toml, "not a url"),
                "partner[0].issuers[0]",
                "issuer URL",
            ),
            (
                line_of(toml, "10.0.0.300"),
                "location[0].ranges[1]",
                "not an IP address",
            ),
            (
                line_of(toml, "\"guest\""),
                "policy[0].users[0]",
                "`guest` is not",
            ),
            (
                line_of(toml, "payroll"),
                "policy[0].apps[0]",
                "no [[app]] has the id `payroll`",
            ),
            (
                line_of(toml, "\"home\""),
                "policy[0].locations[0]",
                "no [[location]] is named `home`",
            ),
            (
                line_of(toml, "beos"),
                "policy[0].platforms[0]",
                "unknown platform `beos`",
            ),
            (
                line_of(toml, "\"google\""),
                "policy[0].idps[0]",
                "no [[idp]] has the id `google`",
            ),
            (
                line_of(toml, "contoso"),
                "policy[0].partners[0]",
                "no [[partner]]",
            ),
            (
                line_of(toml, "\"sms\""),
                "policy[0].require[0]",
                "unknown control `sms`",
            ),
            (0, "policy[1].require", "the policy has no control"),
            (
                0,
                "policy[2].block",
                "a blocking policy has no other control",
            ),
            (0, "policy[2].sign_in_frequency_secs", "must be more than 0"),
            (0, "policy[3].name", "another policy is named `nothing`"),
            (
                0,
                "policy[3].exclude_users[0]",
                "\"all\" cannot be excluded",
            ),
            (0, "policy[3].users", "the policy assigns no one"),
        ],
    );
}

#[tokio::test]
async fn whatif_explains_each_policy_from_the_cli_and_the_admin_api() {
    let mut env = env(r#"
[[policy]]
name = "Block loopback for HR"
state = "report_only"
users = ["guests"]
apps = ["hr"]
locations = ["loopback"]
block = true

[[policy]]
name = "MFA for guests"
users = ["guests"]
apps = ["all"]
require = ["mfa"]

[[policy]]
name = "Members only"
users = ["members"]
apps = ["all"]
block = true
"#)
    .await;
    let (_alice, _) = redeem(&mut env, "alice@fabrikam.example", "alice").await;

    let out = env
        .cli_json(&[
            "whatif",
            "--user",
            "alice@fabrikam.example",
            "--app",
            "hr",
            "--ip",
            "127.0.0.1",
        ])
        .await;
    assert_eq!(out["result"], "require_mfa", "{out}");
    assert_eq!(out["partner"], "fabrikam");
    assert_eq!(out["locations"][0], "loopback");
    let verdicts: Vec<_> = out["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .map(|p| {
            (
                p["policy"].clone(),
                p["applies"].clone(),
                p["result"].clone(),
                p["notApplied"].clone(),
            )
        })
        .collect();
    use serde_json::json;
    assert_eq!(
        verdicts,
        vec![
            (
                json!("Block loopback for HR"),
                json!(true),
                json!("block"),
                json!(null)
            ),
            (
                json!("MFA for guests"),
                json!(true),
                json!("require_mfa"),
                json!(null)
            ),
            (
                json!("Members only"),
                json!(false),
                json!(null),
                json!("user not included")
            ),
        ]
    );
    // With the partner's trusted MFA claim the MFA policy is satisfied.
    let out = env
        .cli_json(&[
            "whatif",
            "--user",
            "alice@fabrikam.example",
            "--app",
            "hr",
            "--amr",
            "mfa",
        ])
        .await;
    assert_eq!(out["result"], "allow", "{out}");
    let out = env
        .cli(&["whatif", "--user", "nobody@x.example", "--app", "hr"])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user with the address or id"));

    // The admin API answers the same question.
    let key = env.admin_key("ops").await;
    let r = env
        .gw
        .client()
        .post(env.gw.url(common::LOGIN_HOST, "/.borderless/api/v1/whatif"))
        .bearer_auth(&key)
        .json(&json!({ "user": "alice@fabrikam.example", "app": "hr", "ip": "127.0.0.1", "platform": "ios" }))
        .send()
        .await
        .expect("whatif");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["result"], "require_mfa");
    assert_eq!(body["policies"][0]["result"], "block");
    let r = env
        .gw
        .client()
        .post(env.gw.url(common::LOGIN_HOST, "/.borderless/api/v1/whatif"))
        .bearer_auth(&key)
        .json(&json!({ "user": "alice@fabrikam.example", "app": "hr", "platform": "beos" }))
        .send()
        .await
        .expect("whatif");
    assert_eq!(r.status(), 400);
}

/// A provider that ignores `prompt=login` and answers from an old sign-in (the stand-in
/// provider, told to state an `auth_time` an hour back): the gateway refuses that sign-in
/// instead of starting a session the policy refuses at once, which would loop.
#[tokio::test]
async fn a_provider_that_does_not_reauthenticate_is_refused_not_looped() {
    let (gw, idp) = common::with_fake_idp("", |port, echo| {
        format!(
            "{}\n[[policy]]\nname = \"hourly\"\nusers = [\"all\"]\napps = [\"all\"]\nsign_in_frequency_secs = 600\n",
            common::app_toml("hr", APP_HOST, port, echo, "")
        )
    })
    .await;
    let an_hour_ago = borderless::session::now_unix() - 3600;
    idp.set(move |s| {
        s.mutate = Box::new(move |c| {
            c.insert("auth_time".into(), an_hour_ago.into());
        })
    });
    let r = gw
        .json_browser()
        .client
        .get(gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app");
    expect_refusal(r, 403, "not_reauthenticated").await;
    gw.stop().await;
}

/// Terms of use: shown before the app, accepted once per version (recorded and audited),
/// asked again when the operator publishes a new version.
#[tokio::test]
async fn terms_of_use_are_shown_once_per_version() {
    let mut env = env(r#"
[[terms]]
id = "nda"
version = "2026-12"
title = "Contoso partner NDA"
text = """
Everything you see in Contoso's apps is confidential.

Do not share it outside your organisation."""

[[policy]]
name = "NDA for HR"
users = ["guests"]
apps = ["hr"]
require = ["terms"]
terms = "nda"
"#)
    .await;
    let (alice, landed) = redeem(&mut env, "alice@fabrikam.example", "alice").await;
    assert_eq!(
        landed.url().path(),
        "/.borderless/terms",
        "{}",
        landed.url()
    );
    let page = landed.text().await.expect("page");
    assert!(
        page.contains("Contoso partner NDA") && page.contains("Do not share it"),
        "{page}"
    );
    let accept = |page: String| {
        let (action, mut fields) = common::first_form(&page);
        fields.push(("decision".into(), "accept".into()));
        alice
            .post(env.gw.url(common::LOGIN_HOST, &action))
            .header("origin", env.gw.url(common::LOGIN_HOST, ""))
            .form(&fields)
            .send()
    };
    let r = accept(page).await.expect("accept");
    assert_eq!(
        r.url().host_str(),
        Some(APP_HOST),
        "on to the app: {}",
        r.url()
    );
    assert_eq!(r.status(), 200);
    // Accepted once: not asked again.
    let r = alice
        .get(env.gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app");
    assert_eq!(r.url().host_str(), Some(APP_HOST));
    assert_eq!(audit(&env, "terms.accepted").await.len(), 1);

    // A new version: asked again, once.
    reconfigure(&env, "version = \"2026-12\"", "version = \"2027-01\"");
    let r = alice
        .get(env.gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app");
    assert_eq!(r.url().path(), "/.borderless/terms");
    let page = r.text().await.expect("page");
    assert!(page.contains("version 2027-01"), "{page}");
    let r = accept(page).await.expect("accept");
    assert_eq!(r.url().host_str(), Some(APP_HOST));
    let events = audit(&env, "terms.accepted").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["detail"]["version"], "2027-01");
    // A script's request (not a page load) gets the refusal, not a redirect.
    reconfigure(&env, "version = \"2027-01\"", "version = \"2027-02\"");
    let r = alice
        .post(env.gw.url(APP_HOST, "/api"))
        .send()
        .await
        .expect("post");
    expect_refusal(r, 403, "terms_required").await;
}

/// The terms page in headless Chromium: shown after consent, accepted once, not again.
#[tokio::test]
async fn chromium_shows_the_terms_once_and_lets_the_guest_in() {
    let mut env = env(r#"
[[terms]]
id = "aup"
version = "1"
title = "Acceptable use"
text = "Use Contoso's apps for the project only."

[[policy]]
name = "AUP for HR"
users = ["guests"]
apps = ["hr"]
require = ["terms"]
terms = "aup"
"#)
    .await;
    env.cli_json(&["invite", "alice@fabrikam.example", "--app", "hr"])
        .await;
    let link = env.smtp().next_mail().await.redeem_link();
    let upn = "alice_fabrikam.example#EXT#@contoso.example";
    let result = common::e2e::run(
        "terms.mjs",
        &[&link, "alice", upn],
        &env.gw.dir.path().join("terms.png"),
    )
    .await;
    assert_eq!(result["steps"][0]["title"], "Acceptable use · Borderless");
    assert_eq!(
        result["steps"][0]["text"],
        "Use Contoso's apps for the project only."
    );
    assert_eq!(result["steps"][2]["page"], "app again");
    assert_eq!(audit(&env, "terms.accepted").await.len(), 1);
}

/// In headless Chromium: the trusted partner's guest whose IdP did MFA goes from the
/// invitation to the MFA app with no prompt at all.
#[tokio::test]
async fn chromium_a_trusted_partners_guest_meets_no_mfa_prompt() {
    let mut env = env(MFA_FOR_HR).await;
    env.cli_json(&["invite", "frank@fabrikam.example", "--app", "hr"])
        .await;
    let link = env.smtp().next_mail().await.redeem_link();
    let result = common::e2e::run(
        "redeem.mjs",
        &[
            &link,
            "frank",
            "frank_fabrikam.example#EXT#@contoso.example",
        ],
        &env.gw.dir.path().join("trusted.png"),
    )
    .await;
    assert_eq!(result["ok"], true);
    assert!(
        result["url"]
            .as_str()
            .unwrap_or("")
            .starts_with(&env.gw.url(APP_HOST, "/")),
        "{result}"
    );
}

/// A group change takes effect on the next requests: joining a group a block policy names
/// refuses the guest's live session, leaving it lets the same session in again.
#[tokio::test]
async fn a_group_change_takes_effect_without_a_new_sign_in() {
    let mut env = env(r#"
[[policy]]
name = "No contractors on HR"
groups = ["contractors"]
apps = ["hr"]
block = true
"#)
    .await;
    let (alice, landed) = redeem(&mut env, "alice@fabrikam.example", "alice").await;
    assert_eq!(landed.status(), 200);
    let out = env.cli(&["groups", "create", "contractors"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status_until = |want: u16| {
        let alice = alice.clone();
        let url = env.gw.url(APP_HOST, "/");
        async move {
            // Through the revocation feed: within a second.
            for _ in 0..30 {
                let s = alice.get(&url).send().await.expect("app").status().as_u16();
                if s == want {
                    return s;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            0
        }
    };
    let out = env
        .cli(&[
            "groups",
            "add-member",
            "contractors",
            "alice@fabrikam.example",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(status_until(403).await, 403, "blocked once in the group");
    let out = env
        .cli(&[
            "groups",
            "remove-member",
            "contractors",
            "alice@fabrikam.example",
        ])
        .await;
    assert!(out.status.success());
    assert_eq!(status_until(200).await, 200, "in again, same session");
}

/// In headless Chromium: a blocked location shows the refusal page (its code and request
/// id) right after the guest accepts; the same block in report-only lets the guest in.
#[tokio::test]
async fn chromium_a_blocked_location_is_refused_and_report_only_is_not() {
    for (state, expected) in [
        ("on", "policy_blocked"),
        ("report_only", "alice_fabrikam.example#EXT#@contoso.example"),
    ] {
        let mut env = env(&format!(
            "[[policy]]\nname = \"Block loopback\"\nstate = \"{state}\"\nusers = [\"guests\"]\napps = [\"hr\"]\nlocations = [\"loopback\"]\nblock = true\n"
        ))
        .await;
        env.cli_json(&["invite", "alice@fabrikam.example", "--app", "hr"])
            .await;
        let link = env.smtp().next_mail().await.redeem_link();
        let result = common::e2e::run(
            "redeem.mjs",
            &[&link, "alice", expected],
            &env.gw.dir.path().join(format!("location-{state}.png")),
        )
        .await;
        assert_eq!(result["ok"], true, "{state}: {result}");
        let action = if state == "on" {
            "policy.blocked"
        } else {
            "policy.report_only"
        };
        assert_eq!(audit(&env, action).await.len(), 1, "{state}");
    }
}

/// In headless Chromium: past the sign-in frequency the IdP shows its login form again
/// (although it still has its own session), and after it the guest is back in the app.
#[tokio::test]
async fn chromium_sign_in_frequency_asks_the_idp_to_sign_in_again() {
    let mut env = env(
        "[[policy]]\nname = \"Re-authenticate often\"\nusers = [\"guests\"]\napps = [\"hr\"]\nsign_in_frequency_secs = 2\n",
    )
    .await;
    env.cli_json(&["invite", "alice@fabrikam.example", "--app", "hr"])
        .await;
    let link = env.smtp().next_mail().await.redeem_link();
    let result = common::e2e::run(
        "reauth.mjs",
        &[
            &link,
            "alice",
            "alice_fabrikam.example#EXT#@contoso.example",
            "3100",
        ],
        &env.gw.dir.path().join("reauth.png"),
    )
    .await;
    let steps: Vec<&str> = result["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["page"].as_str())
        .collect();
    assert_eq!(steps, ["app", "idp login again", "app again"]);
}
