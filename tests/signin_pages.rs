//! Sign-in pages and listeners around them: the provider choice page with several IdPs, the
//! HTTP → HTTPS redirect listener (no open redirect), sign-in on the login host only.

mod common;

use common::fake_idp::FakeIdp;
use common::{APP_HOST, LOGIN_HOST, TestGateway};

#[tokio::test]
async fn several_providers_get_a_choice_page_and_each_one_works() {
    let echo = common::start_echo().await;
    let a = FakeIdp::start().await;
    let b = FakeIdp::start().await;
    let (ta, tb) = (
        a.idp_toml(),
        b.idp_toml()
            .replace("[[idp]]\nid = \"fake\"", "[[idp]]\nid = \"second\"")
            .replace(
                "kind = \"oidc\"",
                "kind = \"oidc\"\ndisplay_name = \"Second Partner\"",
            ),
    );
    let gw = TestGateway::start("", |port| {
        format!("{ta}\n{tb}\n[[app]]\nid = \"hr\"\nhost = \"{APP_HOST}:{port}\"\nupstream = \"http://{echo}\"\n")
    })
    .await;
    let manual = gw.manual_client();
    let to_login = common::redirect_of(&manual, &gw.url(APP_HOST, "/x")).await;
    assert!(
        to_login.starts_with(&gw.url(LOGIN_HOST, "/.borderless/signin?")),
        "{to_login}"
    );
    let page = gw
        .client()
        .get(&to_login)
        .send()
        .await
        .expect("choice page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("Second Partner") && html.contains("/.borderless/signin/fake?"),
        "{html}"
    );
    assert!(html.contains("/.borderless/signin/second?"));

    // Each choice goes to its own provider.
    let href = |id: &str| {
        let start = html
            .find(&format!("/.borderless/signin/{id}?"))
            .expect("link");
        let end = html[start..].find('"').expect("end") + start;
        html[start..end].replace("&amp;", "&")
    };
    for (id, issuer) in [("fake", &a.issuer), ("second", &b.issuer)] {
        let r = manual
            .get(gw.url(LOGIN_HOST, &href(id)))
            .send()
            .await
            .expect("start");
        assert_eq!(r.status(), 302);
        assert!(
            r.headers()["location"]
                .to_str()
                .expect("loc")
                .starts_with(issuer.as_str()),
            "{id} → its issuer"
        );
    }
    // A whole sign-in through the second one lands on the app. (The links above carry the
    // first browser's binding, which this browser cannot redeem; a link without one works:
    // the app host bounces back for a binding of its own.)
    let browser = gw.browser();
    let mut start =
        url::Url::parse(&gw.url(LOGIN_HOST, "/.borderless/signin/second")).expect("url");
    start
        .query_pairs_mut()
        .append_pair("rd", &gw.url(APP_HOST, "/x"));
    let r = browser.client.get(start).send().await.expect("flow");
    assert_eq!(r.status(), 200);
    assert_eq!(r.url().as_str(), gw.url(APP_HOST, "/x"));
    let metrics = browser
        .client
        .get(gw.url(LOGIN_HOST, "/.borderless/metrics"))
        .send()
        .await
        .expect("m");
    let text = metrics.text().await.expect("text");
    assert!(
        text.contains("borderless_signins_total{idp=\"second\",result=\"success\"} 1"),
        "{text}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn http_listener_redirects_known_hosts_only() {
    let echo = common::start_echo().await;
    let idp = FakeIdp::start().await;
    let idp_toml = idp.idp_toml();
    let gw = TestGateway::start("", |port| {
        format!("{idp_toml}\n[[app]]\nid = \"hr\"\nhost = \"{APP_HOST}:{port}\"\nupstream = \"http://{echo}\"\n")
    })
    .await;
    // A redirect listener beside the running gateway, serving the same state.
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let http_port = tcp.local_addr().expect("addr").port();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let limits = gw.gw.runtime.load().config.limits.clone();
    let listeners = vec![borderless::server::Bound {
        tcp,
        kind: borderless::server::Kind::RedirectToHttps,
        cert: None,
    }];
    let task = tokio::spawn(borderless::server::serve(
        gw.gw.clone(),
        listeners,
        limits,
        shutdown.clone(),
    ));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let get = |host: String| {
        let client = client.clone();
        async move {
            client
                .get(format!("http://127.0.0.1:{http_port}/path?q=1"))
                .header("host", host)
                .send()
                .await
                .expect("request")
        }
    };
    let r = get(format!("{APP_HOST}:{http_port}")).await;
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        format!("https://{APP_HOST}:{}/path?q=1", gw.port).as_str()
    );
    let r = get(LOGIN_HOST.to_string()).await;
    assert_eq!(r.status(), 308);
    for evil in [
        "evil.test",
        "evil.test:80",
        "app.test.evil.test",
        "app.test@evil.test",
    ] {
        let r = get(evil.to_string()).await;
        assert_eq!(r.status(), 404, "{evil} must not be redirected");
    }
    shutdown.cancel();
    let _ = task.await;
    gw.stop().await;
}
