//! The gateway's shared state and the entry point of every request: request id, span, host
//! checks, then either the sign-in plane (`/.borderless/…`) or the data plane.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use rand::RngCore;
use tracing::Instrument;

use crate::admission::{AccessCache, Admission, Gate, Refusal, Step};
use crate::assertion::AssertionSigner;
use crate::config::{Config, normalize_authority};
use crate::directory::Directory;
use crate::error::GatewayError;
use crate::idp::oidc::OidcProvider;
use crate::invite::Inviter;
use crate::metrics::{AppLabel, Label, Metrics, RequestLabels};
use crate::proxy::{self, route::Router, scrub::InjectedNames, upstream::Upstream};
use crate::response::{self, Body};
use crate::session::{Session, SessionId, SessionManager};
use crate::signin::{
    self,
    flow::{ConsentStore, FlowStore, HandoffStore},
};
use crate::web::cookies::CookieNames;

/// Everything derived from one config file; swapped atomically on reload.
pub struct Runtime {
    pub config: Arc<Config>,
    pub router: Router,
    pub cookies: CookieNames,
    gateway_cookies: Vec<String>,
    pub idps: Vec<Arc<OidcProvider>>,
    apps: HashMap<String, AppRuntime>,
    /// Invitations under this config's apps, domain lists and mail settings.
    pub inviter: Inviter,
}

pub struct AppRuntime {
    pub label: Label,
    pub injected: InjectedNames,
    pub target: proxy::UpstreamTarget,
    pub upstream: Upstream,
}

impl Runtime {
    pub fn build(config: Arc<Config>, dir: &Directory) -> anyhow::Result<Self> {
        let router = Router::new(&config.apps);
        let cookies = CookieNames::new(&config.session.cookie_name);
        let gateway_cookies = cookies.all();
        let mut idps = Vec::new();
        for idp in &config.idps {
            let redirect = config
                .public_url
                .join(&format!("/.borderless/callback/{}", idp.id))?;
            idps.push(Arc::new(OidcProvider::new(idp.clone(), redirect)?));
        }
        let mut apps = HashMap::new();
        for app in &config.apps {
            let mut names: Vec<&http::HeaderName> = app.headers.iter().map(|(h, _)| h).collect();
            if let Some(h) = &app.assertion_header {
                names.push(h);
            }
            let upstream = Upstream::new(
                app,
                config.limits.upstream_connect_timeout,
                config.limits.upstream_response_timeout,
            )?;
            apps.insert(
                app.id.clone(),
                AppRuntime {
                    label: Arc::new(app.id.clone()),
                    injected: InjectedNames::new(names),
                    target: proxy::UpstreamTarget::new(app)?,
                    upstream,
                },
            );
        }
        Ok(Self {
            inviter: Inviter::new(dir.clone(), config.clone())?,
            config,
            router,
            cookies,
            gateway_cookies,
            idps,
            apps,
        })
    }

    pub fn app(&self, id: &str) -> Option<&AppRuntime> {
        self.apps.get(id)
    }

    pub fn idp(&self, id: &str) -> Option<&Arc<OidcProvider>> {
        self.idps.iter().find(|p| p.config.id == id)
    }

    /// Every cookie name the gateway owns; stripped before a request reaches an app.
    pub fn gateway_cookies(&self) -> &[String] {
        &self.gateway_cookies
    }

    pub fn is_login_host(&self, authority: &str) -> bool {
        authority == self.config.login_authority
    }
}

pub struct Gateway {
    pub runtime: ArcSwap<Runtime>,
    pub sessions: Arc<SessionManager>,
    pub directory: Directory,
    pub access: AccessCache,
    pub flows: FlowStore,
    pub consents: ConsentStore,
    pub handoffs: HandoffStore,
    pub metrics: Metrics,
    pub signer: AssertionSigner,
    pub labels: FixedLabels,
    /// Listener certificates, re-read on reload.
    pub tls_certs: std::sync::Mutex<Vec<Arc<crate::server::tls::ReloadableCert>>>,
}

/// What a request's session cookie amounts to, after the admission decision.
pub enum SessionCheck {
    /// No cookie, or one naming no live session.
    None { had_cookie: bool },
    /// A live session the decision admits.
    Admitted(SessionId, Arc<Session>),
    /// A live session the decision refuses.
    Refused(Refusal),
}

impl Gateway {
    /// The admission decision under `rt`'s config.
    pub fn gate<'a>(&'a self, rt: &'a Runtime) -> Gate<'a> {
        Gate {
            config: &rt.config,
            router: &rt.router,
            dir: &self.directory,
            access: &self.access,
        }
    }

    /// The one lookup of the session a request carries, and whether it may go on (to `app`,
    /// or just stay signed in). Every handler that reads the session cookie comes here.
    pub async fn session_check(
        &self,
        rt: &Runtime,
        headers: &http::HeaderMap,
        app: Option<&crate::config::AppConfig>,
    ) -> Result<SessionCheck, GatewayError> {
        let Some(raw) = crate::web::cookies::value(headers, &rt.cookies.session) else {
            return Ok(SessionCheck::None { had_cookie: false });
        };
        let Some(id) = SessionId::from_cookie(raw) else {
            return Ok(SessionCheck::None { had_cookie: true });
        };
        let Some(session) = self.sessions.get(&id).await? else {
            return Ok(SessionCheck::None { had_cookie: true });
        };
        let decision = self
            .gate(rt)
            .admit(Step::Continue {
                session: &session,
                app,
            })
            .await?;
        Ok(match decision {
            Ok(Admission::Continue) => SessionCheck::Admitted(id, session),
            Ok(_) => SessionCheck::Refused(Refusal::UserRemoved),
            Err(refusal) => SessionCheck::Refused(refusal),
        })
    }
}

/// Metric labels for requests that belong to no app.
pub struct FixedLabels {
    pub none: Label,
    pub signin: Label,
    pub jwks: Label,
}

impl Default for FixedLabels {
    fn default() -> Self {
        Self {
            none: Arc::new("-".into()),
            signin: Arc::new("_signin".into()),
            jwks: Arc::new("_jwks".into()),
        }
    }
}

/// What the handler knows about one request besides the request itself.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub request_id: String,
    pub peer: SocketAddr,
    /// Normalized `host:port` the client addressed.
    pub host: String,
}

/// 96 random bits as hex. Request ids only need to be unique, not secret, so they come from
/// the thread-local generator instead of a system call per request.
pub fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut b);
    let mut s = String::with_capacity(24);
    for x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 15) as usize] as char);
    }
    s
}

impl Gateway {
    /// Entry point for every request on an HTTPS listener.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<Body>, Infallible> {
        let start = Instant::now();
        let request_id = new_request_id();
        let span = tracing::info_span!("request", id = %request_id, method = %req.method(), path = %req.uri().path());
        async move {
            let rt = self.runtime.load_full();
            let mut app_label = self.labels.none.clone();
            // CONNECT would make us an open tunnel and TRACE reflects credentials (XST); no
            // app behind a gateway needs either.
            let method_ok = !matches!(*req.method(), http::Method::CONNECT | http::Method::TRACE);
            let result = match request_authority(&req) {
                _ if !method_ok => Err(GatewayError::MethodNotAllowed),
                Err(e) => Err(e),
                Ok(host) => {
                    let ctx = RequestCtx {
                        request_id: request_id.clone(),
                        peer,
                        host,
                    };
                    self.dispatch(&rt, req, &ctx, &mut app_label).await
                }
            };
            let mut resp = result.unwrap_or_else(|e| e.into_response(&request_id));
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                resp.headers_mut().insert("x-request-id", v);
            }
            // Every listener that reaches here is HTTPS; an app may set its own policy.
            resp.headers_mut()
                .entry(header::STRICT_TRANSPORT_SECURITY)
                .or_insert(HeaderValue::from_static("max-age=31536000"));
            let status = resp.status().as_u16();
            self.metrics
                .requests
                .get_or_create(&RequestLabels {
                    app: app_label.clone(),
                    status,
                })
                .inc();
            self.metrics
                .latency
                .get_or_create(&AppLabel { app: app_label })
                .observe(start.elapsed().as_secs_f64());
            tracing::info!(
                status,
                elapsed_ms = start.elapsed().as_secs_f64() * 1000.0,
                "done"
            );
            Ok(resp)
        }
        .instrument(span)
        .await
    }

    async fn dispatch(
        &self,
        rt: &Arc<Runtime>,
        req: Request<Incoming>,
        ctx: &RequestCtx,
        app_label: &mut Label,
    ) -> Result<Response<Body>, GatewayError> {
        let path = req.uri().path();
        if has_dot_segments(path) {
            return Err(GatewayError::BadRequest(
                "the path contains `.` or `..` segments",
            ));
        }
        if path == "/.borderless" || path.starts_with("/.borderless/") {
            *app_label = self.labels.signin.clone();
            return signin::handle(self, rt, req, ctx).await;
        }
        if path == "/.well-known/jwks.json" && rt.is_login_host(&ctx.host) {
            *app_label = self.labels.jwks.clone();
            let mut r = response::json(StatusCode::OK, self.signer.jwks_json().to_string());
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
        *app_label = app_rt.label.clone();
        proxy::handle(self, rt, &app, app_rt, req, ctx).await
    }
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

/// True when a path segment is `.` or `..`, also percent-encoded; upstreams would resolve
/// those and could step outside the app's path prefix.
pub fn has_dot_segments(path: &str) -> bool {
    path.split('/').any(|seg| {
        let decoded = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
        decoded == "." || decoded == ".." || decoded.contains('/') || decoded.contains('\\')
    })
}
