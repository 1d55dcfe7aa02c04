//! Sign-in edges nobody tested before, each sent for real: a callback for another IdP than
//! the flow started with (mix-up), the IdP's `error` answer, `Origin: null` and missing
//! `Origin` on state-changing POSTs, a handoff after the session was revoked and a replayed
//! one, an upstream that switches protocols unasked, and an app's `allowed_idps`.

mod common;

use common::fake_idp::FakeIdp;
use common::{APP_HOST, LOGIN_HOST, OTHER_HOST, TestGateway, location};

/// Two providers (`fake`, `other`), an app for each host; `wiki` admits `other` only.
async fn start() -> (TestGateway, FakeIdp, FakeIdp) {
    let echo = common::start_echo().await;
    let first = FakeIdp::start().await;
    let second = FakeIdp::start().await;
    let (a, b) = (
        first.idp_toml(),
        second
            .idp_toml()
            .replace("\nid = \"fake\"", "\nid = \"other\""),
    );
    let gw = TestGateway::start("", |port| {
        format!(
            "{}\n{}\n{}{}",
            a,
            b,
            common::app_toml("hr", APP_HOST, port, echo, ""),
            common::app_toml("wiki", OTHER_HOST, port, echo, "allowed_idps = [\"other\"]"),
        )
    })
    .await;
    (gw, first, second)
}

/// Follows redirects by hand from `start` until the IdP's redirect back to the gateway:
/// returns the callback URL.
async fn to_callback(manual: &reqwest::Client, start: &str) -> String {
    let mut url = url::Url::parse(start).expect("url");
    for _ in 0..10 {
        let r = manual.get(url.as_str()).send().await.expect("hop");
        let mut next = url.join(&location(&r)).expect("location");
        // Two providers: go straight to `fake` rather than through the picker page.
        if next.path() == "/.borderless/signin" {
            next.set_path("/.borderless/signin/fake");
        }
        if next.path().starts_with("/.borderless/callback/") {
            return next.to_string();
        }
        url = next;
    }
    panic!("no callback from {start}");
}

async fn body_of(r: reqwest::Response) -> (u16, String) {
    let s = r.status().as_u16();
    (s, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_callback_for_another_idp_is_refused_and_ends_the_flow() {
    let (gw, _a, _b) = start().await;
    let b = gw.browser();
    let manual = b.manual(&gw);
    let start = gw.url(LOGIN_HOST, "/.borderless/signin/fake");
    let callback = to_callback(&manual, &start).await;
    let mixed = callback.replace("/callback/fake", "/callback/other");
    let (status, body) = body_of(manual.get(&mixed).send().await.expect("mix-up")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<code>idp_mismatch</code>"), "{body}");
    // The flow is gone: the genuine callback does not work afterwards either.
    let (status, body) = body_of(manual.get(&callback).send().await.expect("genuine")).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("<code>no_sign_in_in_progress</code>"),
        "{body}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn the_idps_error_answer_is_a_failed_sign_in() {
    let (gw, _a, _b) = start().await;
    let b = gw.browser();
    let manual = b.manual(&gw);
    let callback = to_callback(&manual, &gw.url(LOGIN_HOST, "/.borderless/signin/fake")).await;
    let state = url::Url::parse(&callback)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let denied = gw.url(
        LOGIN_HOST,
        &format!(
            "/.borderless/callback/fake?state={state}&error=access_denied&error_description=no"
        ),
    );
    let (status, body) = body_of(manual.get(&denied).send().await.expect("denied")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<code>idp_error</code>"), "{body}");
    assert!(
        !body.contains("access_denied"),
        "the IdP's text is logged, not shown"
    );
    let (status, body) = body_of(manual.get(&callback).send().await.expect("code")).await;
    assert_eq!(status, 400, "the flow ended with the error");
    assert!(
        body.contains("<code>no_sign_in_in_progress</code>"),
        "{body}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn state_changing_posts_check_origin_and_fetch_metadata() {
    let (gw, _a, _b) = start().await;
    let client = gw.manual_client();
    let signout = gw.url(LOGIN_HOST, "/.borderless/signout");
    for (origin, site, allowed) in [
        (Some("null"), Some("cross-site"), false),
        (Some("null"), None, false),
        (Some("null"), Some("same-origin"), true),
        (Some("https://evil.example"), Some("cross-site"), false),
        (None, Some("cross-site"), false),
        (None, Some("same-site"), false),
        (None, Some("same-origin"), true),
        // No Origin, no fetch metadata: not a browser a CSRF page can drive.
        (None, None, true),
    ] {
        let mut req = client.post(&signout);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        let status = req.send().await.expect("post").status().as_u16();
        assert_eq!(
            status == 200,
            allowed,
            "Origin {origin:?}, Sec-Fetch-Site {site:?}: {status}"
        );
        if !allowed {
            assert_eq!(status, 403);
        }
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_handoff_after_revocation_or_a_second_time_is_refused() {
    let (gw, _a, _b) = start().await;
    // Stop right before the handoff on the app host.
    let b = gw.browser();
    let manual = b.manual(&gw);
    let callback = to_callback(&manual, &gw.url(APP_HOST, "/")).await;
    let r = manual.get(&callback).send().await.expect("callback");
    let handoff = location(&r);
    assert!(handoff.contains("/.borderless/handoff?code="), "{handoff}");
    // The user's sessions are revoked in between.
    let user = gw
        .gw
        .directory
        .user_by_identity(&_a.issuer, "user-1")
        .await
        .expect("directory")
        .expect("member")
        .id;
    gw.gw.sessions.revoke_user(&user).await.expect("revoke");
    let (status, body) = body_of(manual.get(&handoff).send().await.expect("handoff")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<code>session_ended</code>"), "{body}");

    // A completed handoff cannot be replayed, not even by the same browser.
    let b = gw.browser();
    let manual = b.manual(&gw);
    let callback = to_callback(&manual, &gw.url(APP_HOST, "/")).await;
    let handoff = location(&manual.get(&callback).send().await.expect("callback"));
    let r = manual.get(&handoff).send().await.expect("handoff");
    assert_eq!(r.status(), 302, "the first handoff works");
    let (status, body) = body_of(manual.get(&handoff).send().await.expect("replay")).await;
    assert_eq!(status, 400, "replayed handoff");
    assert!(body.contains("<code>handoff_unknown</code>"), "{body}");
    gw.stop().await;
}

#[tokio::test]
async fn an_app_that_allows_other_idps_refuses_this_one() {
    let (gw, _a, _b) = start().await;
    let b = gw.browser();
    // Signed in at `fake` through hr…
    let hr = gw.url(APP_HOST, "/");
    let start = gw.url(
        LOGIN_HOST,
        &format!(
            "/.borderless/signin/fake?rd={}",
            url::form_urlencoded::byte_serialize(hr.as_bytes()).collect::<String>()
        ),
    );
    assert_eq!(common::status_of(&b.client, &start).await, 200);
    assert_eq!(common::status_of(&b.client, &hr).await, 200);
    // …wiki (allowed_idps = ["other"]) refuses that session with its code.
    let (status, body) = body_of(
        b.client
            .get(gw.url(OTHER_HOST, "/"))
            .send()
            .await
            .expect("wiki"),
    )
    .await;
    assert_eq!(status, 403, "{}", &body[body.find("<main>").unwrap_or(0)..]);
    assert!(body.contains("<code>idp_not_allowed</code>"), "{body}");
    // A browser without a session is sent straight to the one provider wiki admits.
    let fresh = gw.manual_client();
    let to_login = common::redirect_of(&fresh, &gw.url(OTHER_HOST, "/")).await;
    let to_idp = common::redirect_of(&fresh, &to_login).await;
    assert!(
        to_idp.starts_with(&_b.issuer),
        "{to_idp} is not the `other` provider"
    );
    gw.stop().await;
}

#[tokio::test]
async fn an_upstream_that_switches_protocols_unasked_gets_a_502() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nraw bytes")
                    .await;
            });
        }
    });
    let gw = TestGateway::start("", |port| {
        common::app_toml("sneaky", APP_HOST, port, upstream, "auth = \"none\"")
    })
    .await;
    let r = gw
        .manual_client()
        .get(gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("request");
    let (status, body) = body_of(r).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("request id"));
    gw.stop().await;
}
