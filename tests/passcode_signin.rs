//! Email one-time passcodes through the real SMTP server (npm `smtp-server`): redemption and
//! later sign-ins with a mailed code, single use, only the newest code, the lock-out per
//! address (not per browser), the send quotas, and a stranger's address getting the same
//! page and no mail. One run in real headless Chromium, by keyboard.

mod common;

use std::time::Duration;

use common::guests::{GuestEnv, Options};
use common::oidc_provider::node_dir;
use common::passcode::{Guest, code_in};
use common::{APP_HOST, LOGIN_HOST, echoed};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const PASSCODE_IDP: &str = "[[idp]]\nid = \"email\"\nkind = \"email_passcode\"\n";
const GUEST: &str = "bob@nofed.example";
const GUEST_UPN: &str = "bob_nofed.example#EXT#@contoso.example";

async fn start(limits: &str, database_url: Option<String>) -> GuestEnv {
    GuestEnv::start_with(Options {
        extra: PASSCODE_IDP.into(),
        limits: limits.into(),
        database_url,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn a_guest_redeems_and_signs_in_again_with_mailed_codes() {
    let mut env = start("", None).await;
    redeem_and_sign_in_again(&mut env).await;
    env.gw.stop().await;
}

#[tokio::test]
async fn passcodes_on_postgres() {
    let opts = Options::postgres().await;
    let mut env = start("", opts.database_url).await;
    redeem_and_sign_in_again(&mut env).await;
    // The lock-out is the database's, shared by every instance.
    let g = Guest::at_app(&env).await;
    g.send(GUEST).await;
    env.smtp().next_mail().await;
    for _ in 0..5 {
        g.verify("00000000").await;
    }
    let (status, body) = g.verify("00000000").await;
    assert_eq!(status, 429, "{body}");
    env.gw.stop().await;
}

async fn redeem_and_sign_in_again(env: &mut GuestEnv) {
    env.cli_json(&["invite", GUEST, "--app", "hr"]).await;
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
    assert!(html.contains("A code sent to your email"), "{html}");
    let g = Guest::choose(env, client, &html).await;
    let (status, page) = g.send(GUEST).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("autocomplete=\"one-time-code\""), "{page}");
    let mail = env.smtp().next_mail().await;
    assert_eq!(mail.envelope_to, vec![GUEST.to_string()]);
    assert!(
        !mail.subject.chars().any(|c| c.is_ascii_digit()),
        "no code in the subject: {}",
        mail.subject
    );
    assert!(
        mail.html.contains(&code_in(&mail.text)),
        "the HTML part has the code too"
    );
    let code = code_in(&mail.text);

    // The code proves the mailbox; the invitation's consent page follows.
    let (status, page) = g.verify(&format!("{} {}", &code[..4], &code[4..])).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"accept\""), "the consent page: {page}");
    let r = env.consent(&g.client, "accept").await;
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.expect("echo");
    assert_eq!(echoed(&echo, "x-remote-user"), vec![GUEST_UPN]);
    assert_eq!(echoed(&echo, "x-user-type"), vec!["Guest"]);

    // Another browser, later: a new code, and the first one never counts again.
    let g2 = Guest::at_app(env).await;
    g2.send(GUEST).await;
    let second = code_in(&env.smtp().next_mail().await.text);
    let (status, page) = g2.verify(&code).await;
    assert_eq!(status, 400, "a used code: {page}");
    assert!(page.contains("wrong or has expired"), "{page}");
    let r = g2
        .client
        .post(env.gw.url(LOGIN_HOST, "/.borderless/passcode/verify"))
        .header("origin", env.gw.url(LOGIN_HOST, ""))
        .form(&[("flow", g2.flow.as_str()), ("code", second.as_str())])
        .send()
        .await
        .expect("verify");
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.expect("echo");
    assert_eq!(echoed(&echo, "x-remote-user"), vec![GUEST_UPN]);
}

/// Five wrong codes lock the address, whichever browsers sent them; a new code does not
/// unlock it, and the right code is refused while it lasts. A resend kills the old code.
#[tokio::test]
async fn wrong_codes_lock_the_address_not_the_browser() {
    let mut env = start("", None).await;
    env.cli_json(&["invite", GUEST, "--app", "hr", "--no-email"])
        .await;
    let a = Guest::at_app(&env).await;
    a.send(GUEST).await;
    let old = code_in(&env.smtp().next_mail().await.text);
    a.send(GUEST).await;
    let newest = code_in(&env.smtp().next_mail().await.text);
    if old != newest {
        let (status, page) = a.verify(&old).await;
        assert_eq!(status, 400, "a resent code replaces the old one: {page}");
    } else {
        a.verify("00000000").await;
    }
    // Malformed input costs no try.
    let (status, page) = a.verify("12ab").await;
    assert_eq!(status, 400);
    assert!(page.contains("The code has 8 digits"), "{page}");
    for _ in 0..2 {
        a.verify("00000000").await;
    }
    // Another browser continues the count.
    let b = Guest::at_app(&env).await;
    b.send(GUEST).await;
    let fresh = code_in(&env.smtp().next_mail().await.text);
    let (status, page) = b.verify("00000001").await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("1 more wrong code will lock"), "{page}");
    let (status, page) = b.verify("00000002").await;
    assert_eq!(status, 429, "{page}");
    assert!(page.contains("locked"), "{page}");
    let (status, page) = b.verify(&fresh).await;
    assert_eq!(status, 429, "the right code while locked: {page}");
    // No code is even mailed while the address is locked.
    let c = Guest::at_app(&env).await;
    c.send(GUEST).await;
    assert!(
        env.smtp()
            .drain(Duration::from_millis(1500))
            .await
            .is_empty(),
        "nothing mailed to a locked address"
    );
    env.gw.stop().await;
}

/// A stranger's address and a guest's get the same answer; only the guest gets mail. The
/// quotas per address and per client hold for both alike.
#[tokio::test]
async fn strangers_get_the_same_page_and_no_mail_and_sends_are_limited() {
    let mut env = start(
        "passcodes_per_address_per_hour = 2\npasscodes_per_client_per_hour = 4\n",
        None,
    )
    .await;
    env.cli_json(&["invite", GUEST, "--app", "hr", "--no-email"])
        .await;
    let g = Guest::at_app(&env).await;
    let (guest_status, guest_page) = g.send(GUEST).await;
    let (stranger_status, stranger_page) = g.send("eve@nofed.example").await;
    assert_eq!(guest_status, stranger_status);
    let scrub = |page: &str, email: &str| {
        page.replace(email, "ADDRESS")
            .split("Request id")
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        scrub(&guest_page, GUEST),
        scrub(&stranger_page, "eve@nofed.example"),
        "the same page for a guest and a stranger"
    );
    let mails = env.smtp().drain(Duration::from_millis(1500)).await;
    assert_eq!(mails.len(), 1, "only the guest gets mail");
    assert_eq!(mails[0].envelope_to, vec![GUEST.to_string()]);

    // The per-address quota (2), for a guest and for a stranger alike.
    g.send(GUEST).await;
    let (status, page) = g.send(GUEST).await;
    assert_eq!(status, 429, "{page}");
    assert!(page.contains("Too many codes were requested"), "{page}");
    g.send("eve@nofed.example").await;
    // The per-client quota (4) is used up now, whatever the address.
    let (status, _) = g.send("zed@nofed.example").await;
    assert_eq!(status, 429);

    // A bad address is said so, and the form keeps what was typed.
    let h = Guest::at_app(&env).await;
    let (status, page) = h.send("not an address").await;
    assert_eq!(status, 400);
    assert!(page.contains("Enter an email address"), "{page}");
    assert!(page.contains("value=\"not an address\""), "{page}");
    env.gw.stop().await;
}

/// The forms are bound to the browser: another browser's flow id, a missing Origin, or a
/// flow that is not a passcode step get nothing.
#[tokio::test]
async fn passcode_forms_are_bound_to_the_browser_and_the_site() {
    let mut env = start("", None).await;
    env.cli_json(&["invite", GUEST, "--app", "hr", "--no-email"])
        .await;
    let victim = Guest::at_app(&env).await;
    victim.send(GUEST).await;
    let code = code_in(&env.smtp().next_mail().await.text);
    // The attacker knows the flow id and even the code, but holds another browser.
    let attacker = Guest::at_app(&env).await;
    let stolen = Guest {
        login: attacker.login.clone(),
        client: attacker.client.clone(),
        flow: victim.flow.clone(),
    };
    let (status, page) = stolen.verify(&code).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("This page has expired"), "{page}");
    // Cross-site: no Origin of ours.
    let r = victim
        .client
        .post(env.gw.url(LOGIN_HOST, "/.borderless/passcode/verify"))
        .header("origin", "https://evil.example")
        .form(&[("flow", victim.flow.as_str()), ("code", code.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    // The victim's own flow still works with the code.
    let (status, body) = victim.verify(&code).await;
    assert_eq!(status, 200, "{body}");
    env.gw.stop().await;
}

#[test]
fn passcode_settings_are_checked() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        "version = 1\n[gateway]\npublic_url = \"https://login.test\"\n\
         [[listener]]\nbind = \"127.0.0.1:0\"\nredirect_to_https = true\n\
         [[idp]]\nid = \"email\"\nkind = \"email_passcode\"\ncode_ttl_minutes = 45\ncode_length = 4\nmembers = true\nissuer = \"https://x.example\"\n",
    )
    .expect("write");
    common::assert_config_errors(
        &path,
        &[
            (0, "idp[0].kind", "needs an [smtp] section"),
            (0, "idp[0].code_ttl_minutes", "between 1 and 30"),
            (0, "idp[0].code_length", "between 6 and 10"),
            (0, "idp[0].members", "not membership"),
            (0, "idp[0].issuer", "not for kind = \"email_passcode\""),
        ],
    );
}

/// The whole redemption in headless Chromium, by keyboard: the address field has focus,
/// Enter sends, the code arrives by SMTP and is typed, consent, the app.
#[tokio::test]
async fn chromium_redeems_with_a_mailed_code_by_keyboard() {
    let mut env = start("", None).await;
    env.cli_json(&["invite", GUEST, "--app", "hr"]).await;
    let link = env.smtp().next_mail().await.redeem_link();
    let screenshot = env.gw.dir.path().join("passcode.png");
    let mut child = tokio::process::Command::new("node")
        .arg(node_dir().join("../../e2e/passcode.mjs"))
        .arg(&link)
        .arg(GUEST)
        .arg(GUEST_UPN)
        .arg(&screenshot)
        .arg(format!("{LOGIN_HOST},{APP_HOST}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the script reaches the code page")
        .expect("read")
        .expect("a line");
    let waiting: serde_json::Value = serde_json::from_str(&first).expect("json");
    assert_eq!(waiting["waiting"], "code", "{first}");
    let code = code_in(&env.smtp().next_mail().await.text);
    stdin
        .write_all(format!("{code}\n").as_bytes())
        .await
        .expect("write code");
    let last = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the script finishes")
        .expect("read")
        .expect("a line");
    let result: serde_json::Value = serde_json::from_str(&last).expect("json");
    assert_eq!(result["ok"], true, "{last}");
    assert_eq!(result["url"], env.gw.url(APP_HOST, "/"));
    assert_eq!(result["focused"], "email", "the address field has focus");
    assert_eq!(result["label"], "Email address");
    assert!(
        std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 1000),
        "screenshot written"
    );
    env.gw.stop().await;
}

/// A passcode sign-in is not a second factor: an app whose policy needs MFA sends the guest
/// to the gateway's own MFA step — unless the operator set `counts_as_mfa` on the provider.
#[tokio::test]
async fn a_passcode_counts_as_mfa_only_when_the_operator_says_so() {
    const MFA: &str = "\n[[policy]]\nname = \"MFA for HR\"\nusers = [\"guests\"]\napps = [\"hr\"]\nrequire = [\"mfa\"]\n";
    for (counts, lands) in [(false, "/.borderless/mfa"), (true, "/")] {
        let mut env = GuestEnv::start_with(Options {
            extra: format!(
                "{PASSCODE_IDP}{}{MFA}",
                if counts { "counts_as_mfa = true\n" } else { "" }
            ),
            ..Default::default()
        })
        .await;
        env.cli_json(&["invite", GUEST, "--app", "hr", "--no-email"])
            .await;
        let g = Guest::at_app(&env).await;
        g.send(GUEST).await;
        let code = code_in(&env.smtp().next_mail().await.text);
        let (status, page) = g.verify(&code).await;
        assert_eq!(status, 200, "{page}");
        let r = env.consent(&g.client, "accept").await;
        assert_eq!(
            r.url().path(),
            lands,
            "counts_as_mfa = {counts}: {}",
            r.url()
        );
        env.gw.stop().await;
    }
}
