//! The invite-and-redeem lifecycle end to end with real peers: the `borderless` CLI writes the
//! invitation, the real smtp-server receives the mail, the link is followed, the guest signs
//! in at the real oidc-provider, consents, and lands on the app with their guest UPN. Also the
//! ways it must refuse: reused, expired and replaced links, the wrong account, an identity
//! other than the pinned one, blocked domains, app owners outside their app, removal,
//! disable and reset.

mod common;

use common::guests::{GuestEnv, Options};
use common::oidc_provider::{NodeIdp, sign_in};
use common::{APP_HOST, LOGIN_HOST, OTHER_HOST, echoed};

const ALICE_UPN: &str = "alice_fabrikam.example#EXT#@contoso.example";

async fn json_of(r: reqwest::Response) -> serde_json::Value {
    let status = r.status();
    let text = r.text().await.expect("body");
    serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("expected the app's JSON ({status}):\n{text}"))
}

/// The response is a page with this status that says `needle`; returns the page.
async fn expect_page(r: reqwest::Response, status: u16, needle: &str) -> String {
    let got = r.status().as_u16();
    let page = r.text().await.expect("page");
    assert_eq!(got, status, "{page}");
    assert!(page.contains(needle), "no `{needle}` in:\n{page}");
    page
}

/// Invite alice with the CLI, take the link from the mail, sign in, accept.
async fn invite_and_redeem(env: &mut GuestEnv, client: &reqwest::Client) -> serde_json::Value {
    let out = env
        .cli_json(&[
            "invite",
            "alice@fabrikam.example",
            "--app",
            "hr",
            "--message",
            "Welcome to the Q3 audit!",
        ])
        .await;
    assert_eq!(out["result"], "invited");
    let mail = env.smtp().next_mail().await;
    assert_eq!(mail.envelope_to, vec!["alice@fabrikam.example"]);
    let consent = env.open_link(client, &mail.redeem_link(), "alice").await;
    assert_eq!(consent.status(), 200);
    let html = consent.text().await.expect("consent page");
    assert!(html.contains("Accept Contoso"), "{html}");
    assert!(html.contains("alice@fabrikam.example") && html.contains("Alice Fabrikam"));
    json_of(env.consent(client, "accept").await).await
}

#[tokio::test]
async fn cli_invitation_mail_link_consent_lands_on_the_app_as_guest() {
    cli_invitation_mail_link_consent_lands_on_the_app_as_guest_on(Options::default()).await;
}

/// The same on PostgreSQL, where the revocation feed can see numbers out of order.
#[tokio::test]
async fn cli_invitation_mail_link_consent_lands_on_the_app_as_guest_on_postgres() {
    cli_invitation_mail_link_consent_lands_on_the_app_as_guest_on(Options::postgres().await).await;
}

async fn cli_invitation_mail_link_consent_lands_on_the_app_as_guest_on(opts: Options) {
    let mut env = GuestEnv::start_with(opts).await;
    let client = env.browser();
    let out = env
        .cli_json(&[
            "invite",
            "Alice@Fabrikam.example",
            "--app",
            "hr",
            "--name",
            "Alice F.",
            "--message",
            "Welcome to the Q3 audit!",
        ])
        .await;
    assert_eq!(out["result"], "invited");
    assert_eq!(out["user"]["userPrincipalName"], ALICE_UPN);
    assert_eq!(out["user"]["userType"], "Guest");
    assert_eq!(out["user"]["externalUserState"], "PendingAcceptance");

    // The mail: multipart text + HTML, with the organisation, message, app and link.
    let mail = env.smtp().next_mail().await;
    assert_eq!(mail.envelope_to, vec!["alice@fabrikam.example"]);
    assert!(
        mail.subject.contains("HR Portal") && mail.subject.contains("Contoso"),
        "{}",
        mail.subject
    );
    assert!(
        mail.content_types
            .iter()
            .any(|c| c == "multipart/alternative"),
        "{:?}",
        mail.content_types
    );
    for body in [&mail.text, &mail.html] {
        assert!(
            body.contains("Welcome to the Q3 audit!"),
            "message missing:\n{body}"
        );
        assert!(body.contains("HR Portal") && body.contains("Contoso"));
        assert!(body.contains("it@contoso.example"));
    }
    assert!(mail.html.contains("https://contoso.example/logo.png"));
    let link = mail.redeem_link();
    assert!(mail.html.contains(&link.replace('&', "&amp;")) || mail.html.contains(&link));
    let status = env
        .cli_json(&["guests", "show", "alice@fabrikam.example"])
        .await;
    assert_eq!(status["invitations"][0]["emailStatus"], "Sent");

    let consent = env.open_link(&client, &link, "alice").await;
    assert_eq!(consent.status(), 200);
    let app = json_of(env.consent(&client, "accept").await).await;
    assert_eq!(echoed(&app, "x-remote-user"), vec![ALICE_UPN]);
    assert_eq!(echoed(&app, "x-user-type"), vec!["Guest"]);
    assert_eq!(echoed(&app, "x-mail"), vec!["alice@fabrikam.example"]);

    let shown = env.cli_json(&["guests", "show", ALICE_UPN]).await;
    assert_eq!(shown["user"]["externalUserState"], "Accepted");
    assert_eq!(shown["user"]["issuer"], env.idp.issuer.as_str());
    assert_eq!(shown["user"]["subject"], "alice");
    let audit = env.cli_json(&["audit", "--since", "1h"]).await;
    assert!(
        audit
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["action"] == "invitation.redeemed" && e["target"] == shown["user"]["id"]),
        "{audit}"
    );

    // The link works once: opened again it explains, in a page, that it was used.
    let again = client.get(&link).send().await.expect("reuse");
    let page = expect_page(again, 410, "already accepted").await;
    assert!(page.contains("request id"));

    // My apps lists hr but not wiki (assignment required, not assigned).
    let apps = client
        .get(env.gw.url(LOGIN_HOST, "/.borderless/apps"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("my apps")
        .text()
        .await
        .expect("page");
    assert!(
        apps.contains("HR Portal") && !apps.contains("Wiki"),
        "{apps}"
    );
    // And wiki itself says so in a page.
    let wiki = client
        .get(env.gw.url(OTHER_HOST, "/"))
        .send()
        .await
        .expect("wiki");
    expect_page(wiki, 403, "do not have access").await;
}

#[tokio::test]
async fn assignment_through_a_group_opens_the_app_on_the_next_request() {
    assignment_through_a_group_opens_the_app_on_the_next_request_on(Options::default()).await;
}

/// The same on PostgreSQL, where the revocation feed can see numbers out of order.
#[tokio::test]
async fn assignment_through_a_group_opens_the_app_on_the_next_request_on_postgres() {
    assignment_through_a_group_opens_the_app_on_the_next_request_on(Options::postgres().await)
        .await;
}

async fn assignment_through_a_group_opens_the_app_on_the_next_request_on(opts: Options) {
    let mut env = GuestEnv::start_with(opts).await;
    let client = env.browser();
    invite_and_redeem(&mut env, &client).await;
    let wiki = env.gw.url(OTHER_HOST, "/");
    assert_eq!(client.get(&wiki).send().await.expect("wiki").status(), 403);
    env.cli_json(&["groups", "create", "partners"]).await;
    assert!(
        env.cli(&["groups", "assign", "partners", "wiki"])
            .await
            .status
            .success()
    );
    assert!(
        env.cli(&["groups", "add-member", "partners", "alice@fabrikam.example"])
            .await
            .status
            .success()
    );
    // The running gateway learns of the change through the revocation feed.
    let mut status = 0;
    for _ in 0..40 {
        status = client
            .get(&wiki)
            .send()
            .await
            .expect("wiki")
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "group assignment did not take effect");
    let apps = client
        .get(env.gw.url(LOGIN_HOST, "/.borderless/apps"))
        .send()
        .await
        .expect("my apps")
        .text()
        .await
        .expect("page");
    assert!(apps.contains("Wiki"));
}

#[tokio::test]
async fn wrong_account_and_unverified_email_are_refused_with_a_clear_page() {
    let mut env = GuestEnv::start().await;
    env.cli_json(&["invite", "alice@fabrikam.example", "--app", "hr"])
        .await;
    let link = env.smtp().next_mail().await.redeem_link();

    let mallory = env.browser();
    let r = env.open_link(&mallory, &link, "mallory").await;
    let page = expect_page(r, 403, "not the invited account").await;
    assert!(page.contains("mallory@evil.example") && page.contains("alice@fabrikam.example"));

    let unverified = env.browser();
    let r = env.open_link(&unverified, &link, "alice-unverified").await;
    expect_page(r, 403, "did not confirm that address as verified").await;

    // Neither attempt used the link: alice herself still can.
    let alice = env.browser();
    let r = env.open_link(&alice, &link, "alice").await;
    assert_eq!(r.status(), 200);
    let app = json_of(env.consent(&alice, "accept").await).await;
    assert_eq!(echoed(&app, "x-remote-user"), vec![ALICE_UPN]);

    // An IdP user nobody invited gets the "not invited" page, not a session.
    let stranger = env.browser();
    let r = env.visit_app(&stranger, APP_HOST, "mallory").await;
    expect_page(r, 403, "You have not been invited").await;
}

#[tokio::test]
async fn just_in_time_redemption_and_declining() {
    let mut env = GuestEnv::start().await;
    let out = env
        .cli_json(&[
            "invite",
            "dave@fabrikam.example",
            "--app",
            "hr",
            "--no-email",
        ])
        .await;
    assert!(
        out["redeemUrl"]
            .as_str()
            .is_some_and(|u| u.contains("/.borderless/redeem?t="))
    );
    assert!(
        env.smtp()
            .drain(std::time::Duration::from_millis(300))
            .await
            .is_empty()
    );

    // Dave never opens the link: he goes to the app, signs in, and is asked to accept there.
    let dave = env.browser();
    let r = env.visit_app(&dave, APP_HOST, "dave").await;
    expect_page(r, 200, "Accept Contoso").await;
    // Declining changes nothing.
    let r = env.consent(&dave, "decline").await;
    assert!(r.text().await.expect("page").contains("did not accept"));
    let shown = env
        .cli_json(&["guests", "show", "dave@fabrikam.example"])
        .await;
    assert_eq!(shown["user"]["externalUserState"], "PendingAcceptance");
    // A consent POST without the consent state (replayed) is refused.
    let r = env.consent(&dave, "accept").await;
    assert_eq!(r.status(), 400);

    // A new browser (the first one still has its IdP session and would skip the login page).
    let dave = env.browser();
    let r = env.visit_app(&dave, APP_HOST, "dave").await;
    assert_eq!(r.status(), 200);
    let app = json_of(env.consent(&dave, "accept").await).await;
    assert_eq!(
        echoed(&app, "x-remote-user"),
        vec!["dave_fabrikam.example#EXT#@contoso.example"]
    );
    let shown = env
        .cli_json(&["guests", "show", "dave@fabrikam.example"])
        .await;
    assert_eq!(shown["user"]["externalUserState"], "Accepted");
    // The emailed link (never used) is spent with the redemption.
    let link = out["redeemUrl"].as_str().expect("link");
    assert_eq!(dave.get(link).send().await.expect("link").status(), 410);
}

#[tokio::test]
async fn consent_from_another_site_is_refused() {
    let mut env = GuestEnv::start().await;
    env.cli_json(&["invite", "alice@fabrikam.example"]).await;
    let link = env.smtp().next_mail().await.redeem_link();
    let alice = env.browser();
    assert_eq!(env.open_link(&alice, &link, "alice").await.status(), 200);
    let r = alice
        .post(env.gw.url(LOGIN_HOST, "/.borderless/consent"))
        .header("origin", "https://evil.example")
        .form(&[("decision", "accept")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    let shown = env
        .cli_json(&["guests", "show", "alice@fabrikam.example"])
        .await;
    assert_eq!(shown["user"]["externalUserState"], "PendingAcceptance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_racing_on_one_link_redeem_once() {
    two_tabs_racing_on_one_link_redeem_once_on(Options::default()).await;
}

/// The same on PostgreSQL, where the revocation feed can see numbers out of order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_racing_on_one_link_redeem_once_on_postgres() {
    two_tabs_racing_on_one_link_redeem_once_on(Options::postgres().await).await;
}

async fn two_tabs_racing_on_one_link_redeem_once_on(opts: Options) {
    let mut env = GuestEnv::start_with(opts).await;
    env.cli_json(&["invite", "alice@fabrikam.example", "--app", "hr"])
        .await;
    let link = env.smtp().next_mail().await.redeem_link();
    let (a, b) = (env.browser(), env.browser());
    assert_eq!(env.open_link(&a, &link, "alice").await.status(), 200);
    assert_eq!(env.open_link(&b, &link, "alice").await.status(), 200);
    // Both consents leave at the same moment, on two threads.
    let url = env.gw.url(LOGIN_HOST, "/.borderless/consent");
    let origin = env.gw.url(LOGIN_HOST, "");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let racers: Vec<_> = [a, b]
        .into_iter()
        .map(|client| {
            let (url, origin, barrier) = (url.clone(), origin.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                client
                    .post(url)
                    .header("origin", origin)
                    .form(&[("decision", "accept")])
                    .send()
                    .await
                    .expect("consent")
            })
        })
        .collect();
    let mut responses = Vec::new();
    for r in racers {
        responses.push(r.await.expect("join"));
    }
    let (rb, ra) = (responses.pop().expect("b"), responses.pop().expect("a"));
    // Both tabs are the same person: both end up in the app, one redemption happened.
    for r in [ra, rb] {
        let app = json_of(r).await;
        assert_eq!(echoed(&app, "x-remote-user"), vec![ALICE_UPN]);
    }
    let audit = env.cli_json(&["audit"]).await;
    let redemptions = audit
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["action"] == "invitation.redeemed")
        .count();
    assert_eq!(redemptions, 1);
}

#[tokio::test]
async fn expired_and_replaced_links_get_clear_pages() {
    let mut env = GuestEnv::start().await;
    env.cli_json(&["invite", "carol@fabrikam.example"]).await;
    let first = env.smtp().next_mail().await.redeem_link();
    // A re-invitation sends a new link; the first stops working.
    let again = env.cli_json(&["invite", "carol@fabrikam.example"]).await;
    assert_eq!(again["result"], "reinvited");
    let second = env.smtp().next_mail().await.redeem_link();
    assert_ne!(first, second);
    let client = env.browser();
    let r = client.get(&first).send().await.expect("first");
    expect_page(r, 410, "not valid").await;

    // Expire the second link in the database, as time would.
    sqlx::query("UPDATE invitations SET expires_at = 1 WHERE status = 'PendingAcceptance'")
        .execute(env.gw.gw.directory.pool())
        .await
        .expect("expire");
    let r = client.get(&second).send().await.expect("second");
    expect_page(r, 410, "expired").await;
    // A made-up or truncated secret is just "not valid".
    for bogus in [
        "/.borderless/redeem?t=abc",
        "/.borderless/redeem",
        "/.borderless/redeem?t=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let r = client
            .get(env.gw.url(LOGIN_HOST, bogus))
            .send()
            .await
            .expect("bogus");
        assert_eq!(r.status(), 410, "{bogus}");
    }
}

#[tokio::test]
async fn pinned_identity_is_the_only_way_in_until_reset() {
    let mut env = GuestEnv::start().await;
    let alice = env.browser();
    invite_and_redeem(&mut env, &alice).await;

    // A second IdP asserting the same verified address: refused, pinned to the first.
    let other = NodeIdp::start(
        &env.gw.url(LOGIN_HOST, ""),
        "other",
        "other-secret",
        serde_json::json!({ "alice2": { "email": "alice@fabrikam.example", "email_verified": true } }),
    )
    .await;
    let toml = std::fs::read_to_string(env.config()).expect("config");
    let toml = format!(
        "{toml}\n[[idp]]\nid = \"other\"\nkind = \"oidc\"\nissuer = \"{}\"\nclient_id = \"other\"\nclient_secret = \"other-secret\"\n",
        other.issuer
    );
    std::fs::write(env.config(), toml).expect("write");
    borderless::reload(&env.gw.gw, &env.config()).expect("reload");
    let impostor = env.browser();
    let r = sign_in(
        &impostor,
        &env.gw.url(LOGIN_HOST, "/.borderless/signin/other"),
        "alice2",
    )
    .await;
    let page = expect_page(r, 403, "already accepted").await;
    assert!(page.contains("partner"), "{page}");

    // Reset: alice's session ends at once, she is pending again and gets a new link…
    let app = env.gw.url(APP_HOST, "/");
    assert_eq!(alice.get(&app).send().await.expect("app").status(), 200);
    let out = env
        .cli_json(&["guests", "reset-redemption", "alice@fabrikam.example"])
        .await;
    assert_eq!(out["user"]["externalUserState"], "PendingAcceptance");
    let link = env.smtp().next_mail().await.redeem_link();
    until_session_ends(&alice, &app, "reset").await;
    // …which she may now redeem with the other identity.
    let r = env.open_link_at(&impostor, &link, "other", "alice2").await;
    assert_eq!(r.status(), 200);
    let app_json = json_of(env.consent(&impostor, "accept").await).await;
    assert_eq!(echoed(&app_json, "x-remote-user"), vec![ALICE_UPN]);
    let shown = env.cli_json(&["guests", "show", ALICE_UPN]).await;
    assert_eq!(shown["user"]["idp"], "other");
}

#[tokio::test]
async fn removal_and_disable_end_active_sessions() {
    removal_and_disable_end_active_sessions_on(Options::default()).await;
}

/// The same on PostgreSQL, where the revocation feed can see numbers out of order.
#[tokio::test]
async fn removal_and_disable_end_active_sessions_on_postgres() {
    removal_and_disable_end_active_sessions_on(Options::postgres().await).await;
}

async fn removal_and_disable_end_active_sessions_on(opts: Options) {
    let mut env = GuestEnv::start_with(opts).await;
    let alice = env.browser();
    invite_and_redeem(&mut env, &alice).await;
    let app = env.gw.url(APP_HOST, "/");
    assert_eq!(alice.get(&app).send().await.expect("app").status(), 200);

    // Disable from the CLI (another process): the gateway drops the session within the
    // revocation poll interval.
    assert!(
        env.cli(&["guests", "disable", ALICE_UPN])
            .await
            .status
            .success()
    );
    until_session_ends(&alice, &app, "disable").await;
    // Signing in again is refused while disabled.
    let r = env.visit_app(&env.browser(), APP_HOST, "alice").await;
    expect_page(r, 403, "disabled").await;

    // Enable, sign in again, then remove: the directory forgets her entirely.
    assert!(
        env.cli(&["guests", "enable", ALICE_UPN])
            .await
            .status
            .success()
    );
    let again = env.browser();
    assert_eq!(env.visit_app(&again, APP_HOST, "alice").await.status(), 200);
    assert!(
        env.cli(&["guests", "remove", ALICE_UPN])
            .await
            .status
            .success()
    );
    until_session_ends(&again, &app, "removal").await;
    let r = env.visit_app(&env.browser(), APP_HOST, "alice").await;
    expect_page(r, 403, "You have not been invited").await;
}

/// Waits until `client` is no longer served by the app: its session ended, so the request
/// went to sign-in (and from there to a refusal or the consent page). A change from another
/// process arrives through the revocation feed, polled every 500 ms.
async fn until_session_ends(client: &reqwest::Client, app: &str, what: &str) {
    let started = std::time::Instant::now();
    loop {
        let r = client.get(app).send().await.expect("app");
        if r.url().host_str() != Some(APP_HOST) || r.status() != 200 {
            // Ended means: sent to sign in again (the IdP, or our sign-in pages), or the
            // sign-in that followed refused with its code. A 500 or 502 is not an end.
            let (status, url) = (r.status().as_u16(), r.url().clone());
            let body = r.text().await.unwrap_or_default();
            let signing_in = status == 200
                && (url.host_str() == Some("127.0.0.1")
                    || (url.host_str() == Some(LOGIN_HOST)
                        && url.path().starts_with("/.borderless/")));
            let refused = status == 403 && body.contains("<code>");
            assert!(
                signing_in || refused,
                "{what}: expected sign-in or a refusal, got {status} at {url}"
            );
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "session still served 3 s after {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn blocked_domains_malformed_addresses_and_app_owners() {
    let env = GuestEnv::start().await;
    for (addr, why) in [
        ("x@blocked.example", "blocked"),
        ("x@y@fabrikam.example", "exactly one @"),
        ("x@fabrikam", "not a valid domain"),
    ] {
        let out = env.cli(&["invite", addr, "--no-email"]).await;
        assert!(!out.status.success(), "{addr} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{addr}: {err}");
    }
    let out = env
        .cli(&["guests", "assign", "nobody@fabrikam.example", "nope"])
        .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown app `nope`"));
    let out = env
        .cli(&[
            "invite",
            "x@fabrikam.example",
            "--app",
            "nope",
            "--no-email",
        ])
        .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown app"));
    let out = env
        .cli(&[
            "invite",
            "x@fabrikam.example",
            "--redirect",
            "https://evil.example/",
            "--no-email",
        ])
        .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an address of an app"));

    // An app owner (a member of the directory) may invite to their app only.
    env.gw
        .gw
        .directory
        .create_member(
            "owner@contoso.example",
            "Owner",
            ("corp", "https://corp.example", "o1"),
        )
        .await
        .expect("member");
    let out = env
        .cli(&[
            "invite",
            "y@fabrikam.example",
            "--app",
            "wiki",
            "--no-email",
            "--as",
            "owner@contoso.example",
        ])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an owner of the app `wiki`"));
    let out = env
        .cli_json(&[
            "invite",
            "y@fabrikam.example",
            "--app",
            "hr",
            "--no-email",
            "--as",
            "owner@contoso.example",
        ])
        .await;
    assert_eq!(out["result"], "invited");
}

#[tokio::test]
async fn smtp_down_then_resend_delivers_a_fresh_link() {
    // A port with nothing listening: the SMTP server is down.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let env = GuestEnv::start_with(Options {
        smtp_port: Some(port),
        ..Default::default()
    })
    .await;
    let out = env
        .cli(&["invite", "erin@fabrikam.example", "--app", "hr"])
        .await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("guests resend"));
    let shown = env
        .cli_json(&["guests", "show", "erin@fabrikam.example"])
        .await;
    let inv = &shown["invitations"][0];
    assert_eq!(inv["emailStatus"], "Failed");
    assert!(inv["emailError"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(shown["user"]["externalUserState"], "PendingAcceptance");

    let mut smtp = common::smtp::SmtpServer::start(port).await;
    let out = env
        .cli_json(&["guests", "resend", "erin@fabrikam.example"])
        .await;
    let mail = smtp.next_mail().await;
    assert_eq!(mail.redeem_link(), out["redeemUrl"].as_str().expect("url"));
    let shown = env
        .cli_json(&["guests", "show", "erin@fabrikam.example"])
        .await;
    assert_eq!(shown["invitations"][0]["emailStatus"], "Sent");
    let erin = env.browser();
    assert_eq!(
        env.open_link(&erin, &mail.redeem_link(), "erin")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn csv_bulk_invite_reports_bad_rows_by_line_and_invites_the_rest() {
    let mut env = GuestEnv::start().await;
    // Azure's template: a version line, bracketed column names, quoted fields.
    let csv = "version:v1.0\n\
        Email address to invite [inviteeEmail] Required,Redirection url [inviteRedirectURL] Required,Send invitation message (true or false) [sendEmail],Customized invitation message [customizedMessageBody],Display name [invitedUserDisplayName]\n\
        carol@fabrikam.example,https://app.test:PORT/,true,\"Hi Carol, welcome\",Carol\n\
        not-an-address,,false,,\n\
        x@blocked.example,,false,,\n\
        erin@fabrikam.example,https://nowhere.example/,false,,\n\
        CAROL@fabrikam.example,,false,,\n\
        dave@fabrikam.example,,maybe,,\n\
        \n\
        erin@fabrikam.example,,false,,Erin\n"
        .replace("PORT", &env.gw.port.to_string());
    let path = env.gw.dir.path().join("guests.csv");
    std::fs::write(&path, csv).expect("write csv");
    let results = env.gw.dir.path().join("results.json");
    let out = env
        .cli(&[
            "invite",
            "--csv",
            path.to_str().expect("path"),
            "--result",
            results.to_str().expect("path"),
        ])
        .await;
    assert_eq!(out.status.code(), Some(2), "bad rows give exit code 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (line, why) in [
        (4, "exactly one @"),
        (5, "blocked"),
        (6, "not an address of an app"),
        (7, "duplicate of line 3"),
        (8, "true or false"),
    ] {
        assert!(
            stderr.contains(&format!("guests.csv:{line}:")) && stderr.contains(why),
            "line {line} ({why}) not reported:\n{stderr}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&results).expect("result file")).expect("json");
    assert_eq!(report["invited"], 2);
    assert_eq!(report["failed"], 5);
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(
        rows.iter()
            .find(|r| r["line"] == 10)
            .unwrap_or_else(|| panic!("{report}"))["status"],
        "invited"
    );
    let mail = env.smtp().next_mail().await;
    assert_eq!(mail.envelope_to, vec!["carol@fabrikam.example"]);
    assert!(mail.text.contains("Hi Carol, welcome"));
    // Erin's row asked for no email.
    assert!(
        env.smtp()
            .drain(std::time::Duration::from_millis(300))
            .await
            .is_empty()
    );

    // 2001 rows are refused before anything is written; 2000 pass.
    let mut big = String::from("email,send message\n");
    for i in 0..2001 {
        big.push_str(&format!("bulk{i}@fabrikam.example,false\n"));
    }
    std::fs::write(&path, &big).expect("write");
    let out = env
        .cli(&["invite", "--csv", path.to_str().expect("path")])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than 2000 rows"));
    let users = env.cli_json(&["guests", "list"]).await;
    assert_eq!(users.as_array().map(Vec::len), Some(2));
    let trimmed: String = big.lines().take(2001).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, trimmed).expect("write");
    let out = env
        .cli(&["invite", "--csv", path.to_str().expect("path")])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let users = env.cli_json(&["guests", "list"]).await;
    assert_eq!(users.as_array().map(Vec::len), Some(2002));
    // A file without an email column is refused as a whole.
    std::fs::write(&path, "name,phone\nx,1\n").expect("write");
    let out = env
        .cli(&["invite", "--csv", path.to_str().expect("path")])
        .await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 1: the header row has no email column")
    );
}

#[tokio::test]
async fn invitation_mail_over_starttls_with_authentication() {
    let pki_dir = tempfile::tempdir().expect("dir");
    let pki = common::TestPki::create(pki_dir.path());
    let ca = pki_dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("ca");
    let mut smtp = common::smtp::SmtpServer::start_with(serde_json::json!({
        "tlsCert": std::fs::read_to_string(&pki.cert_path).expect("cert"),
        "tlsKey": std::fs::read_to_string(&pki.key_path).expect("key"),
        "users": { "mailer": "s3cret" },
    }))
    .await;
    // The certificate names `localhost`; the password comes from the environment.
    // SAFETY: set before the gateway (and its config validation) reads it; tests in this
    // binary use distinct variable names.
    unsafe { std::env::set_var("BORDERLESS_TEST_SMTP_PASSWORD", "s3cret") };
    let env = GuestEnv::start_with(Options {
        smtp_port: Some(smtp.port),
        smtp_section: Some(format!(
            "host = \"localhost\"\nport = {}\nsecurity = \"starttls\"\nusername = \"mailer\"\npassword_env = \"BORDERLESS_TEST_SMTP_PASSWORD\"\nca_file = \"{}\"\nfrom = \"Contoso <invites@contoso.example>\"\n",
            smtp.port,
            ca.display()
        )),
        ..Default::default()
    })
    .await;
    let out = env
        .cli(&["invite", "alice@fabrikam.example", "--app", "hr"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mail = smtp.next_mail().await;
    assert!(mail.secure, "delivered without TLS");
    assert_eq!(mail.user.as_deref(), Some("mailer"));
    assert!(mail.redeem_link().contains("/.borderless/redeem?t="));
}

#[tokio::test]
async fn who_may_invite_follows_the_collaboration_setting() {
    for (setting, member_may, guest_may) in [
        ("admins_only", false, false),
        ("members", true, false),
        ("everyone", true, true),
    ] {
        let env = GuestEnv::start_with(Options {
            collaboration: Some(format!("who_may_invite = \"{setting}\"")),
            ..Default::default()
        })
        .await;
        env.gw
            .gw
            .directory
            .create_member(
                "mo@contoso.example",
                "Mo Member",
                ("corp", "https://corp.example", "m1"),
            )
            .await
            .expect("member");
        env.cli_json(&["invite", "gus@fabrikam.example", "--no-email"])
            .await;
        for (actor, allowed, target) in [
            (
                "mo@contoso.example",
                member_may,
                "m-invitee@fabrikam.example",
            ),
            (
                "gus@fabrikam.example",
                guest_may,
                "g-invitee@fabrikam.example",
            ),
        ] {
            // Granting an app is for its owners only, whatever the setting: `wiki` has no
            // owners, so nobody but an admin may give access to it — not even to themselves.
            for who in [target, actor] {
                let out = env
                    .cli(&["invite", who, "--app", "wiki", "--no-email", "--as", actor])
                    .await;
                assert!(
                    !out.status.success(),
                    "{setting}: {actor} granted wiki to {who}"
                );
                assert!(String::from_utf8_lossy(&out.stderr).contains("not allowed"));
            }
            // Inviting without granting anything is what the setting decides.
            let out = env
                .cli(&["invite", target, "--no-email", "--as", actor])
                .await;
            assert_eq!(
                out.status.success(),
                allowed,
                "{setting}: {actor} → {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if !allowed {
                assert!(String::from_utf8_lossy(&out.stderr).contains("not allowed"));
            }
        }
        // A non-admin re-inviting an existing user changes nothing: gus's link stays valid
        // and his state is not revealed.
        if member_may {
            let before = env
                .cli_json(&["guests", "show", "gus@fabrikam.example"])
                .await;
            let out = env
                .cli(&[
                    "invite",
                    "gus@fabrikam.example",
                    "--no-email",
                    "--as",
                    "mo@contoso.example",
                ])
                .await;
            assert!(!out.status.success(), "{setting}: re-invite by a member");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("already has an account"), "{err}");
            assert!(
                !err.contains("Pending") && !err.contains("Accepted"),
                "{err}"
            );
            let after = env
                .cli_json(&["guests", "show", "gus@fabrikam.example"])
                .await;
            assert_eq!(before, after, "{setting}: a member's re-invite changed gus");
        }
        // Admins always may.
        let out = env
            .cli(&[
                "invite",
                "a-invitee@fabrikam.example",
                "--app",
                "wiki",
                "--no-email",
            ])
            .await;
        assert!(out.status.success(), "{setting}: admin refused");
    }
}

#[tokio::test]
async fn a_signed_in_guest_cannot_take_someone_elses_invitation() {
    let mut env = GuestEnv::start().await;
    let alice = env.browser();
    invite_and_redeem(&mut env, &alice).await;
    // Dave is invited too; alice, signed in, opens dave's link (forwarded to her, say).
    env.cli_json(&["invite", "dave@fabrikam.example", "--app", "hr"])
        .await;
    let link = env.smtp().next_mail().await.redeem_link();
    let r = env.open_link(&alice, &link, "alice").await;
    let page = expect_page(r, 403, "<code>").await;
    assert!(
        page.contains("<code>wrong_account</code>")
            || page.contains("<code>invitation_for_someone_else</code>"),
        "{page}"
    );
    let dave = env
        .cli_json(&["guests", "show", "dave@fabrikam.example"])
        .await;
    assert_eq!(dave["user"]["externalUserState"], "PendingAcceptance");
    // Dave's link still works for dave.
    let dave_browser = env.browser();
    assert_eq!(
        env.open_link(&dave_browser, &link, "dave").await.status(),
        200
    );
}

#[tokio::test]
async fn a_domain_blocked_after_the_invitation_was_sent_cannot_redeem() {
    let mut env = GuestEnv::start().await;
    env.cli_json(&["invite", "carol@fabrikam.example", "--app", "hr"])
        .await;
    let link = env.smtp().next_mail().await.redeem_link();
    // The operator blocks the partner's domain afterwards.
    let toml = std::fs::read_to_string(env.config()).expect("config");
    let toml = toml.replace(
        "blocked_domains = [\"blocked.example\"]",
        "blocked_domains = [\"blocked.example\", \"fabrikam.example\"]",
    );
    std::fs::write(env.config(), toml).expect("write");
    borderless::reload(&env.gw.gw, &env.config()).expect("reload");
    // The link itself is refused, before any sign-in.
    let r = env.browser().get(&link).send().await.expect("link");
    let page = expect_page(r, 403, "<code>domain_blocked</code>").await;
    assert!(page.contains("fabrikam.example"), "{page}");
    let carol = env
        .cli_json(&["guests", "show", "carol@fabrikam.example"])
        .await;
    assert_eq!(carol["user"]["externalUserState"], "PendingAcceptance");
}
