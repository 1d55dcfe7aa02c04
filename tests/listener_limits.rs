//! Listener limits, each provoked for real: a half-sent header is cut off, idle keep-alive
//! connections are closed, oversized heads get 431, oversized bodies 413 (declared and
//! streamed), and connections past the limit are refused. Returning TLS clients resume.

mod common;

use std::time::{Duration, Instant};

use common::{OTHER_HOST, TestGateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(limits: &str) -> TestGateway {
    let echo = common::start_echo().await;
    TestGateway::start(limits, |port| {
        format!(
            "[[app]]\nid = \"public\"\nhost = \"{OTHER_HOST}:{port}\"\nupstream = \"http://{echo}\"\nauth = \"none\"\nmax_body_bytes = 1024\n"
        )
    })
    .await
}

/// Reads until the gateway closes the connection; returns what it sent and how long it took.
async fn read_until_closed(s: &mut (impl AsyncReadExt + Unpin)) -> (String, Duration) {
    let start = Instant::now();
    let mut out = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut out)).await;
    assert!(r.is_ok(), "the gateway never closed the connection");
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

#[tokio::test]
async fn half_sent_header_is_cut_off_by_the_timeout() {
    let gw = start("header_read_timeout_secs = 1\nidle_timeout_secs = 30").await;
    let mut s = gw.raw_tls(OTHER_HOST).await;
    s.write_all(
        format!(
            "GET / HTTP/1.1\r\nHost: {OTHER_HOST}:{}\r\nX-Slow: ",
            gw.port
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let (answer, took) = read_until_closed(&mut s).await;
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed() {
    let gw = start("idle_timeout_secs = 1").await;
    let mut s = gw.raw_tls(OTHER_HOST).await;
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {OTHER_HOST}:{}\r\n\r\n", gw.port).as_bytes())
        .await
        .expect("write");
    let (answer, took) = read_until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        took < Duration::from_secs(5),
        "idle connection lived {took:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn oversized_header_gets_431() {
    let gw = start("max_header_bytes = 8192").await;
    let big = "a".repeat(20_000);
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {OTHER_HOST}:{}\r\nX-Big: {big}\r\n\r\n",
        gw.port
    );
    let resp = gw.raw_exchange(OTHER_HOST, &req).await;
    assert!(
        resp.starts_with("HTTP/1.1 431"),
        "{}",
        &resp[..resp.len().min(200)]
    );
    gw.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413_declared_or_streamed() {
    let gw = start("").await;
    let client = gw.client();
    let small = client
        .post(gw.url(OTHER_HOST, "/"))
        .body(vec![b'x'; 1000])
        .send()
        .await
        .expect("small");
    assert_eq!(small.status(), 200);
    let big = client
        .post(gw.url(OTHER_HOST, "/"))
        .body(vec![b'x'; 5000])
        .send()
        .await
        .expect("big");
    assert_eq!(big.status(), 413);
    assert!(big.text().await.expect("body").contains("request id"));
    // A declared length over the limit is refused before any of the body is read: the
    // answer comes although the client sends none of it.
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {OTHER_HOST}:{}\r\nContent-Length: 5000\r\n\r\n",
        gw.port
    );
    let resp = gw.raw_exchange(OTHER_HOST, &req).await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");

    // Chunked: no length up front, the limit trips while streaming.
    let chunk = "x".repeat(600);
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {OTHER_HOST}:{}\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n",
        gw.port
    );
    let resp = gw.raw_exchange(OTHER_HOST, &req).await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    gw.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused() {
    let gw = start("max_connections = 2").await;
    let a = gw.raw_tls(OTHER_HOST).await;
    let b = gw.raw_tls(OTHER_HOST).await;
    // The third TCP connection is accepted and closed at once: the handshake fails.
    let third = tokio::net::TcpStream::connect(gw.addr())
        .await
        .expect("tcp");
    let mut third = third;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("closed promptly");
    assert!(matches!(n, Ok(0) | Err(_)), "third connection was served");
    drop((a, b));
    // Once the others are gone, new connections are served again.
    let mut ok = false;
    for _ in 0..50 {
        let r = gw.client().get(gw.url(OTHER_HOST, "/")).send().await;
        if r.is_ok_and(|r| r.status() == 200) {
            ok = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "connections are accepted again after the others closed");
    gw.stop().await;
}

#[tokio::test]
async fn renewed_certificates_are_served_after_a_reload_and_broken_ones_refused() {
    let gw = start("").await;
    let served = |s: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>| {
        s.get_ref().1.peer_certificates().expect("peer certs")[0]
            .as_ref()
            .to_vec()
    };
    let before = served(&gw.raw_tls(OTHER_HOST).await);

    let renewed = gw.pki.issue_leaf();
    assert_ne!(before, renewed);
    borderless::reload(&gw.gw, &gw.config_path).expect("reload");
    assert_eq!(
        served(&gw.raw_tls(OTHER_HOST).await),
        renewed,
        "new connections get the renewed certificate"
    );

    // A key that does not match the certificate: the reload is refused, the old pair stays.
    let good_key = std::fs::read(&gw.pki.key_path).expect("key");
    gw.pki.issue_leaf();
    std::fs::write(&gw.pki.key_path, &good_key).expect("mismatched key");
    let err = borderless::reload(&gw.gw, &gw.config_path).expect_err("mismatch refused");
    assert!(format!("{err:#}").contains("do not match"), "{err:#}");
    assert_eq!(served(&gw.raw_tls(OTHER_HOST).await), renewed);
    gw.stop().await;
}

/// One request on `s` and its whole answer; reading it also takes in the session tickets
/// a TLS 1.3 server sends after the handshake.
async fn one_request(s: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> String {
    let req = format!(
        "GET /.borderless/health HTTP/1.1\r\nHost: {OTHER_HOST}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("write");
    read_until_closed(s).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returning_clients_resume_tls_even_after_hundreds_of_others() {
    use rustls::HandshakeKind::{Full, Resumed};
    let gw = start("").await;
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        let returning = gw.tls_client(versions);
        let mut first = gw.raw_tls_with(OTHER_HOST, returning.clone()).await;
        assert_eq!(first.get_ref().1.handshake_kind(), Some(Full));
        assert!(one_request(&mut first).await.starts_with("HTTP/1.1 200"));

        // Many other clients in between: a server that keeps resumption state per client
        // in a small cache (rustls' default holds 256) has forgotten the first by now.
        for _ in 0..300 {
            let mut s = gw.raw_tls_with(OTHER_HOST, gw.tls_client(versions)).await;
            one_request(&mut s).await;
        }

        let mut again = gw.raw_tls_with(OTHER_HOST, returning).await;
        assert_eq!(
            again.get_ref().1.handshake_kind(),
            Some(Resumed),
            "{:?}: the returning client had to repeat the full handshake",
            versions[0].version
        );
        assert!(one_request(&mut again).await.starts_with("HTTP/1.1 200"));
    }
    gw.stop().await;
}
