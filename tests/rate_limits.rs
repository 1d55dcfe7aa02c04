//! Floods, sent for real: sign-in starts, wrong admin API keys and invitations from one
//! client are limited, and other people go on signing in meanwhile. The attacker speaks
//! from 127.0.0.2 (Linux routes all of 127/8 to loopback), everyone else from 127.0.0.1.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::guests::{GuestEnv, Options};
use common::{APP_HOST, LOGIN_HOST, TestGateway};
use serde_json::json;

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const API: &str = "/.borderless/api/v1";

fn attacker(gw: &TestGateway) -> reqwest::Client {
    gw.client_builder()
        .local_address(ATTACKER)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_sign_in_flood_is_limited_and_others_still_sign_in() {
    let (gw, _idp) = common::with_fake_idp("sign_ins_per_minute = 5", |port, echo| {
        common::app_toml("hr", APP_HOST, port, echo, "")
    })
    .await;
    // Someone starts signing in before the flood and is at the IdP while it runs.
    let early = gw.browser();
    let at_idp = common::walk_to_idp(&early.manual(&gw), &gw.url(APP_HOST, "/")).await;

    let flood = attacker(&gw);
    let start = gw.url(
        LOGIN_HOST,
        &format!(
            "/.borderless/signin?rd={}",
            url::form_urlencoded::byte_serialize(gw.url(APP_HOST, "/").as_bytes())
                .collect::<String>()
        ),
    );
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..200 {
        let r = flood.get(&start).send().await.expect("flood");
        if r.status() == 429 {
            retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 302).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 195);
    assert!(
        retry_after.is_some_and(|s| (1..=60).contains(&s)),
        "{retry_after:?}"
    );

    // The early sign-in completes; a new one from another address works.
    let r = early
        .client
        .get(&at_idp)
        .send()
        .await
        .expect("back from the IdP");
    assert_eq!(r.status(), 200, "the early flow survived the flood");
    assert_eq!(r.url().host_str(), Some(APP_HOST));
    let later = gw.browser();
    assert_eq!(
        common::status_of(&later.client, &gw.url(APP_HOST, "/")).await,
        200
    );
    gw.stop().await;
}

#[tokio::test]
async fn api_key_guessing_is_limited_per_client_before_any_lookup() {
    let (gw, _idp) = common::with_fake_idp("api_key_failures_per_minute = 3", |port, echo| {
        common::app_toml("hr", APP_HOST, port, echo, "")
    })
    .await;
    let (_, key) = gw
        .gw
        .directory
        .create_admin_key(&borderless::directory::Actor::Cli, "ops")
        .await
        .expect("key");
    let users = gw.url(LOGIN_HOST, &format!("{API}/users"));
    let guesser = attacker(&gw);
    let mut statuses = Vec::new();
    for i in 0..10 {
        let r = guesser
            .get(&users)
            .bearer_auth(format!("blk_guess{i}"))
            .send()
            .await
            .expect("guess");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429, 429, 429, 429, 429]);
    // A blocked client is refused even with the right key: its guesses are not checked.
    let r = guesser
        .get(&users)
        .bearer_auth(&key)
        .send()
        .await
        .expect("key");
    assert_eq!(r.status(), 429);
    let err: serde_json::Value = r.json().await.expect("json");
    assert_eq!(err["error"]["code"], "TooManyRequests");
    // Everyone else's key works.
    let r = gw
        .manual_client()
        .get(&users)
        .bearer_auth(&key)
        .send()
        .await
        .expect("key");
    assert_eq!(r.status(), 200);
    gw.stop().await;
}

#[tokio::test]
async fn invitations_by_non_admins_are_limited_per_inviter() {
    let env = GuestEnv::start_with(Options {
        limits: "invitations_per_hour = 2".into(),
        ..Default::default()
    })
    .await;
    env.cli_json(&[
        "invite",
        "owner@contoso.example",
        "--app",
        "hr",
        "--no-email",
    ])
    .await;
    let owner = env.browser();
    assert_eq!(env.visit_app(&owner, APP_HOST, "owner").await.status(), 200);
    assert_eq!(env.consent(&owner, "accept").await.status(), 200);
    let url = env.gw.url(LOGIN_HOST, &format!("{API}/invitations"));
    let origin = env.gw.url(LOGIN_HOST, "");
    let mut statuses = Vec::new();
    for i in 0..4 {
        let r = owner
            .post(&url)
            .header("origin", &origin)
            .json(&json!({ "invitedUserEmailAddress": format!("p{i}@fabrikam.example"), "apps": ["hr"] }))
            .send()
            .await
            .expect("post");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [201, 201, 429, 429]);
    // Admins are not limited.
    let key = env.admin_key("ops").await;
    for i in 0..4 {
        let r = env
            .gw
            .manual_client()
            .post(&url)
            .bearer_auth(&key)
            .json(&json!({ "invitedUserEmailAddress": format!("a{i}@fabrikam.example"), "sendInvitationMessage": false }))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 201);
    }
}
