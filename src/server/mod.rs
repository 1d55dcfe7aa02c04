//! Listeners: TLS (HTTP/1.1 + HTTP/2 by ALPN) and plain-HTTP redirect listeners, with a TLS
//! handshake timeout, header-read and idle timeouts, a header size limit, a connection limit
//! and graceful shutdown (in-flight requests finish, new connections are refused).

pub mod idle;
pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::{Limits, normalize_authority};
use crate::response::{self, Body};
use crate::state::Gateway;

#[derive(Clone)]
pub enum Kind {
    Https(TlsAcceptor),
    RedirectToHttps,
}

pub struct Bound {
    pub tcp: TcpListener,
    pub kind: Kind,
    /// The certificate of an HTTPS listener, for reloads.
    pub cert: Option<Arc<tls::ReloadableCert>>,
}

impl Bound {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// Binds every listener of the config.
pub async fn bind(config: &crate::config::Config) -> anyhow::Result<Vec<Bound>> {
    let mut out = Vec::new();
    for l in &config.listeners {
        let tcp = TcpListener::bind(l.bind)
            .await
            .map_err(|e| anyhow::anyhow!("binding {}: {e}", l.bind))?;
        let (kind, cert) = match &l.tls {
            Some(t) => {
                let cert = tls::ReloadableCert::load(&t.cert, &t.key)?;
                (Kind::Https(tls::acceptor(cert.clone())?), Some(cert))
            }
            None => (Kind::RedirectToHttps, None),
        };
        out.push(Bound { tcp, kind, cert });
    }
    Ok(out)
}

/// Serves on `workers` threads, each running its own single-threaded runtime and accepting
/// from the same sockets. A client connection, the upstream connections it uses and their
/// tasks then stay on one thread, with no cross-thread wake-ups per request (the way nginx
/// runs one event loop per worker). Returns once every worker has drained.
pub async fn serve_threaded(
    gw: Arc<Gateway>,
    listeners: Vec<Bound>,
    limits: Limits,
    shutdown: CancellationToken,
    workers: usize,
) -> anyhow::Result<()> {
    let mut sockets = Vec::new();
    for b in listeners {
        sockets.push((b.tcp.into_std()?, b.kind));
    }
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut finished = Vec::new();
    for i in 0..workers.max(1) {
        let mut mine = Vec::new();
        for (s, k) in &sockets {
            mine.push((s.try_clone()?, k.clone()));
        }
        let (gw, limits, permits, shutdown) = (
            gw.clone(),
            limits.clone(),
            permits.clone(),
            shutdown.clone(),
        );
        let (done, finished_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("borderless-worker-{i}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("worker {i}: cannot start a runtime: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    let mut bound = Vec::new();
                    for (s, kind) in mine {
                        match TcpListener::from_std(s) {
                            Ok(tcp) => bound.push(Bound {
                                tcp,
                                kind,
                                cert: None,
                            }),
                            Err(e) => tracing::error!("worker {i}: listener: {e}"),
                        }
                    }
                    serve_with(gw, bound, limits, permits, shutdown).await;
                });
                let _ = done.send(());
            })?;
        finished.push(finished_rx);
    }
    // The workers hold their own copies; closing ours lets the listening sockets close as
    // soon as the workers stop accepting, so new connections are refused during the drain.
    drop(sockets);
    for f in finished {
        let _ = f.await;
    }
    Ok(())
}

/// Serves on the current runtime until `shutdown` is cancelled, then drains connections for
/// at most the grace period.
pub async fn serve(
    gw: Arc<Gateway>,
    listeners: Vec<Bound>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    serve_with(gw, listeners, limits, permits, shutdown).await;
}

async fn serve_with(
    gw: Arc<Gateway>,
    listeners: Vec<Bound>,
    limits: Limits,
    permits: Arc<Semaphore>,
    shutdown: CancellationToken,
) {
    let graceful = Arc::new(GracefulShutdown::new());
    let mut tasks = Vec::new();
    for l in listeners {
        tasks.push(tokio::spawn(accept_loop(
            gw.clone(),
            l,
            limits.clone(),
            permits.clone(),
            graceful.clone(),
            shutdown.clone(),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
    tracing::info!("listeners closed; draining connections");
    let graceful = Arc::try_unwrap(graceful).unwrap_or_else(|_| GracefulShutdown::new());
    match tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections drained"),
        Err(_) => tracing::warn!("grace period over; closing remaining connections"),
    }
}

async fn accept_loop(
    gw: Arc<Gateway>,
    listener: Bound,
    limits: Limits,
    permits: Arc<Semaphore>,
    graceful: Arc<GracefulShutdown>,
    shutdown: CancellationToken,
) {
    let builder = Arc::new(connection_builder(&limits));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.tcp.accept() => match r {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; refusing connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let gw = gw.clone();
        let builder = builder.clone();
        let limits = limits.clone();
        let kind_tls = match &listener.kind {
            Kind::Https(a) => Some(a.clone()),
            Kind::RedirectToHttps => None,
        };
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let activity = idle::Activity::new();
            match kind_tls {
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(
                        limits.header_read_timeout,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let io = TokioIo::new(idle::IdleIo::new(tls, activity.clone()));
                    // Boxed: an HTTP/2 stream is a task of its own, and moving the
                    // request's state (kilobytes) into it was a tenth of HTTP/2's work
                    // (docs/benchmarks.md); behind a pointer only the box is moved.
                    let svc = service_fn(move |req: Request<Incoming>| {
                        Box::pin(gw.clone().handle(req, peer))
                    });
                    let conn = builder.serve_connection_with_upgrades(io, svc).into_owned();
                    let conn = watcher.watch(conn);
                    tokio::select! {
                        r = conn => if let Err(e) = r { tracing::debug!(%peer, error = %e, "connection ended with error") },
                        _ = activity.idle(limits.idle_timeout) => tracing::debug!(%peer, "idle connection closed"),
                    }
                }
                None => {
                    let io = TokioIo::new(idle::IdleIo::new(stream, activity.clone()));
                    let svc = service_fn(move |req: Request<Incoming>| {
                        redirect_to_https(gw.clone(), req)
                    });
                    let conn = builder.serve_connection(io, svc).into_owned();
                    let conn = watcher.watch(conn);
                    tokio::select! {
                        _ = conn => {},
                        _ = activity.idle(limits.idle_timeout) => {},
                    }
                }
            }
        });
    }
}

fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32)
        .max_concurrent_streams(250)
        .keep_alive_interval(Some(limits.idle_timeout / 2))
        .keep_alive_timeout(Duration::from_secs(20));
    b
}

/// Plain-HTTP listener: send known hosts to HTTPS, refuse the rest (no open redirect).
async fn redirect_to_https(
    gw: Arc<Gateway>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let rt = gw.runtime.load();
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(normalize_authority)
        .map(|a| a.rsplit_once(':').map(|(h, _)| h.to_string()).unwrap_or(a));
    let target = host.and_then(|h| {
        std::iter::once(rt.config.login_authority.clone())
            .chain(rt.config.apps.iter().map(|a| a.authority.clone()))
            .find(|a| a.rsplit_once(':').map(|(x, _)| x) == Some(h.as_str()))
    });
    let Some(authority) = target else {
        return Ok(response::text(StatusCode::NOT_FOUND, "unknown host\n"));
    };
    let authority = authority
        .strip_suffix(":443")
        .unwrap_or(&authority)
        .to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut r = response::redirect(&format!("https://{authority}{path}"));
    *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
    Ok(r)
}
