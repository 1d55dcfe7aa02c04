//! The client that talks to apps: http or https (system roots plus an optional per-app CA),
//! HTTP/1.1 with kept-alive connections, bodies streamed both ways, connect and response
//! timeouts, WebSocket upgrades.
//!
//! The exchange is written for the one thing a gateway does with an app: pass a request on
//! and stream the answer back. The request's own task writes the head (`head`), streams the
//! body while it watches for the answer, parses the answer's head with httparse, and hands
//! the connection to the response body (`body`), which reads the socket as the client takes
//! the bytes and puts the connection back in a per-thread pool (`pool`) the moment the last
//! byte is taken. hyper's client did the same through a dispatcher, a request channel and a
//! callback per exchange; without them a proxied request costs about a sixth fewer
//! instructions (docs/benchmarks.md). Parsing stays httparse's; framing follows RFC 9112
//! §6.3, and a connection whose framing is in doubt is never reused.

mod body;
mod conn;
mod head;
mod pool;

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use http::{Method, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::AppConfig;
use crate::error::GatewayError;
use crate::response::{Body, BoxError};
use body::{RequestWriter, ResponseBody, WriteError};
pub use conn::Switched;
use conn::{Conn, Stream};
use head::{Head, ResponseFraming};
use pool::Pool;

/// Idle connections kept per app and worker thread, and for how long.
const MAX_IDLE_PER_THREAD: usize = 256;
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

pub struct Upstream {
    /// Host (a name, or an address without brackets) and port the app listens on.
    host: String,
    port: u16,
    /// For an https app: the TLS client and the name its certificate must carry.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    pool: Arc<Pool>,
    connect_timeout: Duration,
    response_timeout: Duration,
}

impl Upstream {
    pub fn new(
        app: &AppConfig,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let url = &app.upstream;
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => anyhow::bail!("app {}: upstream {url} has no host", app.id),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| anyhow::anyhow!("app {}: upstream {url} has no port", app.id))?;
        let tls = match url.scheme() {
            "https" => {
                let mut config = crate::tls_client::client_config(app.upstream_ca.as_deref())?;
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                let name = ServerName::try_from(host.clone())
                    .map_err(|e| anyhow::anyhow!("app {}: upstream host {host}: {e}", app.id))?;
                Some((TlsConnector::from(Arc::new(config)), name))
            }
            _ => None,
        };
        Ok(Self {
            host,
            port,
            tls,
            pool: Arc::new(Pool::new(MAX_IDLE_PER_THREAD, IDLE_TIMEOUT)),
            connect_timeout,
            response_timeout,
        })
    }

    /// Sends the request (its URI in origin form) and returns the app's response with a
    /// streaming body. The response timeout covers connecting and waiting for the head.
    pub async fn send(&self, req: Request<Body>) -> Result<Response<Body>, GatewayError> {
        // Boxed: inline, the exchange's state would be copied with every HTTP/2 stream's task.
        let exchange = Box::pin(self.exchange(req));
        match tokio::time::timeout(self.response_timeout, exchange).await {
            Err(_) => Err(GatewayError::GatewayTimeout),
            Ok(r) => r,
        }
    }

    async fn exchange(&self, req: Request<Body>) -> Result<Response<Body>, GatewayError> {
        let (parts, body) = req.into_parts();
        let framing = head::request_framing(
            &parts.method,
            body.size_hint().exact(),
            body.is_end_stream(),
        );
        let mut encoded = BytesMut::new();
        head::encode_request(&parts, framing, &mut encoded);
        let mut writer = RequestWriter::new(encoded.freeze(), body, framing);
        let mut pooled = poll_fn(|cx| Poll::Ready(self.pool.checkout(cx))).await;
        loop {
            let reused = pooled.is_some();
            let mut conn = match pooled.take() {
                Some(c) => c,
                // Boxed: dialing holds a TLS client state that reused connections never need.
                None => Box::pin(self.connect()).await?,
            };
            let mut sent = false;
            let answer =
                poll_fn(|cx| poll_answer(&mut conn, &mut writer, &mut sent, &parts.method, cx))
                    .await;
            match answer {
                Ok(head) => return Ok(self.hand_over(head, conn, sent)),
                // A kept-alive connection the app closed before the request reached it:
                // nothing of the body was taken, so it is safe to send again on a new one.
                Err(Failure::Unsent(_)) if reused => writer.restart(),
                Err(Failure::Unsent(e)) | Err(Failure::Io(e)) => return Err(classify(&e)),
                Err(Failure::Body(e)) => return Err(classify(e.as_ref())),
                Err(Failure::Gateway(e)) => return Err(e),
            }
        }
    }

    async fn connect(&self) -> Result<Conn, GatewayError> {
        let dial = TcpStream::connect((self.host.as_str(), self.port));
        let tcp = match tokio::time::timeout(self.connect_timeout, dial).await {
            Err(_) => return Err(GatewayError::GatewayTimeout),
            Ok(r) => r.map_err(|e| classify(&e))?,
        };
        tcp.set_nodelay(true).map_err(|e| classify(&e))?;
        let io = match &self.tls {
            None => Stream::Plain(tcp),
            Some((connector, name)) => Stream::Tls(Box::new(
                connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| classify(&e))?,
            )),
        };
        Ok(Conn::new(io))
    }

    /// The response, with the connection travelling in its body (or back in the pool).
    fn hand_over(&self, head: Head, conn: Conn, sent: bool) -> Response<Body> {
        let Head {
            response,
            framing,
            reusable,
        } = head;
        // An answer that came before the whole request went out leaves the rest unsent.
        let reusable = reusable && sent;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            // The socket, with whatever the app already sent past its head, is the tunnel's.
            let upgraded = Switched::new(conn);
            let mut response = response.map(|()| crate::response::empty());
            response
                .extensions_mut()
                .insert(UpstreamUpgrade(Arc::new(Mutex::new(Some(upgraded)))));
            return response;
        }
        if framing == ResponseFraming::Empty {
            // No body to carry the connection (204, 304, HEAD, an empty 200): done now.
            if reusable {
                self.pool.checkin(conn);
            }
            return response.map(|()| crate::response::empty());
        }
        let body = ResponseBody::new(conn, framing, reusable, self.pool.clone());
        response.map(|()| body.boxed())
    }
}

/// Why an exchange failed.
enum Failure {
    /// The request head could not be written: the app never saw the request.
    Unsent(std::io::Error),
    Io(std::io::Error),
    Body(BoxError),
    Gateway(GatewayError),
}

/// Writes the request while waiting for the answer's head, which may come before the whole
/// body went out (an app refusing an upload early). Informational answers other than 101
/// are skipped. `sent` is set once the whole request is out.
fn poll_answer(
    conn: &mut Conn,
    writer: &mut RequestWriter,
    sent: &mut bool,
    method: &Method,
    cx: &mut Context<'_>,
) -> Poll<Result<Head, Failure>> {
    let mut write_failed = None;
    if !*sent {
        match writer.poll_write(&mut conn.io, cx) {
            Poll::Ready(Ok(())) => *sent = true,
            Poll::Ready(Err(WriteError::Body(e))) => return Poll::Ready(Err(Failure::Body(e))),
            // The app may have answered and closed: its answer is read below if it did.
            Poll::Ready(Err(WriteError::Io(e))) => write_failed = Some(e),
            Poll::Pending => {}
        }
    }
    loop {
        match head::parse_response(&mut conn.buf, method) {
            Err(e) => return Poll::Ready(Err(Failure::Gateway(e))),
            Ok(Some(head))
                if head.response.status().is_informational()
                    && head.response.status() != StatusCode::SWITCHING_PROTOCOLS => {}
            Ok(Some(head)) => return Poll::Ready(Ok(head)),
            Ok(None) => match conn.poll_fill(cx) {
                Poll::Ready(Ok(n)) if n > 0 => {}
                Poll::Ready(Ok(_)) => {
                    let e = write_failed.unwrap_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the app closed the connection before answering",
                        )
                    });
                    return Poll::Ready(Err(unsent_or_io(writer, e)));
                }
                Poll::Ready(Err(e)) => {
                    return Poll::Ready(Err(unsent_or_io(writer, write_failed.unwrap_or(e))));
                }
                Poll::Pending => {
                    return match write_failed {
                        Some(e) => Poll::Ready(Err(unsent_or_io(writer, e))),
                        None => Poll::Pending,
                    };
                }
            },
        }
    }
}

/// A failure counts as unsent only if the head itself could not be written out whole; a
/// head that went out may have been acted on.
fn unsent_or_io(writer: &RequestWriter, e: std::io::Error) -> Failure {
    if writer.head_unwritten() {
        Failure::Unsent(e)
    } else {
        Failure::Io(e)
    }
}

/// The app's side of a switched connection, carried in the 101 response for the tunnel.
#[derive(Clone)]
struct UpstreamUpgrade(Arc<Mutex<Option<Switched>>>);

/// Takes the app's upgraded connection out of a 101 response.
pub fn take_upgrade(resp: &mut Response<Body>) -> Option<Switched> {
    let slot = resp.extensions_mut().remove::<UpstreamUpgrade>()?;
    let mut guard = slot.0.lock().ok()?;
    guard.take()
}

/// Limits a request body while streaming it; the error surfaces as 413 through `classify`.
pub fn limited_body(body: Incoming, max: u64) -> Body {
    Limited::new(body, max as usize)
        .map_err(|e| e as BoxError)
        .boxed()
}

fn classify(e: &(dyn std::error::Error + 'static)) -> GatewayError {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if s.is::<http_body_util::LengthLimitError>() {
            return GatewayError::PayloadTooLarge;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return GatewayError::GatewayTimeout;
        }
        src = s.source();
    }
    GatewayError::BadGateway(format!("{e:?}"))
}

pub fn is_switching(resp: &Response<Body>) -> bool {
    resp.status() == StatusCode::SWITCHING_PROTOCOLS
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body::Frame;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An app that answers every request head at once with a 413, without reading bodies,
    /// and counts the connections it accepts.
    async fn refusing_app() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let (mut buf, mut got) = ([0u8; 4096], Vec::new());
                    loop {
                        while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                            got.drain(..end + 4);
                            let answer =
                                b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!";
                            if s.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    /// An app may answer before the request body is all there (refusing an upload early).
    /// The rest of the body is then never sent, so that connection must not carry the next
    /// request: the app would read its head as the missing body bytes.
    #[tokio::test]
    async fn an_answer_before_the_whole_body_ends_its_connection() {
        let (addr, accepted) = refusing_app().await;
        let upstream = Upstream {
            host: addr.ip().to_string(),
            port: addr.port(),
            tls: None,
            pool: Arc::new(Pool::new(4, IDLE_TIMEOUT)),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
        };
        // One chunk of an upload whose end never comes while the sender is held.
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        tx.send(Bytes::from_static(b"hello")).await.expect("send");
        let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, BoxError>(Frame::data(b)), rx))
        });
        let upload = Request::post("/upload")
            .header(http::header::HOST, "app")
            .body(http_body_util::StreamBody::new(chunks).boxed())
            .expect("request");
        let r = upstream.send(upload).await.expect("answer");
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = r.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], b"big!");
        let get = Request::get("/")
            .header(http::header::HOST, "app")
            .body(crate::response::empty())
            .expect("request");
        let r = upstream.send(get).await.expect("answer");
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "the half-sent upload's connection was not reused"
        );
        drop(tx);
    }
}
