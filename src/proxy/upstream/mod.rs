//! The client that talks to apps: http or https (system roots plus an optional per-app CA),
//! HTTP/1.1 with kept-alive connections, bodies streamed both ways, connect and response
//! timeouts, WebSocket upgrades.
//!
//! Each exchange is driven by the task that serves the client's request, including the
//! response body as the client reads it (`driven_body`); an idle connection waits in a
//! per-thread pool (`pool`). A pool whose connections run as tasks of their own (hyper-util's,
//! used before) hands each request, response and body chunk between two tasks; measured
//! against it, this took 2 % of the instructions and one system call off every request
//! (docs/benchmarks.md).

mod driven_body;
mod pool;

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use http::{Request, Response, StatusCode, Uri};
use http_body::Body as _;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use crate::config::AppConfig;
use crate::error::GatewayError;
use crate::response::{Body, BoxError};
use driven_body::DrivenBody;
use pool::{Conn, Pool, drive_until};

pub type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// Idle connections kept per app and worker thread, and for how long.
const MAX_IDLE_PER_THREAD: usize = 256;
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

pub struct Upstream {
    connector: HttpsConnector,
    /// `scheme://authority/` of the app: what the connector dials (and names in SNI).
    origin: Uri,
    pool: Arc<Pool>,
    response_timeout: Duration,
}

impl Upstream {
    pub fn new(
        app: &AppConfig,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let tls = crate::tls_client::client_config(app.upstream_ca.as_deref())?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let origin = Uri::builder()
            .scheme(app.upstream.scheme())
            .authority(&app.upstream[url::Position::BeforeHost..url::Position::AfterPort])
            .path_and_query("/")
            .build()?;
        Ok(Self {
            connector,
            origin,
            pool: Arc::new(Pool::new(MAX_IDLE_PER_THREAD, IDLE_TIMEOUT)),
            response_timeout,
        })
    }

    /// Sends the request (its URI in origin form) and returns the upstream's response with a
    /// streaming body. The response timeout covers connecting and waiting for the head.
    pub async fn send(&self, req: Request<Body>) -> Result<Response<Body>, GatewayError> {
        // Boxed (like the pooled client's response future before it): the exchange's state
        // is ~1.5 KB, and inline it would be copied with every HTTP/2 stream's task.
        let exchange = Box::pin(self.exchange(req));
        match tokio::time::timeout(self.response_timeout, exchange).await {
            Err(_) => Err(GatewayError::GatewayTimeout),
            Ok(r) => r,
        }
    }

    async fn exchange(&self, mut req: Request<Body>) -> Result<Response<Body>, GatewayError> {
        let mut pooled = poll_fn(|cx| Poll::Ready(self.pool.checkout(cx))).await;
        loop {
            let reused = pooled.is_some();
            let mut conn = match pooled.take() {
                Some(c) => c,
                // Boxed: dialing holds a TLS client state that reused connections never need.
                None => Box::pin(self.connect()).await?,
            };
            let mut response = Box::pin(conn.sender.try_send_request(req));
            match poll_fn(|cx| drive_until(&mut conn, &mut response, cx)).await {
                Ok(resp) => return Ok(self.hand_over(resp, conn).await),
                Err(mut e) => match e.take_message() {
                    // A kept-alive connection the app closed before our request reached
                    // it: nothing was sent, so it is safe to send again on a new one.
                    Some(unsent) if reused => req = unsent,
                    _ => return Err(classify(e.error())),
                },
            }
        }
    }

    async fn connect(&self) -> Result<Conn, GatewayError> {
        let io = self
            .connector
            .clone()
            .call(self.origin.clone())
            .await
            .map_err(|e| classify(e.as_ref()))?;
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|e| classify(&e))?;
        Ok(Conn::new(sender, Box::pin(connection.with_upgrades())))
    }

    /// The response, with the connection travelling in its body (or back in the pool).
    async fn hand_over(&self, resp: Response<Incoming>, conn: Conn) -> Response<Body> {
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            // The socket is handed to the upgrade only while the connection is driven.
            if let Some(driver) = conn.into_driver() {
                tokio::spawn(driver);
            }
            return resp.map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed());
        }
        if resp.body().is_end_stream() {
            // No body to carry the connection (204, 304, HEAD, an empty 200): done now.
            let mut conn = Some(conn);
            poll_fn(|cx| {
                if let Some(c) = conn.take() {
                    self.pool.finish(c, cx);
                }
                Poll::Ready(())
            })
            .await;
            return resp.map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed());
        }
        let pool = self.pool.clone();
        resp.map(|b| {
            DrivenBody::new(b, conn, pool)
                .map_err(|e| Box::new(e) as BoxError)
                .boxed()
        })
    }
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
