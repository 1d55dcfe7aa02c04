//! The upstream side: 502 when the app is down, 504 when it is slow, https upstreams with a
//! private CA, WebSocket upgrades only after the session check and ending with the session, streaming, and graceful
//! shutdown letting an in-flight request finish.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fake_idp::FakeIdp;
use common::{APP_HOST, OTHER_HOST, TestGateway};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;

fn public_app(id: &str, host: &str, port: u16, upstream: &str, extra: &str) -> String {
    format!(
        "[[app]]\nid = \"{id}\"\nhost = \"{host}:{port}\"\nupstream = \"{upstream}\"\nauth = \"none\"\n{extra}\n"
    )
}

#[tokio::test]
async fn app_down_gives_502_page_with_request_id() {
    // A port that was bound and released: nothing listens there.
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let gw = TestGateway::start("", |port| {
        public_app("down", OTHER_HOST, port, &format!("http://{dead}"), "")
    })
    .await;
    let r = gw
        .client()
        .get(gw.url(OTHER_HOST, "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 502);
    let rid = r.headers()["x-request-id"]
        .to_str()
        .expect("rid")
        .to_string();
    let body = r.text().await.expect("body");
    assert!(body.contains(&rid), "page shows the request id");
    assert!(
        !body.contains("127.0.0.1") && !body.contains("Connect"),
        "no internals on the page: {body}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn slow_app_gives_504() {
    // Accepts connections and never answers.
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let gw = TestGateway::start("upstream_response_timeout_secs = 1", |port| {
        public_app("slow", OTHER_HOST, port, &format!("http://{addr}"), "")
    })
    .await;
    let r = gw
        .client()
        .get(gw.url(OTHER_HOST, "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 504);
    assert!(r.text().await.expect("body").contains("took too long"));
    gw.stop().await;
}

#[tokio::test]
async fn https_upstream_with_private_ca() {
    // The upstream is a second gateway serving TLS with its own CA, in front of the echo app.
    let echo = common::start_echo().await;
    let inner = TestGateway::start("", |port| {
        public_app("inner", "localhost", port, &format!("http://{echo}"), "")
    })
    .await;
    let ca_path = inner.dir.path().join("inner-ca.pem");
    std::fs::write(&ca_path, &inner.pki.ca_pem).expect("write ca");
    let upstream = format!("https://localhost:{}", inner.port);
    let extra = format!("upstream_ca = \"{}\"", ca_path.display());
    let outer = TestGateway::start("", |port| {
        public_app("outer", OTHER_HOST, port, &upstream, &extra)
    })
    .await;
    let r = outer
        .client()
        .get(outer.url(OTHER_HOST, "/via-tls"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let json: serde_json::Value = r.json().await.expect("json");
    assert_eq!(json["path"], "/via-tls");

    // Without the CA the upstream certificate is not trusted: 502.
    let untrusted = TestGateway::start("", |port| {
        public_app("outer", OTHER_HOST, port, &upstream, "")
    })
    .await;
    let r = untrusted
        .client()
        .get(untrusted.url(OTHER_HOST, "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 502);
    for g in [outer, untrusted, inner] {
        g.stop().await;
    }
}

#[tokio::test]
async fn large_bodies_stream_both_ways() {
    let echo = common::start_echo().await;
    let gw = TestGateway::start("", |port| {
        public_app(
            "big",
            OTHER_HOST,
            port,
            &format!("http://{echo}"),
            "max_body_bytes = 67108864",
        )
    })
    .await;
    let body = vec![b'z'; 8 * 1024 * 1024];
    let r = gw
        .client()
        .post(gw.url(OTHER_HOST, "/upload"))
        .header("accept", "application/json")
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200);
    let json: serde_json::Value = r.json().await.expect("json");
    assert_eq!(json["body_bytes"], 8 * 1024 * 1024);
    gw.stop().await;
}

/// An upstream that proves streaming in both directions: `/download` sends its first chunk
/// and holds the last until told; `/upload` says when it has the first bytes of the body.
struct StreamingUpstream {
    addr: std::net::SocketAddr,
    release_download: Arc<tokio::sync::Notify>,
    upload_started: Arc<tokio::sync::Notify>,
}

async fn streaming_upstream() -> StreamingUpstream {
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use hyper::body::Frame;
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let release_download = Arc::new(tokio::sync::Notify::new());
    let upload_started = Arc::new(tokio::sync::Notify::new());
    let (release, started) = (release_download.clone(), upload_started.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = l.accept().await {
            let (release, started) = (release.clone(), started.clone());
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (release, started) = (release.clone(), started.clone());
                        async move {
                            let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(4);
                            if req.uri().path() == "/download" {
                                tokio::spawn(async move {
                                    let _ = tx
                                        .send(Ok(Frame::data(Bytes::from_static(b"first-chunk;"))))
                                        .await;
                                    release.notified().await;
                                    let _ = tx
                                        .send(Ok(Frame::data(Bytes::from_static(b"last-chunk"))))
                                        .await;
                                });
                            } else {
                                let mut body = req.into_body();
                                let mut total = 0usize;
                                while let Some(Ok(frame)) = body.frame().await {
                                    if let Some(d) = frame.data_ref() {
                                        if total == 0 && !d.is_empty() {
                                            started.notify_one();
                                        }
                                        total += d.len();
                                    }
                                }
                                let _ = tx
                                    .send(Ok(Frame::data(Bytes::from(total.to_string()))))
                                    .await;
                            }
                            streamed(rx)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    StreamingUpstream {
        addr,
        release_download,
        upload_started,
    }
}

type Chunk = Result<hyper::body::Frame<bytes::Bytes>, std::convert::Infallible>;
type Streamed = http_body_util::StreamBody<futures_util::stream::BoxStream<'static, Chunk>>;

/// A response whose body is whatever arrives on `rx`, as it arrives.
fn streamed(
    rx: tokio::sync::mpsc::Receiver<Chunk>,
) -> Result<http::Response<Streamed>, std::convert::Infallible> {
    use futures_util::StreamExt;
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    Ok(http::Response::new(http_body_util::StreamBody::new(
        stream.boxed(),
    )))
}

#[tokio::test]
async fn neither_direction_is_buffered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = streaming_upstream().await;
    let gw = TestGateway::start("", |port| {
        public_app(
            "stream",
            OTHER_HOST,
            port,
            &format!("http://{}", up.addr),
            "",
        )
    })
    .await;
    let wait = Duration::from_secs(5);

    // Download: the first chunk reaches the client while the upstream still holds the last.
    let mut s = gw.raw_tls(OTHER_HOST).await;
    let req = format!(
        "GET /download HTTP/1.1\r\nHost: {OTHER_HOST}:{}\r\nConnection: close\r\n\r\n",
        gw.port
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let first = tokio::time::timeout(wait, async {
        loop {
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed early");
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("first-chunk;") {
                break;
            }
        }
    })
    .await;
    assert!(
        first.is_ok(),
        "the first chunk was held back: {}",
        String::from_utf8_lossy(&seen)
    );
    assert!(!String::from_utf8_lossy(&seen).contains("last-chunk"));
    up.release_download.notify_one();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut seen)).await;
    assert!(String::from_utf8_lossy(&seen).contains("last-chunk"));

    // Upload: the upstream has the first bytes before the client sends the rest.
    let mut s = gw.raw_tls(OTHER_HOST).await;
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: {OTHER_HOST}:{}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n",
        gw.port
    );
    s.write_all(head.as_bytes()).await.expect("write head");
    s.flush().await.expect("flush");
    assert!(
        tokio::time::timeout(wait, up.upload_started.notified())
            .await
            .is_ok(),
        "the upstream saw nothing before the body ended: the gateway buffers uploads"
    );
    s.write_all(b"6\r\n world\r\n0\r\n\r\n")
        .await
        .expect("write rest");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("11"), "all 11 bytes arrived: {answer}");
    gw.stop().await;
}

async fn websocket_env() -> (TestGateway, FakeIdp) {
    common::with_fake_idp("", |port, echo| {
        common::app_toml("ws", APP_HOST, port, echo, "websocket = true")
            + &common::app_toml("nows", OTHER_HOST, port, echo, "")
    })
    .await
}

async fn ws_connect(
    gw: &TestGateway,
    host: &str,
    cookie: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    String,
> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("wss://{host}:{}/ws", gw.port)
        .into_client_request()
        .expect("request");
    if let Some(c) = cookie {
        req.headers_mut()
            .insert("cookie", c.parse().expect("cookie"));
    }
    let stream = gw.raw_tls(host).await;
    tokio_tungstenite::client_async(req, stream)
        .await
        .map(|(ws, _)| ws)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn websocket_upgrade_only_after_sign_in() {
    let (gw, _idp) = websocket_env().await;
    // No session: the handshake is refused (401), nothing reaches the app.
    let err = ws_connect(&gw, APP_HOST, None)
        .await
        .expect_err("refused without a session");
    assert!(err.contains("401"), "{err}");

    let b = gw.browser();
    let r = b
        .client
        .get(gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 200);
    let cookie = b.cookies_for(&gw.url(APP_HOST, "/"));
    let mut ws = ws_connect(&gw, APP_HOST, Some(&cookie))
        .await
        .expect("upgrade with a session");
    ws.send("hello through the gateway".into())
        .await
        .expect("send");
    let echoed = ws.next().await.expect("message").expect("frame");
    assert_eq!(
        echoed.into_text().expect("text").as_str(),
        "hello through the gateway"
    );

    // An app without `websocket = true` never gets the Upgrade header.
    let r = b
        .client
        .get(gw.url(OTHER_HOST, "/"))
        .send()
        .await
        .expect("sign in other host");
    assert_eq!(r.status(), 200);
    let cookie = b.cookies_for(&gw.url(OTHER_HOST, "/"));
    assert!(
        ws_connect(&gw, OTHER_HOST, Some(&cookie)).await.is_err(),
        "upgrade refused for a non-websocket app"
    );
    gw.stop().await;
}

/// A signed-in browser with an open, working tunnel to the WebSocket app.
async fn open_tunnel(
    gw: &TestGateway,
) -> (
    common::Browser,
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
) {
    let b = gw.browser();
    assert_eq!(
        common::status_of(&b.client, &gw.url(APP_HOST, "/")).await,
        200
    );
    let cookie = b.cookies_for(&gw.url(APP_HOST, "/"));
    let mut ws = ws_connect(gw, APP_HOST, Some(&cookie))
        .await
        .expect("upgrade with a session");
    ws.send("ping".into()).await.expect("send");
    let echoed = ws.next().await.expect("message").expect("frame");
    assert_eq!(echoed.into_text().expect("text").as_str(), "ping");
    (b, ws)
}

/// The tunnel is closed by the gateway within a few feed intervals: the next read ends.
async fn assert_closed(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    >,
    what: &str,
) {
    let deadline = Duration::from_secs(5);
    // The echo app sends nothing by itself: whatever the next read returns is the close.
    match tokio::time::timeout(deadline, ws.next()).await {
        Ok(None) | Ok(Some(Err(_))) => {}
        Ok(Some(Ok(m))) if m.is_close() => {}
        Ok(Some(Ok(m))) => panic!("{what}: the tunnel still echoes: {m:?}"),
        Err(_) => panic!("{what}: the tunnel is still open after {deadline:?}"),
    }
}

#[tokio::test]
async fn websockets_end_with_their_session() {
    let (gw, idp) = common::with_fake_idp("", |port, echo| {
        common::app_toml("ws", APP_HOST, port, echo, "websocket = true")
    })
    .await;
    let dir = &gw.gw.directory;
    let actor = borderless::directory::Actor::Cli;

    // Sign-out.
    let (b, mut ws) = open_tunnel(&gw).await;
    let r = b
        .manual(&gw)
        .post(gw.url(APP_HOST, "/.borderless/signout"))
        .send()
        .await
        .expect("sign out");
    assert!(
        r.status().is_redirection() || r.status() == 200,
        "{}",
        r.status()
    );
    assert_closed(&mut ws, "sign-out").await;

    // Disabled in the directory by another process: only the revocation feed tells us.
    let (_b, mut ws) = open_tunnel(&gw).await;
    let user = dir
        .user_by_identity(&idp.issuer, "user-1")
        .await
        .expect("directory")
        .expect("member")
        .id;
    dir.set_disabled(&actor, &user, true)
        .await
        .expect("disable");
    assert_closed(&mut ws, "disable").await;
    dir.set_disabled(&actor, &user, false)
        .await
        .expect("enable");
    // Re-enabling, like every change from another process, reaches the cache by the feed.
    tokio::time::sleep(2 * borderless::revocation_feed::POLL).await;

    // The user's expiry, set two seconds ahead, ends the tunnel at that moment.
    let (_b, mut ws) = open_tunnel(&gw).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    dir.set_expiry(&actor, &user, Some(now + 2))
        .await
        .expect("expiry");
    // Still open before the expiry.
    ws.send("before".into()).await.expect("send");
    let m = ws.next().await.expect("message").expect("frame");
    assert_eq!(m.into_text().expect("text").as_str(), "before");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_closed(&mut ws, "user expiry").await;
    dir.set_expiry(&actor, &user, None)
        .await
        .expect("clear expiry");
    tokio::time::sleep(2 * borderless::revocation_feed::POLL).await;

    // Revoked (the admin API and CLI do this): the same.
    let (_b, mut ws) = open_tunnel(&gw).await;
    dir.remove_user(&actor, &user).await.expect("remove");
    assert_closed(&mut ws, "removal").await;
    gw.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    // An upstream that tells the test when a request arrived, then answers a bit later.
    let arrived = Arc::new(tokio::sync::Notify::new());
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let signal = arrived.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = l.accept().await {
            let signal = signal.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                signal.notify_one();
                tokio::time::sleep(Duration::from_millis(500)).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nfinished")
                    .await;
            });
        }
    });
    let gw = TestGateway::start("", |port| {
        public_app("slow", OTHER_HOST, port, &format!("http://{addr}"), "")
    })
    .await;
    let client = gw.client();
    let url = gw.url(OTHER_HOST, "/");
    let addr_gw = gw.addr();
    let in_flight =
        tokio::spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) });
    arrived.notified().await;
    let stopping = tokio::spawn(gw.stop());
    // New connections are refused once the listener is closed.
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr_gw).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "listener still accepting after shutdown began");
    assert!(
        !in_flight.is_finished(),
        "new connections must be refused while the old request is still running"
    );
    let status = in_flight
        .await
        .expect("join")
        .expect("in-flight request completed");
    assert_eq!(status, 200);
    stopping.await.expect("shutdown completes");
}

#[tokio::test]
async fn host_header_is_the_upstreams_unless_preserved() {
    let echo = common::start_echo().await;
    let gw = TestGateway::start("", |port| {
        public_app(
            "kept",
            OTHER_HOST,
            port,
            &format!("http://{echo}"),
            "preserve_host = true",
        ) + &public_app("plain", APP_HOST, port, &format!("http://{echo}"), "")
    })
    .await;
    let client = gw.client();
    for (host, expected) in [
        (OTHER_HOST, format!("{OTHER_HOST}:{}", gw.port)),
        (APP_HOST, echo.to_string()),
    ] {
        let r = client
            .get(gw.url(host, "/"))
            .header("accept", "application/json")
            .send()
            .await
            .expect("request");
        assert_eq!(
            r.version(),
            http::Version::HTTP_2,
            "h2 requests carry no Host header of their own"
        );
        let json: serde_json::Value = r.json().await.expect("json");
        assert_eq!(
            common::echoed(&json, "host"),
            vec![expected.as_str()],
            "{host}"
        );
    }
    gw.stop().await;
}
