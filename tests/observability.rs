//! Health, Prometheus metrics, request ids and the error pages' shape.

mod common;

use common::fake_idp::FakeIdp;
use common::{APP_HOST, LOGIN_HOST, TestGateway};

async fn start(metrics_allow: &str) -> (TestGateway, FakeIdp) {
    let (gw, idp) = common::with_fake_idp("", |port, echo| {
        common::app_toml("hr", APP_HOST, port, echo, "")
    })
    .await;
    if !metrics_allow.is_empty() {
        // Rewrite metrics_allow through a reload, as an operator would.
        let text = std::fs::read_to_string(&gw.config_path).expect("config");
        let text = text.replacen(
            "[gateway]\n",
            &format!("[gateway]\nmetrics_allow = [\"{metrics_allow}\"]\n"),
            1,
        );
        std::fs::write(&gw.config_path, text).expect("write");
        borderless::reload(&gw.gw, &gw.config_path).expect("reload");
    }
    (gw, idp)
}

#[tokio::test]
async fn health_metrics_and_request_ids() {
    let (gw, _idp) = start("").await;
    let client = gw.client();
    let h = client
        .get(gw.url(APP_HOST, "/.borderless/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(h.status(), 200);
    let rid = h.headers()["x-request-id"]
        .to_str()
        .expect("rid")
        .to_string();
    assert_eq!(rid.len(), 24);
    assert_eq!(h.text().await.expect("body"), "ok\n");

    // Sign in (one success), make requests, then read the metrics.
    assert_eq!(
        common::status_of(&client, &gw.url(APP_HOST, "/")).await,
        200
    );
    for _ in 0..3 {
        assert_eq!(
            common::status_of(&client, &gw.url(APP_HOST, "/x")).await,
            200
        );
    }
    let m = client
        .get(gw.url(LOGIN_HOST, "/.borderless/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(m.status(), 200);
    let text = m.text().await.expect("text");
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .map(str::to_string)
    };
    let hr_ok =
        line("borderless_requests_total{app=\"hr\",status=\"200\"}").expect("requests metric");
    let n: f64 = hr_ok
        .rsplit(' ')
        .next()
        .expect("value")
        .parse()
        .expect("number");
    assert!(n >= 4.0, "{hr_ok}");
    assert!(
        line("borderless_signins_total{idp=\"fake\",result=\"success\"} 1").is_some(),
        "{text}"
    );
    assert!(line("borderless_request_duration_seconds_bucket{").is_some());
    let ratio = line("borderless_session_cache_hit_ratio ").expect("ratio");
    let ratio: f64 = ratio.rsplit(' ').next().expect("v").parse().expect("f64");
    assert!(ratio > 0.5, "repeat requests hit the cache: {ratio}");
    gw.stop().await;
}

#[tokio::test]
async fn metrics_are_hidden_from_peers_outside_metrics_allow() {
    let (gw, _idp) = start("10.0.0.0/8").await;
    let r = gw
        .client()
        .get(gw.url(LOGIN_HOST, "/.borderless/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status(), 404);
    gw.stop().await;
}

#[tokio::test]
async fn error_pages_are_plain_html_with_the_request_id() {
    let (gw, _idp) = start("").await;
    let r = gw
        .client()
        .get(gw.url(LOGIN_HOST, "/.borderless/nope"))
        .send()
        .await
        .expect("404");
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("default-src 'none'")
    );
    let rid = r.headers()["x-request-id"]
        .to_str()
        .expect("rid")
        .to_string();
    let body = r.text().await.expect("body");
    assert!(body.contains(&rid) && body.contains("Not found"), "{body}");
    // A sign-in failure page does not leak the provider's error text.
    let r = gw
        .client()
        .get(gw.url(
            LOGIN_HOST,
            "/.borderless/callback/fake?state=x&code=y&error_description=%3Cscript%3E",
        ))
        .send()
        .await
        .expect("callback");
    assert_eq!(r.status(), 400);
    let body = r.text().await.expect("body");
    assert!(
        !body.contains("<script>") && !body.contains("flow"),
        "{body}"
    );
    gw.stop().await;
}
