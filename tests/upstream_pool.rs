//! Kept-alive upstream connections: one connection serves every kind of response in turn, a
//! connection the app closed is replaced without the client seeing an error, a connection
//! the app wants closed is not reused, a response the client abandoned half-read does not
//! leave its connection in the pool, and neither does one whose framing is in doubt.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{OTHER_HOST, TestGateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn public_app(port: u16, upstream: std::net::SocketAddr) -> String {
    format!(
        "[[app]]\nid = \"pool\"\nhost = \"{OTHER_HOST}:{port}\"\nupstream = \"http://{upstream}\"\nauth = \"none\"\n"
    )
}

/// An HTTP/1.1 app (hyper's server) that counts the connections it accepts. Paths choose the
/// response: `/sized` (Content-Length), `/chunked`, `/empty` (204), `/close` (asks for the
/// connection to be closed), `/big` (1 MB, for clients that stop reading).
async fn counting_app() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full, StreamBody};
    use hyper::body::Frame;
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        type Chunk = Result<Frame<Bytes>, std::convert::Infallible>;
                        let mut r = http::Response::builder();
                        let body = match req.uri().path() {
                            "/chunked" => {
                                let parts: Vec<Chunk> = vec![
                                    Ok(Frame::data(Bytes::from_static(b"chunk-one;"))),
                                    Ok(Frame::data(Bytes::from_static(b"chunk-two"))),
                                ];
                                StreamBody::new(futures_util::stream::iter(parts)).boxed()
                            }
                            "/empty" => {
                                r = r.status(204);
                                Full::new(Bytes::new()).boxed()
                            }
                            "/close" => {
                                r = r.header("connection", "close");
                                Full::new(Bytes::from_static(b"closing")).boxed()
                            }
                            "/big" => Full::new(Bytes::from(vec![b'x'; 1 << 20])).boxed(),
                            _ => Full::new(Bytes::from_static(b"sized")).boxed(),
                        };
                        r.body(body)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn one_connection_serves_every_kind_of_response_in_turn() {
    let (app, accepted) = counting_app().await;
    let gw = TestGateway::start("", |port| public_app(port, app)).await;
    let client = gw.client();
    for round in 0..5 {
        for (path, status, body) in [
            ("/sized", 200, "sized"),
            ("/chunked", 200, "chunk-one;chunk-two"),
            ("/empty", 204, ""),
        ] {
            let r = client
                .get(gw.url(OTHER_HOST, path))
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), status, "{path} in round {round}");
            assert_eq!(r.text().await.expect("body"), body, "{path}");
        }
        let head = client
            .head(gw.url(OTHER_HOST, "/sized"))
            .send()
            .await
            .expect("HEAD");
        assert_eq!(head.status(), 200);
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "20 requests one after the other share one kept-alive upstream connection"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_connection_the_app_asks_to_close_is_not_reused() {
    let (app, accepted) = counting_app().await;
    let gw = TestGateway::start("", |port| public_app(port, app)).await;
    let client = gw.client();
    for _ in 0..3 {
        let r = client
            .get(gw.url(OTHER_HOST, "/close"))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.expect("body"), "closing");
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        3,
        "each `Connection: close` answer ends its connection"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_response_abandoned_half_read_does_not_leave_its_connection_for_the_next() {
    let (app, accepted) = counting_app().await;
    let gw = TestGateway::start("", |port| public_app(port, app)).await;
    // HTTP/1.1 by hand, so the connection can be dropped after the head of a 1 MB body.
    let mut tls = gw.raw_tls(OTHER_HOST).await;
    tls.write_all(
        format!(
            "GET /big HTTP/1.1\r\nHost: {OTHER_HOST}:{}\r\n\r\n",
            gw.port
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let mut head = [0u8; 64];
    let n = tls.read(&mut head).await.expect("read");
    assert!(head[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &head[..n]);
    drop(tls);
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The gateway runs two workers, each with its own pool, and either may take a new
    // connection: several tries make it all but certain one lands where the body was left.
    for i in 0..8 {
        let answer = gw
            .raw_exchange(
                OTHER_HOST,
                &format!(
                    "GET /sized HTTP/1.1\r\nHost: {OTHER_HOST}:{}\r\nConnection: close\r\n\r\n",
                    gw.port
                ),
            )
            .await;
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("\r\n\r\nsized"),
            "request {i} got a clean answer: {answer:.200}"
        );
    }
    assert!(
        accepted.load(Ordering::SeqCst) <= 3,
        "the half-read connection was closed; each worker then keeps one"
    );
    gw.stop().await;
}

/// An app that answers each request head on a connection with `answer` (raw bytes),
/// counting the connections it accepts. With `closes_after`, it closes each connection after
/// that many answers without saying so (as apps do when their keep-alive timer runs out);
/// without, it keeps them open.
async fn raw_app(
    answer: &'static [u8],
    closes_after: Option<usize>,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                let mut answered = 0;
                loop {
                    while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        got.drain(..end + 4);
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                        answered += 1;
                        if closes_after == Some(answered) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            return;
                        }
                    }
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn a_kept_alive_connection_the_app_closed_is_replaced_without_an_error() {
    let (app, accepted) = raw_app(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        Some(1),
    )
    .await;
    let gw = TestGateway::start("", |port| public_app(port, app)).await;
    let client = gw.client();
    for i in 0..4 {
        let r = client
            .get(gw.url(OTHER_HOST, "/"))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "request {i}");
        assert_eq!(r.text().await.expect("body"), "hello");
        // Long enough for the app's close to arrive before the next request.
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
    gw.stop().await;
}

/// Answers whose framing is in doubt must not leave their connection for the next request:
/// what the app sent past the body it declared would be read as the next answer (response
/// splitting through the pool).
#[tokio::test]
async fn an_answer_with_doubtful_framing_never_shares_its_connection() {
    for (answer, body) in [
        // Both lengths: chunked wins, the connection is not reused.
        (
            &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"[..],
            "ok",
        ),
        // More than the declared length: the rest would pass as the next answer.
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged",
            "ok",
        ),
    ] {
        let (app, accepted) = raw_app(answer, None).await;
        let gw = TestGateway::start("", |port| public_app(port, app)).await;
        let client = gw.client();
        for i in 0..3 {
            let r = client
                .get(gw.url(OTHER_HOST, "/"))
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), 200, "request {i}");
            assert_eq!(r.text().await.expect("body"), body, "request {i}");
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            3,
            "{}",
            String::from_utf8_lossy(answer)
        );
        gw.stop().await;
    }
}

/// Lengths that disagree, or a broken head, are the app's fault: a 502 page with a request
/// id, nothing of the answer passed on.
#[tokio::test]
async fn an_answer_with_conflicting_lengths_is_a_bad_gateway() {
    for answer in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nhello"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nX-Bad Name: 1\r\n\r\n",
    ] {
        let (app, _) = raw_app(answer, None).await;
        let gw = TestGateway::start("", |port| public_app(port, app)).await;
        let r = gw
            .client()
            .get(gw.url(OTHER_HOST, "/"))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 502, "{}", String::from_utf8_lossy(answer));
        assert!(r.headers().contains_key("x-request-id"));
        let text = r.text().await.expect("body");
        assert!(!text.contains("hello"), "{text}");
        gw.stop().await;
    }
}
