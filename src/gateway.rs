//! The entry point of every request: request id, span, method and host checks, then the
//! dispatch to the gateway's own endpoints (health, metrics, JWKS, admin API), the sign-in
//! plane (`/.borderless/…`) or the data plane.

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tracing::Instrument;

use crate::config::normalize_authority;
use crate::error::GatewayError;
use crate::metrics::{AppMetrics, Label};
use crate::response::{self, Body};
use crate::state::{Gateway, RequestCtx, Runtime, new_request_id};
use crate::web::path;
use crate::{admin, proxy, signin};

impl Gateway {
    /// Entry point for every request on an HTTPS listener.
    ///
    /// Not an `async fn`: its state would keep the arguments beside the block they were
    /// moved into (rust-lang/rust#62958), and each request's state is copied into its box
    /// whole.
    pub fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Result<Response<Body>, Infallible>> + Send + 'static {
        let start = Instant::now();
        // The host is filled in once it is known to be valid.
        let mut ctx = RequestCtx {
            request_id: new_request_id(),
            peer,
            host: String::new(),
        };
        let span = tracing::info_span!("request", id = %ctx.request_id, method = %req.method(), path = %req.uri().path());
        async move {
            let rt = self.runtime.load_full();
            let mut counted = Counted::Fixed(self.labels.none.clone());
            // CONNECT would make us an open tunnel and TRACE reflects credentials (XST); no
            // app behind a gateway needs either.
            let method_ok = !matches!(*req.method(), http::Method::CONNECT | http::Method::TRACE);
            let result = match request_authority(&req) {
                _ if !method_ok => Err(GatewayError::MethodNotAllowed),
                Err(e) => Err(e),
                Ok(host) => {
                    ctx.host = host;
                    self.dispatch(&rt, req, &ctx, &mut counted).await
                }
            };
            let request_id = &ctx.request_id;
            let mut resp = result.unwrap_or_else(|e| e.into_response(request_id));
            if let Ok(mut v) = HeaderValue::from_str(request_id) {
                // Unique per response: HTTP/2 would add each one to the HPACK table and evict
                // a reusable entry for it. "Never indexed" sends it as a plain literal.
                v.set_sensitive(true);
                resp.headers_mut()
                    .insert(crate::web::request::X_REQUEST_ID, v);
            }
            // Every listener that reaches here is HTTPS; an app may set its own policy.
            resp.headers_mut()
                .entry(header::STRICT_TRANSPORT_SECURITY)
                .or_insert(HeaderValue::from_static("max-age=31536000"));
            let status = resp.status().as_u16();
            let seconds = start.elapsed().as_secs_f64();
            match counted {
                Counted::Fixed(label) => self.metrics.request(&label, status, seconds),
                Counted::App(app) => app.request(&self.metrics, status, seconds),
            }
            tracing::info!(
                status,
                elapsed_ms = start.elapsed().as_secs_f64() * 1000.0,
                "done"
            );
            Ok(resp)
        }
        .instrument(span)
    }

    /// The sign-in plane and the admin API are boxed: an async call is as large as its
    /// largest path, and theirs (database reads and writes, IdP calls) made every proxied
    /// request's state ~10 KB, moved on each poll set-up and per HTTP/2 stream.
    async fn dispatch<'r>(
        self: &Arc<Self>,
        rt: &'r Arc<Runtime>,
        mut req: Request<Incoming>,
        ctx: &RequestCtx,
        counted: &mut Counted<'r>,
    ) -> Result<Response<Body>, GatewayError> {
        // Every later step (routing, the upstream path, return URLs) reads the normalised
        // path, so the request carries it from here on.
        if let Cow::Owned(normal) = path::normalize(req.uri().path())
            .map_err(|why| GatewayError::BadRequest(why.message()))?
        {
            *req.uri_mut() = with_path(req.uri(), &normal)?;
        }
        let path = req.uri().path();
        // The gateway's own endpoints. The admin API answers on the login host only: on an
        // app host, a script in the app could call it with the user's session.
        match path {
            "/.borderless/health" => return Ok(response::text(StatusCode::OK, "ok\n")),
            "/.borderless/metrics" => return metrics(self, rt, ctx),
            // Partners' transmitters push Security Event Tokens here (no cookies involved).
            "/.borderless/ssf/events" if req.method() == http::Method::POST => {
                *counted = Counted::Fixed(self.labels.signin.clone());
                return Box::pin(crate::signals::receive(self, rt, req, ctx)).await;
            }
            p if p.starts_with("/.borderless/api/v1/") => {
                if !rt.is_login_host(&ctx.host) {
                    return Err(GatewayError::NotFound);
                }
                *counted = Counted::Fixed(self.labels.signin.clone());
                let sub = p["/.borderless/api/v1".len()..].to_string();
                return Ok(Box::pin(admin::handle(self, rt, req, ctx, &sub)).await);
            }
            _ => {}
        }
        if path == "/.borderless" || path.starts_with("/.borderless/") {
            *counted = Counted::Fixed(self.labels.signin.clone());
            return Box::pin(signin::handle(self, rt, req, ctx)).await;
        }
        if path == "/.well-known/jwks.json" && rt.is_login_host(&ctx.host) {
            *counted = Counted::Fixed(self.labels.jwks.clone());
            let mut r = response::json(StatusCode::OK, self.signer.load().jwks_json().to_string());
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            return Ok(r);
        }
        let Some(app) = rt.router.route_normalized(&ctx.host, path).cloned() else {
            if rt.is_login_host(&ctx.host) && path == "/" {
                return Ok(response::redirect("/.borderless/apps"));
            }
            return Err(GatewayError::NotFound);
        };
        let app_rt = rt
            .app(&app.id)
            .ok_or_else(|| GatewayError::internal(format!("app {} has no runtime", app.id)))?;
        *counted = Counted::App(&app_rt.metrics);
        proxy::handle(self, rt, &app, app_rt, req, ctx).await
    }
}

/// Where a request's metrics go.
enum Counted<'r> {
    /// The gateway's own endpoints and pages, under a fixed label.
    Fixed(Label),
    /// An app's requests, through the handles its runtime keeps.
    App(&'r AppMetrics),
}

fn metrics(gw: &Gateway, rt: &Runtime, ctx: &RequestCtx) -> Result<Response<Body>, GatewayError> {
    if !rt
        .config
        .metrics_allow
        .iter()
        .any(|n| n.contains(&ctx.peer.ip()))
    {
        return Err(GatewayError::NotFound);
    }
    let mut r = response::text(StatusCode::OK, gw.metrics.render(gw.sessions.cache_stats()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(r)
}

/// The authority the client addressed: `:authority`/absolute-form URI, else `Host`. When both
/// exist they must agree, so routing and the app never see different hosts.
fn request_authority(req: &Request<Incoming>) -> Result<String, GatewayError> {
    let from_uri = req.uri().authority().map(|a| a.as_str());
    let from_header = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    let raw = match (from_uri, from_header) {
        (Some(u), Some(h))
            if !u.eq_ignore_ascii_case(h) && normalize_authority(u) != normalize_authority(h) =>
        {
            return Err(GatewayError::BadRequest(
                "Host does not match the request target",
            ));
        }
        (Some(u), _) => u,
        (None, Some(h)) => h,
        (None, None) => return Err(GatewayError::BadRequest("missing Host")),
    };
    normalize_authority(raw).ok_or(GatewayError::BadRequest("invalid Host"))
}

/// `uri` with its path replaced (query kept).
fn with_path(uri: &http::Uri, path: &str) -> Result<http::Uri, GatewayError> {
    let mut parts = uri.clone().into_parts();
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    parts.path_and_query = Some(
        pq.parse()
            .map_err(|_| GatewayError::BadRequest("unusable request path"))?,
    );
    http::Uri::from_parts(parts).map_err(|_| GatewayError::BadRequest("unusable request path"))
}
