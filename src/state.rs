//! The gateway's shared state: the runtime derived from one config file (swapped on
//! reload), the long-lived parts (sessions, directory, caches, signer), and what a handler
//! knows about one request. Every plane reads it; it imports none of them.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rand::RngCore;

use crate::admission::{AccessCache, Admission, AppVisit, Gate, PolicyAudit, Refusal, Step};
use crate::assertion::AssertionSigner;
use crate::config::Config;
use crate::directory::Directory;
use crate::error::GatewayError;
use crate::idp::Provider;
use crate::invite::Inviter;
use crate::metrics::{AppMetrics, Label, Metrics};
use crate::proxy::{
    route::Router, scrub::InjectedNames, target::UpstreamTarget, upstream::Upstream,
};
use crate::rate_limit::RateLimits;
use crate::session::{Session, SessionId, SessionManager};
use crate::signin::flow_store::Flows;
use crate::web::cookies::CookieNames;

/// Everything derived from one config file; swapped atomically on reload.
pub struct Runtime {
    pub config: Arc<Config>,
    pub router: Router,
    pub cookies: CookieNames,
    gateway_cookies: Vec<String>,
    pub idps: Vec<Arc<Provider>>,
    /// Keyed by app id, looked up per request: a fast hasher, as for the router.
    apps: foldhash::HashMap<String, AppRuntime>,
    /// Invitations under this config's apps, domain lists and mail settings.
    pub inviter: Inviter,
    /// Per-client and per-inviter quotas from `[limits]`.
    pub rate_limits: RateLimits,
    /// The key that seals TOTP secrets, read (or created) when MFA is first used.
    mfa_sealer: std::sync::OnceLock<crate::mfa::Sealer>,
    /// The WebAuthn relying party (the login host), built on first use.
    webauthn: std::sync::OnceLock<webauthn_rs::Webauthn>,
    /// Partners' Shared Signals transmitter keys fetched from their JWKS URLs.
    pub signal_keys: crate::signals::keys::KeyCache,
}

pub struct AppRuntime {
    pub metrics: AppMetrics,
    pub injected: InjectedNames,
    pub target: UpstreamTarget,
    pub upstream: Upstream,
}

impl Runtime {
    /// The client's address: the peer, or behind trusted proxies the hop they vouch for.
    pub fn client_ip(&self, headers: &http::HeaderMap, ctx: &RequestCtx) -> std::net::IpAddr {
        crate::proxy::forwarded::client_ip(headers, ctx.peer.ip(), &self.config.trusted_proxies)
    }

    /// A request to `app` as Conditional Access sees it: the client's address and platform.
    pub fn visit<'a>(
        &self,
        app: &'a crate::config::AppConfig,
        headers: &http::HeaderMap,
        ctx: &RequestCtx,
    ) -> AppVisit<'a> {
        // Scanning the User-Agent costs more than the rest of the visit; no policy, no scan.
        let platform = if self.config.policies.reads_platform() {
            crate::policy::Platform::of_request(headers)
        } else {
            crate::policy::Platform::Other
        };
        AppVisit {
            app,
            ip: self.client_ip(headers, ctx),
            platform,
        }
    }

    pub fn build(config: Arc<Config>, dir: &Directory) -> anyhow::Result<Self> {
        let router = Router::new(&config.apps);
        let cookies = CookieNames::new(&config.session.cookie_name);
        let gateway_cookies = cookies.all();
        let mut idps = Vec::new();
        for idp in &config.idps {
            idps.push(Arc::new(Provider::new(idp.clone(), &config.public_url)?));
        }
        let mut apps = foldhash::HashMap::default();
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
                    metrics: AppMetrics::new(Arc::new(app.id.clone())),
                    injected: InjectedNames::new(names),
                    target: UpstreamTarget::new(app)?,
                    upstream,
                },
            );
        }
        Ok(Self {
            inviter: Inviter::new(dir.clone(), config.clone())?,
            rate_limits: RateLimits::new(&config.limits),
            config,
            router,
            cookies,
            gateway_cookies,
            idps,
            apps,
            mfa_sealer: std::sync::OnceLock::new(),
            webauthn: std::sync::OnceLock::new(),
            signal_keys: Default::default(),
        })
    }

    /// The WebAuthn relying party: the login host's name as RP id, its origin the only one
    /// accepted, so a passkey answers only this gateway's login pages (phishing resistance).
    pub fn webauthn(&self) -> Result<&webauthn_rs::Webauthn, GatewayError> {
        if let Some(w) = self.webauthn.get() {
            return Ok(w);
        }
        let origin = &self.config.public_url;
        let rp_id = origin
            .host_str()
            .ok_or_else(|| GatewayError::internal("the public URL has no host"))?;
        let built = webauthn_rs::WebauthnBuilder::new(rp_id, origin)
            .and_then(|b| b.rp_name(&self.config.directory.organization).build())
            .map_err(|e| GatewayError::internal(format!("WebAuthn relying party: {e}")))?;
        Ok(self.webauthn.get_or_init(|| built))
    }

    /// The sealer of TOTP secrets; its key file is read, or created, on first use.
    pub fn mfa_sealer(&self) -> Result<&crate::mfa::Sealer, GatewayError> {
        if let Some(s) = self.mfa_sealer.get() {
            return Ok(s);
        }
        let loaded = crate::mfa::Sealer::load_or_create(&self.config.mfa.key_file)
            .map_err(|e| GatewayError::internal(e.to_string()))?;
        Ok(self.mfa_sealer.get_or_init(|| loaded))
    }

    pub fn app(&self, id: &str) -> Option<&AppRuntime> {
        self.apps.get(id)
    }

    pub fn idp(&self, id: &str) -> Option<&Arc<Provider>> {
        self.idps.iter().find(|p| p.config().id == id)
    }

    /// Every cookie name the gateway owns; stripped before a request reaches an app.
    pub fn gateway_cookies(&self) -> &[String] {
        &self.gateway_cookies
    }

    /// A refusal as the error that renders its page, in this organisation's words.
    pub fn refused(&self, refusal: Refusal) -> GatewayError {
        GatewayError::refused(refusal, &self.config.directory.organization)
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
    /// Which Conditional Access decisions were audited lately.
    pub policy_audit: PolicyAudit,
    /// Sign-ins between two requests: waiting for the IdP, for consent, for a handoff.
    pub flows: Flows,
    pub metrics: Metrics,
    /// Swapped on reload, so a rotated key takes over without a restart.
    pub signer: ArcSwap<AssertionSigner>,
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
            policy_audit: &self.policy_audit,
        }
    }

    /// The one lookup of the session a request carries, and whether it may go on (to an app,
    /// or just stay signed in). Every handler that reads the session cookie comes here.
    pub async fn session_check(
        &self,
        rt: &Runtime,
        headers: &http::HeaderMap,
        app: Option<AppVisit<'_>>,
    ) -> Result<SessionCheck, GatewayError> {
        let Some(raw) = crate::web::cookies::value(headers, &rt.cookies.session) else {
            return Ok(SessionCheck::None { had_cookie: false });
        };
        let Some(id) = SessionId::from_cookie(raw) else {
            return Ok(SessionCheck::None { had_cookie: true });
        };
        self.continue_session(rt, id, app).await
    }

    /// Whether the session `id` may go on (to an app, or just stay signed in): asked for
    /// every request, and again for an open WebSocket tunnel while it lasts.
    pub async fn continue_session(
        &self,
        rt: &Runtime,
        id: SessionId,
        app: Option<AppVisit<'_>>,
    ) -> Result<SessionCheck, GatewayError> {
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
