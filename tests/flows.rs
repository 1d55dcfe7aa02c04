//! Sign-in flows between requests: several at once in one browser (tabs) do not break each
//! other, and with the flows in PostgreSQL a sign-in started on one gateway instance
//! finishes on another (no sticky sessions).

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{APP_HOST, GatewaySlot, TestGateway};

fn apps(port: u16, echo: std::net::SocketAddr) -> String {
    common::app_toml("hr", APP_HOST, port, echo, "")
}

#[tokio::test]
async fn sign_ins_in_several_tabs_do_not_break_each_other() {
    let (gw, _idp) = common::with_fake_idp("", apps).await;
    let browser = gw.browser();
    let manual = browser.manual(&gw);
    let app = gw.url(APP_HOST, "/");
    // Three tabs open the app and get to the IdP, one after the other…
    let tab1 = common::walk_to_idp(&manual, &app).await;
    let tab2 = common::walk_to_idp(&manual, &gw.url(APP_HOST, "/reports")).await;
    // …while a script on the app host polls without a session: 401, no cookie changes.
    let xhr = manual
        .post(gw.url(APP_HOST, "/api/poll"))
        .header("x-requested-with", "XMLHttpRequest")
        .send()
        .await
        .expect("xhr");
    assert_eq!(xhr.status(), 401);
    assert!(xhr.headers().get("set-cookie").is_none());
    let tab3 = common::walk_to_idp(&manual, &gw.url(APP_HOST, "/settings")).await;
    // …and come back in another order. Each lands where it started.
    for (at_idp, path) in [(tab2, "/reports"), (tab1, "/"), (tab3, "/settings")] {
        let r = browser.client.get(&at_idp).send().await.expect("back");
        assert_eq!(
            r.status(),
            200,
            "{path}: {}",
            r.text().await.unwrap_or_default()
        );
        assert_eq!(r.url().host_str(), Some(APP_HOST));
        assert_eq!(r.url().path(), path);
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_sign_in_started_on_one_instance_finishes_on_another() {
    let db = common::databases::postgres_database().await;
    let Some(db) = db else { return };
    let echo = common::start_echo().await;
    let idp = common::fake_idp::FakeIdp::start().await;
    let mut slot = GatewaySlot::new().await;
    slot.database_url = Some(db.clone());
    let sections = format!("{}\n{}", idp.idp_toml(), apps(slot.port, echo));
    let first = slot.start("", &sections).await;
    let mut slot = GatewaySlot::beside(&first, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))).await;
    slot.database_url = Some(db);
    let second = slot.start("", &sections).await;

    // One browser whose requests a load balancer sends to the first instance until the
    // IdP answers, then to the second.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let via = |gw: &TestGateway| {
        gw.client_builder()
            .cookie_provider(jar.clone())
            .build()
            .expect("client")
    };
    let manual_first = first
        .client_builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let at_idp = common::walk_to_idp(&manual_first, &first.url(APP_HOST, "/")).await;
    let r = via(&second).get(&at_idp).send().await.expect("callback");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert_eq!(r.url().host_str(), Some(APP_HOST));
    // The session works on both instances.
    assert_eq!(
        common::status_of(&via(&first), &first.url(APP_HOST, "/")).await,
        200
    );
    second.stop().await;
    first.stop().await;
}
