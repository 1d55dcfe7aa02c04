//! The gateway's own MFA, end to end against the real oidc-provider: a guest whose partner's
//! MFA is not trusted opens an app that needs MFA, enrolls a TOTP authenticator (the test
//! computes codes from the key the page shows), gets in with a rotated session; the same
//! code again is refused; five wrong codes lock the account; a recovery code works once; an
//! admin's reset ends the sessions and asks for a new enrollment.

mod common;

use common::guests::{GuestEnv, Options};
use common::{APP_HOST, LOGIN_HOST};
use totp_rs::{Builder, Secret, Totp};

const CONFIG: &str = r#"
[[partner]]
name = "fabrikam"
domains = ["fabrikam.example"]
providers = ["partner"]

[[policy]]
name = "MFA for HR"
users = ["guests"]
apps = ["hr"]
require = ["mfa"]
"#;

/// `CONFIG` plus a wiki that requires phishing-resistant MFA (a passkey).
async fn strict_env() -> GuestEnv {
    GuestEnv::start_with(Options {
        extra: format!(
            "{CONFIG}\n[[policy]]\nname = \"Passkeys for the wiki\"\nusers = [\"guests\"]\napps = [\"wiki\"]\nrequire = [\"phishing_resistant\"]\n"
        ),
        ..Default::default()
    })
    .await
}

async fn env() -> GuestEnv {
    GuestEnv::start_with(Options {
        extra: CONFIG.into(),
        ..Default::default()
    })
    .await
}

/// Redeems an invitation for alice; returns her browser and the page she lands on.
async fn redeem_alice(env: &mut GuestEnv) -> (reqwest::Client, reqwest::Response) {
    let browser = env.browser();
    let landed = redeem_alice_in(env, &browser).await;
    (browser, landed)
}

async fn redeem_alice_in(env: &mut GuestEnv, browser: &reqwest::Client) -> reqwest::Response {
    let out = env
        .cli_json(&["invite", "alice@fabrikam.example", "--app", "hr"])
        .await;
    assert_eq!(out["result"], "invited");
    let link = env.smtp().next_mail().await.redeem_link();
    assert_eq!(env.open_link(browser, &link, "alice").await.status(), 200);
    env.consent(browser, "accept").await
}

/// The session cookie's value in `jar_cookies` (a `Cookie` header).
fn session_cookie(jar_cookies: &str) -> String {
    jar_cookies
        .split("; ")
        .find_map(|c| c.strip_prefix("__Host-borderless_session="))
        .expect("a session cookie")
        .to_string()
}

/// The authenticator for the key an enrollment page shows.
fn authenticator_from(page: &str) -> Totp {
    let start = page
        .find("id=\"manual-key\">")
        .expect("manual key on the page")
        + 16;
    let end = start + page[start..].find('<').expect("end of key");
    let key: String = page[start..end].chars().filter(|c| *c != ' ').collect();
    let secret = Secret::try_from_base32(&key).expect("base32 key");
    // What an authenticator app does with the key: SHA-1, six digits, 30 s (the defaults).
    Builder::new().with_secret(secret).build().expect("totp")
}

fn code_at(t: &Totp, offset_steps: i64) -> String {
    let now = borderless::session::now_unix() + offset_steps * 30;
    t.generate(now as u64).to_string()
}

/// Posts `code` to the MFA form of `page` (at `url`).
async fn submit(
    env: &GuestEnv,
    browser: &reqwest::Client,
    page: &str,
    code: &str,
) -> reqwest::Response {
    let (action, mut fields) = common::first_form(page);
    assert_eq!(action, "/.borderless/mfa");
    fields.push(("code".into(), code.into()));
    browser
        .post(env.gw.url(LOGIN_HOST, &action))
        .header("origin", env.gw.url(LOGIN_HOST, ""))
        .form(&fields)
        .send()
        .await
        .expect("submit code")
}

async fn app(env: &GuestEnv, browser: &reqwest::Client) -> reqwest::Response {
    browser
        .get(env.gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app")
}

/// Enrolls alice: returns her browser (in the app) and her authenticator.
async fn enrolled(env: &mut GuestEnv) -> (reqwest::Client, Totp, Vec<String>) {
    let (alice, landed) = redeem_alice(env).await;
    assert_eq!(
        landed.url().path(),
        "/.borderless/mfa",
        "sent to the step-up"
    );
    let page = landed.text().await.expect("page");
    assert!(page.contains("Set up an authenticator"), "{page}");
    assert!(page.contains("<svg"), "a QR code");
    let t = authenticator_from(&page);
    let done = submit(env, &alice, &page, &code_at(&t, 0)).await;
    assert_eq!(done.status(), 200);
    let page = done.text().await.expect("recovery page");
    let codes: Vec<String> = page
        .split("<li><code>")
        .skip(1)
        .filter_map(|s| s.split('<').next().map(str::to_string))
        .collect();
    assert_eq!(codes.len(), 10, "{page}");
    (alice, t, codes)
}

#[tokio::test]
async fn an_untrusted_partners_guest_enrolls_totp_and_gets_in_with_a_rotated_session() {
    let mut env = env().await;
    let jarred = env.gw.json_browser();
    let alice = jarred.client.clone();
    let landed = redeem_alice_in(&mut env, &alice).await;
    let page = landed.text().await.expect("page");
    let t = authenticator_from(&page);
    let before = session_cookie(&jarred.cookies_for(&env.gw.url(APP_HOST, "/")));

    // A wrong first code: refused, counted, the same secret shown again.
    let wrong = submit(&env, &alice, &page, "000000").await;
    assert_eq!(wrong.status(), 400);
    let again = wrong.text().await.expect("page");
    assert!(again.contains("That code is not right"), "{again}");
    assert_eq!(
        authenticator_from(&again)
            .generate(1_800_000_000)
            .to_string(),
        t.generate(1_800_000_000).to_string(),
        "the same secret is shown until it is confirmed"
    );

    let done = submit(&env, &alice, &again, &code_at(&t, 0)).await;
    assert_eq!(done.status(), 200);
    assert_eq!(
        done.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let page = done.text().await.expect("recovery page");
    assert!(page.contains("Your recovery codes"), "{page}");
    let r = app(&env, &alice).await;
    assert_eq!(r.status(), 200, "in the app after enrolling");
    assert_eq!(r.url().host_str(), Some(APP_HOST));

    // The session was rotated: the id from before the second factor no longer works.
    let after = session_cookie(&jarred.cookies_for(&env.gw.url(APP_HOST, "/")));
    assert_ne!(before, after, "a new session id after the step-up");
    let r = env
        .gw
        .manual_client()
        .get(env.gw.url(APP_HOST, "/"))
        .header("cookie", format!("__Host-borderless_session={before}"))
        .send()
        .await
        .expect("old cookie");
    assert_eq!(r.status(), 302, "the old id is not a session any more");
    assert!(
        common::location(&r).contains("/.borderless/signin"),
        "{}",
        common::location(&r)
    );

    let methods = env
        .cli_json(&["guests", "mfa", "alice@fabrikam.example"])
        .await;
    assert_eq!(methods["methods"][0]["kind"], "totp");
    assert_eq!(methods["methods"][0]["confirmed"], true);
    assert_eq!(methods["recoveryCodesLeft"], 10);
    let audit = env.cli_json(&["audit", "--since", "1h"]).await;
    let actions: Vec<&str> = audit
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"mfa.enrolled"), "{actions:?}");
    assert!(actions.contains(&"mfa.step_up"), "{actions:?}");
}

#[tokio::test]
async fn the_same_code_again_is_refused_and_the_next_one_lets_in() {
    let mut env = env().await;
    let (_alice, t, _) = enrolled(&mut env).await;
    let first = code_at(&t, 0);

    // Another browser of alice's: signs in at her IdP, then only the MFA step.
    let bob = env.browser();
    let landed = env.visit_app(&bob, APP_HOST, "alice").await;
    assert_eq!(landed.url().path(), "/.borderless/mfa");
    let page = landed.text().await.expect("page");
    assert!(
        page.contains("Enter your code"),
        "a challenge, not a new enrollment: {page}"
    );
    // The code used to enroll, still within its 30 s window: a replay.
    let r = submit(&env, &bob, &page, &first).await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.expect("page");
    assert!(page.contains("already used"), "{page}");
    // The next step's code (one step ahead is within the allowed skew).
    let r = submit(&env, &bob, &page, &code_at(&t, 1)).await;
    assert_eq!(r.status(), 200, "{}", r.url());
    assert_eq!(
        r.url().host_str(),
        Some(APP_HOST),
        "on to the app: {}",
        r.url()
    );
}

#[tokio::test]
async fn five_wrong_codes_lock_the_account_even_for_the_right_one() {
    let mut env = env().await;
    let (_alice, t, _) = enrolled(&mut env).await;
    let bob = env.browser();
    let landed = env.visit_app(&bob, APP_HOST, "alice").await;
    let mut page = landed.text().await.expect("page");
    let challenge = page.clone();
    for i in 1..=5 {
        let r = submit(&env, &bob, &page, "999999").await;
        let status = r.status().as_u16();
        page = r.text().await.expect("page");
        if i < 5 {
            assert_eq!(status, 400, "try {i}: {page}");
        } else {
            assert_eq!(status, 429, "the fifth wrong code locks: {page}");
        }
    }
    assert!(page.contains("Too many wrong codes"), "{page}");
    // Locked: the right code (the next step's, never used) is not even checked.
    let r = submit(&env, &bob, &challenge, &code_at(&t, 1)).await;
    assert_eq!(r.status(), 429, "the right code while locked");
    assert_ne!(r.url().host_str(), Some(APP_HOST));
    let r = bob
        .get(env.gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app");
    assert_eq!(r.status(), 429, "the page says locked");
    let page = r.text().await.expect("page");
    assert!(!page.contains("<form"), "no form while locked: {page}");
}

#[tokio::test]
async fn a_recovery_code_works_once_and_an_admin_reset_asks_for_a_new_enrollment() {
    let mut env = env().await;
    let (alice, _t, codes) = enrolled(&mut env).await;

    let bob = env.browser();
    let landed = env.visit_app(&bob, APP_HOST, "alice").await;
    let page = landed.text().await.expect("page");
    let r = submit(&env, &bob, &page, &codes[3].to_uppercase()).await;
    assert_eq!(
        r.url().host_str(),
        Some(APP_HOST),
        "a recovery code lets in"
    );

    let carol = env.browser();
    let landed = env.visit_app(&carol, APP_HOST, "alice").await;
    let page = landed.text().await.expect("page");
    let r = submit(&env, &carol, &page, &codes[3]).await;
    assert_eq!(r.status(), 400, "the same recovery code twice");
    let left = env
        .cli_json(&["guests", "mfa", "alice@fabrikam.example"])
        .await;
    assert_eq!(left["recoveryCodesLeft"], 9);

    // The admin API resets it (audited); alice's sessions end.
    let key = env.admin_key("helpdesk").await;
    let api = env.gw.url(
        LOGIN_HOST,
        "/.borderless/api/v1/users/alice@fabrikam.example/mfa",
    );
    let listed: serde_json::Value = env
        .gw
        .client()
        .get(&api)
        .bearer_auth(&key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["value"][0]["kind"], "totp");
    let r = env
        .gw
        .client()
        .delete(&api)
        .bearer_auth(&key)
        .send()
        .await
        .expect("reset");
    assert_eq!(r.status(), 200);
    let r = alice
        .get(env.gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("app");
    // The session ended: sign in again (the IdP still knows her), then a new enrollment.
    let page = if r.url().host_str() == Some("127.0.0.1") {
        common::oidc_provider::sign_in(&alice, &env.gw.url(APP_HOST, "/"), "alice")
            .await
            .text()
            .await
            .expect("page")
    } else {
        r.text().await.expect("page")
    };
    assert!(page.contains("Set up an authenticator"), "{page}");
    let audit = env.cli_json(&["audit", "--since", "1h"]).await;
    assert!(
        audit
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["action"] == "mfa.reset"
                && e["actor"].as_str().unwrap_or("").contains("helpdesk")),
        "{audit}"
    );
}

#[tokio::test]
async fn a_trusted_partners_mfa_is_not_asked_again() {
    let mut env = GuestEnv::start_with(Options {
        extra: CONFIG.replace(
            "providers = [\"partner\"]\n",
            "providers = [\"partner\"]\n[partner.mfa_trust]\namr = [\"mfa\"]\n",
        ),
        ..Default::default()
    })
    .await;
    let out = env
        .cli_json(&["invite", "frank@fabrikam.example", "--app", "hr"])
        .await;
    assert_eq!(out["result"], "invited");
    let link = env.smtp().next_mail().await.redeem_link();
    let frank = env.browser();
    assert_eq!(env.open_link(&frank, &link, "frank").await.status(), 200);
    let landed = env.consent(&frank, "accept").await;
    assert_eq!(landed.status(), 200);
    assert_eq!(landed.url().host_str(), Some(APP_HOST), "no MFA prompt");
}

/// The whole step-up in headless Chromium: enrollment from the QR page's manual key (codes
/// from the npm `otpauth` package, as an authenticator app computes them), the recovery
/// codes, the app; then a second browser is asked only for a code, the used one is refused
/// and the next one lets in.
#[tokio::test]
async fn chromium_enrolls_totp_and_a_second_browser_steps_up_with_a_fresh_code() {
    let mut env = env().await;
    env.cli_json(&["invite", "alice@fabrikam.example", "--app", "hr"])
        .await;
    let link = env.smtp().next_mail().await.redeem_link();
    let upn = "alice_fabrikam.example#EXT#@contoso.example";
    let result = common::e2e::run(
        "mfa.mjs",
        &[&link, "alice", upn],
        &env.gw.dir.path().join("mfa.png"),
    )
    .await;
    assert_eq!(result["recovery"], 10, "{result}");
    let steps: Vec<&str> = result["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["page"].as_str())
        .collect();
    assert_eq!(
        steps,
        ["enroll", "recovery", "app", "replay refused", "app again"]
    );
}

/// Passkeys in headless Chromium with its virtual authenticator: TOTP (enough for the MFA
/// app) is refused by the app that needs phishing resistance, which has the user create a
/// passkey; a later sign-in uses it.
#[tokio::test]
async fn chromium_a_phishing_resistant_app_refuses_totp_and_accepts_a_passkey() {
    let mut env = strict_env().await;
    env.cli_json(&["invite", "alice@fabrikam.example", "--app", "hr"])
        .await;
    let link = env.smtp().next_mail().await.redeem_link();
    let out = env
        .cli(&["guests", "assign", "alice@fabrikam.example", "wiki"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let upn = "alice_fabrikam.example#EXT#@contoso.example";
    let wiki = env.gw.url(common::OTHER_HOST, "/");
    let result = common::e2e::run(
        "passkey.mjs",
        &[&link, "alice", upn, &wiki],
        &env.gw.dir.path().join("passkey.png"),
    )
    .await;
    let steps: Vec<&str> = result["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["page"].as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "totp app",
            "create passkey",
            "strict app",
            "use passkey",
            "strict app again"
        ]
    );
    assert_eq!(result["steps"][2]["credentials"], 1);
    assert_eq!(
        result["steps"][2]["rpId"], LOGIN_HOST,
        "bound to the login host"
    );
    let methods = env
        .cli_json(&["guests", "mfa", "alice@fabrikam.example"])
        .await;
    let kinds: Vec<&str> = methods["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .filter_map(|m| m["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["totp", "passkey"]);
}

/// The passkey POST is checked like the code: a made-up answer is refused and counted, a
/// ceremony id from elsewhere (or used twice) starts a new ceremony, nothing steps up.
#[tokio::test]
async fn a_forged_passkey_answer_is_refused() {
    let mut env = strict_env().await;
    let (alice, _t, _) = enrolled(&mut env).await;
    let out = env
        .cli(&["guests", "assign", "alice@fabrikam.example", "wiki"])
        .await;
    assert!(out.status.success());
    // The CLI's assignment reaches the running gateway through the revocation feed.
    let mut r = None;
    for _ in 0..40 {
        let got = alice
            .get(env.gw.url(common::OTHER_HOST, "/"))
            .send()
            .await
            .expect("wiki");
        if got.url().path() == "/.borderless/mfa" {
            r = Some(got);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let r = r.expect("the wiki asks for a passkey once assigned");
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let page = r.text().await.expect("page");
    assert!(page.contains("Create a passkey"), "{page}");
    let (action, fields) = common::first_form(&page);
    assert_eq!(action, "/.borderless/passkey");
    let post = |fields: Vec<(String, String)>| {
        alice
            .post(env.gw.url(LOGIN_HOST, "/.borderless/passkey"))
            .header("origin", env.gw.url(LOGIN_HOST, ""))
            .form(&fields)
            .send()
    };
    let mut forged = fields.clone();
    forged.retain(|(k, _)| k != "credential");
    forged.push((
        "credential".into(),
        r#"{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"attestationObject":"AAAA","clientDataJSON":"AAAA"},"extensions":{}}"#.into(),
    ));
    let r = post(forged.clone()).await.expect("post");
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("page").contains("did not check out"));
    // The same ceremony id again: it was spent by the first answer.
    let r = post(forged).await.expect("post");
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("page").contains("expired"));
    // Still not stepped up: the wiki asks again.
    let r = alice
        .get(env.gw.url(common::OTHER_HOST, "/"))
        .send()
        .await
        .expect("wiki");
    assert_eq!(r.url().path(), "/.borderless/mfa");
    let methods = env
        .cli_json(&["guests", "mfa", "alice@fabrikam.example"])
        .await;
    assert_eq!(
        methods["methods"].as_array().map(Vec::len),
        Some(1),
        "no passkey added"
    );
}

/// A password alone cannot plant a passkey: a user who has a TOTP authenticator, signed in
/// afresh (no second factor in this session), is asked for a code before the passkey page.
#[tokio::test]
async fn a_first_passkey_needs_the_authenticator_code_first() {
    let mut env = strict_env().await;
    let (_alice, t, _) = enrolled(&mut env).await;
    let out = env
        .cli(&["guests", "assign", "alice@fabrikam.example", "wiki"])
        .await;
    assert!(out.status.success());
    let wiki = env.gw.url(common::OTHER_HOST, "/");
    let other = env.browser();
    // Signed in at the IdP only; the assignment reaches the gateway within the feed interval.
    let mut page = String::new();
    for _ in 0..40 {
        let r = common::oidc_provider::sign_in(&other, &wiki, "alice").await;
        if r.url().path() == "/.borderless/mfa" {
            page = r.text().await.expect("page");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(page.contains("Enter your code"), "the code first: {page}");
    assert!(!page.contains("passkey-go"), "no passkey yet: {page}");
    let r = submit(&env, &other, &page, &code_at(&t, 1)).await;
    assert_eq!(r.url().path(), "/.borderless/mfa", "{}", r.url());
    let page = r.text().await.expect("page");
    assert!(
        page.contains("Create a passkey"),
        "then the passkey: {page}"
    );
}
