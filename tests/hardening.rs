//! Edge defences of the data plane, each sent for real: CONNECT and TRACE, spoofable
//! forwarding headers, an upstream that tries to set the gateway's cookies, multi-valued
//! claims that contain the separator, and the security headers on every response.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use common::{APP_HOST, LOGIN_HOST, OTHER_HOST, TestGateway, echoed};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// An upstream that answers every request with these `Set-Cookie` headers.
async fn cookie_setting_upstream(cookies: &'static [&'static str]) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = l.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(move |_req| async move {
                    let mut r = http::Response::new(Full::new(Bytes::from_static(b"ok")));
                    for c in cookies {
                        r.headers_mut()
                            .append(http::header::SET_COOKIE, http::HeaderValue::from_static(c));
                    }
                    Ok::<_, Infallible>(r)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

async fn start() -> (TestGateway, common::fake_idp::FakeIdp) {
    let cookies = cookie_setting_upstream(&[
        "app_pref=dark; Path=/",
        "__Host-borderless_session=planted; Path=/; Secure",
        "borderless_session=planted",
        "__Host-borderless_session_flow=planted; Path=/; Secure",
        "__Secure-borderless_session_bind=planted; Secure",
    ])
    .await;
    common::with_fake_idp("", move |port, echo| {
        // `[idp.claims]` right after the provider's table extends it.
        format!(
            "[idp.claims]\nroles = \"roles\"\n{}{}",
            common::app_toml(
                "hr",
                APP_HOST,
                port,
                echo,
                "[app.headers]\nX-Remote-User = \"email\"\nX-Remote-Roles = \"roles\"",
            ),
            common::app_toml("cookies", OTHER_HOST, port, cookies, "auth = \"none\""),
        )
    })
    .await
}

#[tokio::test]
async fn connect_and_trace_are_refused() {
    let (gw, _idp) = start().await;
    for (method, target) in [
        ("CONNECT", format!("{APP_HOST}:{}", gw.port)),
        ("TRACE", "/".to_string()),
    ] {
        let req = format!(
            "{method} {target} HTTP/1.1\r\nHost: {APP_HOST}:{}\r\nCookie: a=b\r\n\r\n",
            gw.port
        );
        let answer = gw.raw_exchange(APP_HOST, &req).await;
        assert!(answer.starts_with("HTTP/1.1 405"), "{method}: {answer}");
        assert!(
            !answer.contains("Cookie: a=b"),
            "{method} reflected: {answer}"
        );
    }
}

#[tokio::test]
async fn spoofable_forwarding_headers_never_reach_the_app() {
    let (gw, _idp) = start().await;
    let client = gw.json_browser().client;
    let spoofed = [
        "forwarded",
        "x-real-ip",
        "x-original-url",
        "x-rewrite-url",
        "x-forwarded-prefix",
        "x-forwarded-uri",
        "x-forwarded-server",
        "x-forwarded-port",
        "true-client-ip",
        "x-client-ip",
        "cf-connecting-ip",
        "x_original_url",
    ];
    let mut req = client.get(gw.url(APP_HOST, "/"));
    for h in spoofed {
        req = req.header(h, "/admin");
    }
    let r = req.send().await.expect("request");
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.expect("echo");
    for h in spoofed {
        let canonical = h.replace('_', "-");
        assert!(
            echoed(&echo, &canonical).is_empty() && echoed(&echo, h).is_empty(),
            "{h} reached the app: {echo}"
        );
    }
    // Ours are still there, computed by the gateway.
    assert_eq!(echoed(&echo, "x-forwarded-for"), vec!["127.0.0.1"]);
}

#[tokio::test]
async fn an_upstream_cannot_set_the_gateway_cookies() {
    let (gw, _idp) = start().await;
    let r = gw
        .manual_client()
        .get(gw.url(OTHER_HOST, "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let set: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(set, vec!["app_pref=dark; Path=/"]);
}

#[tokio::test]
async fn a_claim_value_holding_the_separator_cannot_pass_as_two() {
    let (gw, idp) = start().await;
    idp.set(|s| {
        s.mutate = Box::new(|c| {
            c.insert("roles".into(), serde_json::json!(["admins,finance", "50%"]));
        })
    });
    let r = gw
        .json_browser()
        .client
        .get(gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.expect("echo");
    assert_eq!(
        echoed(&echo, "x-remote-roles"),
        vec!["admins%2Cfinance,50%25"]
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (gw, _idp) = start().await;
    let client = gw.manual_client();
    for url in [
        gw.url(LOGIN_HOST, "/.borderless/signed-out"),
        gw.url(LOGIN_HOST, "/no-such-app"),
        gw.url(APP_HOST, "/"),
        gw.url(OTHER_HOST, "/"),
    ] {
        let r = client.get(&url).send().await.expect("request");
        let h = r.headers();
        assert_eq!(
            h.get("strict-transport-security")
                .and_then(|v| v.to_str().ok()),
            Some("max-age=31536000"),
            "{url}"
        );
        if !url.starts_with(&gw.url(OTHER_HOST, "")) {
            // The gateway's own answers (pages, redirects), not the app's.
            assert_eq!(
                h.get("x-content-type-options")
                    .and_then(|v| v.to_str().ok()),
                Some("nosniff"),
                "{url}"
            );
            assert_eq!(
                h.get("referrer-policy").and_then(|v| v.to_str().ok()),
                Some("no-referrer"),
                "{url}"
            );
        }
    }
}

/// A script in an app (an XSS in a legacy app) runs on the app's host with the user's
/// cookies for that host: nothing that changes state may answer there.
#[tokio::test]
async fn app_hosts_serve_no_admin_api_and_no_consent() {
    let (gw, _idp) = start().await;
    let b = gw.json_browser();
    let r = b
        .client
        .get(gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 200, "signed in on the app host");
    let app_origin = gw.url(APP_HOST, "");
    let manual = b.manual(&gw);
    let invite = manual
        .post(gw.url(APP_HOST, "/.borderless/api/v1/invitations"))
        .header("origin", &app_origin)
        .header("sec-fetch-site", "same-origin")
        .json(&serde_json::json!({
            "invitedUserEmailAddress": "friend@partner.test",
            "inviteRedirectUrl": gw.url(APP_HOST, "/"),
        }))
        .send()
        .await
        .expect("api");
    assert_eq!(invite.status(), 404, "admin API on an app host");
    let openapi = manual
        .get(gw.url(APP_HOST, "/.borderless/api/v1/openapi.json"))
        .send()
        .await
        .expect("openapi");
    assert_eq!(openapi.status(), 404);
    let consent = manual
        .post(gw.url(APP_HOST, "/.borderless/consent"))
        .header("origin", &app_origin)
        .form(&[("decision", "accept")])
        .send()
        .await
        .expect("consent");
    assert_eq!(consent.status(), 404, "consent on an app host");
    // The login host still serves the API document.
    let r = manual
        .get(gw.url(LOGIN_HOST, "/.borderless/api/v1/openapi.json"))
        .send()
        .await
        .expect("openapi");
    assert_eq!(r.status(), 200);
}
