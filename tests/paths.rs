//! Path confusion, sent for real over raw TLS (HTTP client libraries normalise paths before
//! sending, which would hide the attack). An open app lives at `/pub/` in front of an
//! upstream whose base path is `/base/`; a protected app owns the rest of the host. Every
//! payload is either refused with 400 or reaches the upstream under `/base/`.

mod common;

use common::{APP_HOST, TestGateway};

async fn start() -> TestGateway {
    let (gw, _idp) = common::with_fake_idp("", |port, echo| {
        format!(
            r#"[[app]]
id = "open"
host = "{APP_HOST}:{port}"
path_prefix = "/pub/"
upstream = "http://{echo}/base/"
auth = "none"

{}"#,
            common::app_toml("private", APP_HOST, port, echo, "")
        )
    })
    .await;
    gw
}

/// The status line and, for a 200, the path the upstream echoed.
async fn send(gw: &TestGateway, target: &str) -> (u16, String, String) {
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: {APP_HOST}:{}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        gw.port
    );
    let answer = gw.raw_exchange(APP_HOST, &req).await;
    let status: u16 = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{target}: no status in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    let echoed = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["path"].as_str().map(str::to_string))
        .unwrap_or_default();
    (status, echoed, body)
}

#[tokio::test]
async fn confusing_paths_are_refused_before_routing() {
    let gw = start().await;
    let payloads = [
        "/pub/../private",
        "/pub/./x",
        "/pub/%2e%2e/private",
        "/pub/%2E%2E/private",
        "/pub/.%2e/private",
        "/pub/%2e./private",
        "/pub/%2e",
        "/pub/..;/private",
        "/pub/..;jsessionid=1/private",
        "/pub/.;/x",
        "/pub/..%3b/private",
        "/pub/..%2fprivate",
        "/pub/%2f%2e%2e%2fprivate",
        "/pub/..%5cprivate",
        "/pub/..\\private",
        "/pub/%5c..%5cprivate",
        "/pub/x%00.html",
        "/pub/x%0d%0aSet-Cookie:%20a=b",
        "/pub/%c0%ae%c0%ae/private",
        "/pub/%e0%80%ae%e0%80%ae/private",
        "/pub/%c0%af",
        "/pub/%252e%252e/private",
        "/pub/%252fprivate",
        "/pub/%25252e%25252e/private",
        "/pub/%ef%bc%8e%ef%bc%8e/private",
        "/pub/.. /private",
        "/pub/%2e%2e%20/private",
        "/pub/%zz",
        "/pub/%2",
        "/pub;x/../private",
        "/pub;x/secret",
    ];
    assert!(payloads.len() >= 20);
    for p in payloads {
        let (status, echoed, body) = send(&gw, p).await;
        // httparse itself refuses some raw bytes (a raw space); that is a 400 too.
        assert_eq!(status, 400, "{p} reached {echoed:?}: {body}");
        assert!(
            echoed.is_empty(),
            "{p}: the upstream answered with {echoed}"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn ordinary_paths_reach_the_upstream_under_its_base_path() {
    let gw = start().await;
    for (sent, received) in [
        ("/pub/", "/base/"),
        ("/pub", "/base/"),
        ("/pub/a/b.txt?x=..%2f", "/base/a/b.txt?x=..%2f"),
        ("/pub//a///b", "/base/a/b"),
        ("/pub/file%20name", "/base/file%20name"),
        ("/pub/100%25", "/base/100%25"),
        (
            "/pub/page.jsp;jsessionid=ABC",
            "/base/page.jsp;jsessionid=ABC",
        ),
        ("/pub/...", "/base/..."),
    ] {
        let (status, echoed, body) = send(&gw, sent).await;
        assert_eq!(status, 200, "{sent}: {body}");
        assert_eq!(echoed, received, "{sent}");
    }
    // `//pub/x` is `/pub/x` once merged: routed to the open app, not the private one.
    let (status, echoed, _) = send(&gw, "//pub/x").await;
    assert_eq!((status, echoed.as_str()), (200, "/base/x"));
    gw.stop().await;
}
