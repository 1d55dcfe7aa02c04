//! The pooled client that talks to apps: http or https (system roots plus an optional
//! per-app CA), bodies streamed both ways, connect and response timeouts, WebSocket upgrades.

use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::AppConfig;
use crate::error::GatewayError;
use crate::response::{Body, BoxError};

pub type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// One connection pool per thread: with thread-per-core workers a pooled connection is
/// always driven by the thread that uses it.
pub struct Upstream {
    connector: HttpsConnector,
    clients: thread_local::ThreadLocal<Client<HttpsConnector, Body>>,
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
        Ok(Self {
            connector,
            clients: thread_local::ThreadLocal::new(),
            response_timeout,
        })
    }

    fn client(&self) -> &Client<HttpsConnector, Body> {
        self.clients.get_or(|| {
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(256)
                .build(self.connector.clone())
        })
    }

    /// Sends the request and returns the upstream's response with a streaming body.
    pub async fn send(&self, req: Request<Body>) -> Result<Response<Body>, GatewayError> {
        let fut = self.client().request(req);
        let resp = match tokio::time::timeout(self.response_timeout, fut).await {
            Err(_) => return Err(GatewayError::GatewayTimeout),
            Ok(Err(e)) => return Err(classify(&e)),
            Ok(Ok(r)) => r,
        };
        Ok(resp.map(|b: Incoming| b.map_err(|e| Box::new(e) as BoxError).boxed()))
    }
}

/// Limits a request body while streaming it; the error surfaces as 413 through `classify`.
pub fn limited_body(body: Incoming, max: u64) -> Body {
    Limited::new(body, max as usize)
        .map_err(|e| e as BoxError)
        .boxed()
}

fn classify(e: &hyper_util::client::legacy::Error) -> GatewayError {
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
