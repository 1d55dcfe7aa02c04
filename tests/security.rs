//! Attacks on the data plane and the sign-in plane, each sent for real: open redirects,
//! spoofed identity headers, cookie leaks, h2c smuggling, handoff and callback replays,
//! parameter pollution, path and host confusion.

mod common;

use common::fake_idp::FakeIdp;
use common::{APP_HOST, LOGIN_HOST, OTHER_HOST, TestGateway, echoed};

struct Env {
    gw: TestGateway,
    _idp: FakeIdp,
}

async fn start() -> Env {
    let echo = common::start_echo().await;
    let idp = FakeIdp::start().await;
    let idp_toml = idp.idp_toml();
    let gw = TestGateway::start("", |port| {
        format!(
            r#"{idp_toml}
[[app]]
id = "hr"
host = "{APP_HOST}:{port}"
upstream = "http://{echo}"
[app.headers]
X-Remote-User = "email"
X-Remote-Groups = "groups"
X-Remote-Name = "name"

[[app]]
id = "public"
host = "{OTHER_HOST}:{port}"
path_prefix = "/public"
upstream = "http://{echo}"
auth = "none"
[app.headers]
X-Remote-User = "email"

[[app]]
id = "other"
host = "{OTHER_HOST}:{port}"
upstream = "http://{echo}"
[app.headers]
X-Remote-User = "email"
"#
        )
    })
    .await;
    Env { gw, _idp: idp }
}

async fn signed_in(gw: &TestGateway) -> common::Browser {
    let b = gw.json_browser();
    let r = b
        .client
        .get(gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 200, "sign-in through the stand-in provider");
    b
}

#[tokio::test]
async fn open_redirects_are_refused() {
    let env = start().await;
    let gw = &env.gw;
    let p = gw.port;
    let bad = [
        "//evil.test".to_string(),
        "//evil.test/".into(),
        "/\\evil.test".into(),
        "\\\\evil.test".into(),
        "/%5Cevil.test".into(),
        "/%5cevil.test".into(),
        "%2F%2Fevil.test".into(),
        "https://evil.test/".into(),
        "HTTPS://EVIL.TEST/".into(),
        "https:evil.test".into(),
        "https:/evil.test".into(),
        "http://evil.test/".into(),
        format!("http://{APP_HOST}:{p}/"),
        format!("https://{APP_HOST}:{p}@evil.test/"),
        format!("https://user:pw@{APP_HOST}:{p}/"),
        format!("https://{APP_HOST}.evil.test:{p}/"),
        format!("https://{APP_HOST}:1/"),
        "https://evil.test#https://app.test/".into(),
        " https://evil.test".into(),
        "\thttps://evil.test".into(),
        "/\t/evil.test".into(),
        "/%09/evil.test".into(),
        "/\n/evil.test".into(),
        format!("https://{APP_HOST}:{p}/\r\nSet-Cookie: x=1"),
        "javascript:alert(1)".into(),
        "data:text/html,<script>alert(1)</script>".into(),
        "https://evil.test%2F@app.test/".into(),
        "https://%65vil.test/".into(),
        "https://127.0.0.1/".into(),
        "".into(),
    ];
    let client = gw.manual_client();
    for rd in &bad {
        let mut url = url::Url::parse(&gw.url(LOGIN_HOST, "/.borderless/signin")).expect("url");
        url.query_pairs_mut().append_pair("rd", rd);
        let r = client.get(url).send().await.expect("request");
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert_eq!(
            r.status(),
            400,
            "rd={rd:?} must be refused, got {} → {location}",
            r.status()
        );
    }
    // The legitimate forms work: an app URL and a path on the login host.
    for rd in [
        format!("https://{APP_HOST}:{p}/x?y=1"),
        "/.borderless/apps".to_string(),
    ] {
        let mut url = url::Url::parse(&gw.url(LOGIN_HOST, "/.borderless/signin")).expect("url");
        url.query_pairs_mut().append_pair("rd", &rd);
        let r = client.get(url).send().await.expect("request");
        assert_eq!(r.status(), 302, "rd={rd} is an app URL");
        let location = r.headers()["location"].to_str().expect("location");
        assert!(
            location.starts_with(&env._idp.issuer),
            "goes to the IdP: {location}"
        );
    }
    gw_stop(env).await;
}

async fn gw_stop(env: Env) {
    env.gw.stop().await;
}

#[tokio::test]
async fn spoofed_identity_headers_never_reach_the_app() {
    let env = start().await;
    let gw = &env.gw;
    let b = signed_in(gw).await;
    let spellings = [
        "X-Remote-User",
        "x-remote-user",
        "X_Remote_User",
        "x_remote_USER",
        "X-REMOTE-USER",
    ];
    for method in [
        reqwest::Method::GET,
        reqwest::Method::OPTIONS,
        reqwest::Method::POST,
    ] {
        for name in spellings {
            let r = b
                .client
                .request(method.clone(), gw.url(APP_HOST, "/"))
                .header(name, "mallory@evil.test")
                .header("X-Remote-Groups", "admins")
                .header("X-Forwarded-For", "6.6.6.6")
                .header("X-Request-Id", "forged")
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), 200);
            let json: serde_json::Value = r.json().await.expect("echo");
            let users: Vec<&str> = json["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .filter(|h| {
                    h[0].as_str()
                        .is_some_and(|n| n.replace('_', "-").eq_ignore_ascii_case("x-remote-user"))
                })
                .filter_map(|h| h[1].as_str())
                .collect();
            assert_eq!(
                users,
                vec!["user1@partner.test"],
                "{method} with {name}: {json}"
            );
            assert_eq!(echoed(&json, "x-remote-groups"), vec!["g1,g2"]);
            assert_eq!(echoed(&json, "x-forwarded-for"), vec!["127.0.0.1"]);
            assert_ne!(echoed(&json, "x-request-id"), vec!["forged"]);
        }
    }
    // Unauthenticated requests to a public (auth = "none") app: stripped too.
    let anon = gw.json_browser();
    for name in spellings {
        for method in [reqwest::Method::GET, reqwest::Method::OPTIONS] {
            let r = anon
                .client
                .request(method.clone(), gw.url(OTHER_HOST, "/public/x"))
                .header(name, "mallory@evil.test")
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), 200);
            let json: serde_json::Value = r.json().await.expect("echo");
            let text = json.to_string().to_ascii_lowercase();
            assert!(!text.contains("mallory"), "{method} {name} leaked: {json}");
        }
    }
    // Unauthenticated OPTIONS/POST to a protected app never reach it.
    for method in [
        reqwest::Method::OPTIONS,
        reqwest::Method::POST,
        reqwest::Method::DELETE,
    ] {
        let r = gw
            .manual_client()
            .request(method.clone(), gw.url(APP_HOST, "/"))
            .header("X-Remote-User", "mallory@evil.test")
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 401, "{method} without a session");
    }
    gw_stop(env).await;
}

#[tokio::test]
async fn gateway_cookies_never_reach_the_app_but_app_cookies_do() {
    let env = start().await;
    let gw = &env.gw;
    let b = signed_in(gw).await;
    let cookies = b.cookies_for(&gw.url(APP_HOST, "/"));
    assert!(cookies.contains("__Host-borderless_session="));
    let r = b
        .client
        .get(gw.url(APP_HOST, "/"))
        .header("cookie", format!("{cookies}; app_pref=dark; borderless_session=forged; __Host-borderless_session_flow=x"))
        .send()
        .await
        .expect("request");
    let json: serde_json::Value = r.json().await.expect("echo");
    let sent = echoed(&json, "cookie").join("; ");
    assert!(sent.contains("app_pref=dark"), "{sent}");
    assert!(
        !sent.to_ascii_lowercase().contains("borderless"),
        "gateway cookie leaked: {sent}"
    );
    gw_stop(env).await;
}

#[tokio::test]
async fn h2c_upgrade_is_never_forwarded() {
    let env = start().await;
    let gw = &env.gw;
    let req = format!(
        "GET /public/upgrade-attempt HTTP/1.1\r\nHost: {OTHER_HOST}:{}\r\nAccept: application/json\r\nConnection: Upgrade, HTTP2-Settings\r\n\
         Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        gw.port
    );
    let resp = gw.raw_exchange(OTHER_HOST, &req).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let lower = resp.to_ascii_lowercase();
    assert!(!lower.contains("h2c"), "upgrade leaked to the app: {resp}");
    assert!(!lower.contains("http2-settings"), "{resp}");
    assert!(!lower.contains("101 switching"), "{resp}");
    gw_stop(env).await;
}

#[tokio::test]
async fn duplicate_and_replayed_callback_parameters_are_refused() {
    let env = start().await;
    let gw = &env.gw;
    let b = gw.json_browser();
    let manual = b.manual(gw);
    // Start a sign-in and stop at the provider's redirect back to us.
    let to_login = common::redirect_of(&manual, &gw.url(APP_HOST, "/")).await;
    let to_idp = common::redirect_of(&manual, &to_login).await;
    let callback = common::redirect_of(&manual, &to_idp).await;
    assert!(callback.contains("/.borderless/callback/fake"));

    // Duplicated `state` (also when encoded differently) is refused, and the flow is gone.
    let polluted = format!("{callback}&st%61te=other");
    let r = manual.get(&polluted).send().await.expect("polluted");
    assert_eq!(r.status(), 400);
    let body = r.text().await.expect("body");
    assert!(body.contains("<code>repeated_parameter</code>"), "{body}");
    let r = manual
        .get(&callback)
        .send()
        .await
        .expect("genuine after failure");
    assert_eq!(r.status(), 400, "any failure deletes the flow state");
    let body = r.text().await.expect("body");
    assert!(
        body.contains("<code>no_sign_in_in_progress</code>"),
        "{body}"
    );

    // A fresh flow: completing works once; replaying the callback does not.
    let to_idp = common::redirect_of(&manual, &to_login).await;
    let callback = common::redirect_of(&manual, &to_idp).await;
    let dup_code = format!("{callback}&code=again");
    let r = manual.get(&dup_code).send().await.expect("dup code");
    assert_eq!(r.status(), 400, "duplicate code refused");

    let to_idp = common::redirect_of(&manual, &to_login).await;
    let callback = common::redirect_of(&manual, &to_idp).await;
    let flow_cookie = b.cookies_for(&gw.url(LOGIN_HOST, "/"));
    let ok = manual.get(&callback).send().await.expect("callback");
    assert_eq!(ok.status(), 302, "genuine callback completes");
    let replay = gw
        .manual_client()
        .get(&callback)
        .header("cookie", flow_cookie)
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status(), 400, "a replayed callback finds no flow");
    // Without the flow cookie at all: refused.
    let r = gw
        .manual_client()
        .get(&callback)
        .send()
        .await
        .expect("no cookie");
    assert_eq!(r.status(), 400);
    gw_stop(env).await;
}

#[tokio::test]
async fn handoff_codes_are_single_use_host_bound_and_browser_bound() {
    let env = start().await;
    let gw = &env.gw;
    let b = gw.json_browser();
    let manual = b.manual(gw);
    let mut url = gw.url(APP_HOST, "/");
    let mut handoff = None;
    for _ in 0..8 {
        let r = manual.get(&url).send().await.expect("hop");
        let Some(loc) = r.headers().get("location") else {
            break;
        };
        let loc = loc.to_str().expect("loc").to_string();
        if loc.contains("/.borderless/handoff") {
            handoff = Some(loc);
            break;
        }
        url = loc;
    }
    let handoff = handoff.expect("a handoff redirect to the app host");
    // Another browser (no binding cookie) cannot use the code: login CSRF is blocked.
    let attacker = gw
        .manual_client()
        .get(&handoff)
        .send()
        .await
        .expect("attacker");
    assert_eq!(attacker.status(), 400);
    // The code was consumed by that attempt, so the next use fails as well (single use).
    let r = manual.get(&handoff).send().await.expect("victim");
    assert_eq!(r.status(), 400, "a code works at most once");

    // A fresh code presented at another host is refused.
    let to_login = common::redirect_of(&manual, &gw.url(APP_HOST, "/")).await;
    let handoff = common::redirect_of(&manual, &to_login).await;
    assert!(
        handoff.contains("/.borderless/handoff"),
        "already signed in at the login host: {handoff}"
    );
    let moved = handoff.replace(APP_HOST, OTHER_HOST);
    let r = manual.get(&moved).send().await.expect("other host");
    assert_eq!(
        r.status(),
        400,
        "code issued for app.test used at other.test"
    );
    gw_stop(env).await;
}

#[tokio::test]
async fn path_and_host_confusion_are_refused() {
    let env = start().await;
    let gw = &env.gw;
    let b = signed_in(gw).await;
    for path in [
        "/public/../secret",
        "/public/%2e%2e/secret",
        "/public/%2E%2e/x",
        "/a/./b",
        "/public/..%2fsecret",
    ] {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {OTHER_HOST}:{}\r\nConnection: close\r\n\r\n",
            gw.port
        );
        let resp = gw.raw_exchange(OTHER_HOST, &req).await;
        assert!(resp.starts_with("HTTP/1.1 400"), "{path}: {resp}");
        assert!(
            resp.contains("request id"),
            "{path}: error page shows the request id"
        );
    }
    // Host header naming another app than the request target.
    let req = format!(
        "GET https://{APP_HOST}:{p}/ HTTP/1.1\r\nHost: {OTHER_HOST}:{p}\r\nConnection: close\r\n\r\n",
        p = gw.port
    );
    let resp = gw.raw_exchange(APP_HOST, &req).await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    // Unknown host: 404 page with a request id, nothing internal.
    let r = b
        .client
        .get(format!("https://localhost:{}/", gw.port))
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), 404);
        let rid = r.headers()["x-request-id"]
            .to_str()
            .expect("rid")
            .to_string();
        let body = r.text().await.expect("body");
        assert!(body.contains(&rid));
    }
    // Host names match case-insensitively.
    let r = b
        .client
        .get(format!("https://APP.test:{}/", gw.port))
        .send()
        .await
        .expect("upper-case host");
    assert_eq!(r.status(), 200);
    gw_stop(env).await;
}

#[tokio::test]
async fn hostile_claim_values_cannot_inject_headers() {
    let env = start().await;
    let gw = &env.gw;
    env._idp.set(|s| {
        s.userinfo_name = format!(
            "Eve\r\nX-Remote-User: admin@contoso.test\u{0}\t{}",
            "x".repeat(5000)
        )
    });
    let b = signed_in(gw).await;
    let r = b
        .client
        .get(gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("request");
    let json: serde_json::Value = r.json().await.expect("echo");
    assert_eq!(
        echoed(&json, "x-remote-user"),
        vec!["user1@partner.test"],
        "{json}"
    );
    let name = echoed(&json, "x-remote-name");
    assert_eq!(name.len(), 1);
    assert!(
        name[0].starts_with("EveX-Remote-User: admin@contoso.test"),
        "{}",
        &name[0][..60]
    );
    assert!(!name[0].contains(['\r', '\n', '\0', '\t']));
    assert_eq!(name[0].len(), borderless::proxy::claims::MAX_HEADER_VALUE);
    gw_stop(env).await;
}
