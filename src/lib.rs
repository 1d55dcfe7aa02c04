//! Borderless: a federation gateway that puts guest sign-in in front of legacy web apps.
//!
//! `build` turns a validated config into a running [`gateway::Gateway`]; `server::serve` runs
//! its listeners; `reload` swaps in a new config after validating it.

pub mod admin;
pub mod admission;
pub mod assertion;
pub mod config;
pub mod db;
pub mod demo_app;
pub mod directory;
pub mod error;
pub mod error_chain;
pub mod gateway;
pub mod idp;
pub mod invite;
pub mod mail;
pub mod metrics;
pub mod mfa;
pub mod policy;
pub mod proxy;
pub mod rate_limit;
pub mod response;
pub mod revocation_feed;
pub mod saml_metadata;
pub mod server;
pub mod session;
pub mod signals;
pub mod signin;
pub mod state;
pub mod timestamp;
pub mod tls_client;
pub mod token;
pub mod web;

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::config::file::FlowStoreKind;
use crate::session::{SessionManager, SqlSessionStore};
use crate::signin::flow_store::{Flows, MemoryFlows, SqlFlows};
use crate::state::{Gateway, Runtime};

/// Builds the gateway: opens the session store (running migrations), loads or creates the
/// assertion signing key and derives the runtime from the config.
pub async fn build(config: Config) -> anyhow::Result<Arc<Gateway>> {
    let db = db::Db::open(&config.database_url).await?;
    let store = SqlSessionStore::new(&db);
    let directory = directory::Directory::new(&db);
    let sessions = SessionManager::new(
        Arc::new(store),
        config.session.cache_capacity,
        config.session.cache_ttl,
    );
    let signer = load_signer(&config)?;
    let flows = Flows::new(match config.session.flow_store {
        FlowStoreKind::Memory => Arc::new(MemoryFlows::new(config.limits.pending_sign_ins)),
        FlowStoreKind::Database => Arc::new(SqlFlows::new(&db)),
    });
    let runtime = Runtime::build(Arc::new(config), &directory)?;
    let gw = Arc::new(Gateway {
        runtime: ArcSwap::from_pointee(runtime),
        sessions: Arc::new(sessions),
        access: admission::AccessCache::new(directory.clone()),
        policy_audit: Default::default(),
        directory,
        flows,
        metrics: metrics::Metrics::new(),
        signer: ArcSwap::from_pointee(signer),
        labels: state::FixedLabels::default(),
        tls_certs: Default::default(),
    });
    revocation_feed::follow(&gw);
    Ok(gw)
}

/// Loads `path` and, only if it is valid, makes it the running config. On error the old
/// config keeps serving and the error is returned for the log.
pub fn reload(gw: &Gateway, path: &Path) -> anyhow::Result<()> {
    let config = config::load(path)?;
    let old = gw.runtime.load();
    let listener_key = |l: &config::Listener| {
        (
            l.bind,
            l.tls.as_ref().map(|t| (t.cert.clone(), t.key.clone())),
        )
    };
    if config
        .listeners
        .iter()
        .map(listener_key)
        .ne(old.config.listeners.iter().map(listener_key))
        || config.database_url != old.config.database_url
    {
        tracing::warn!("changed listeners, TLS file paths or database take effect after a restart");
    }
    let signer = load_signer(&config)?;
    let runtime = Runtime::build(Arc::new(config), &gw.directory)?;
    gw.signer.store(Arc::new(signer));
    // Renewed certificates are picked up from the files the listeners were started with.
    let certs = gw.tls_certs.lock().map(|c| c.clone()).unwrap_or_default();
    for cert in &certs {
        cert.reload()?;
    }
    gw.runtime.store(Arc::new(runtime));
    Ok(())
}

/// The assertion signer for a config: its key file (and the previous one, after a rotation).
fn load_signer(config: &Config) -> anyhow::Result<assertion::AssertionSigner> {
    assertion::AssertionSigner::load_or_create(
        &config.assertion.signing_key_file,
        &config.public_url.origin().ascii_serialization(),
        config.assertion.ttl.as_secs() as i64,
    )
}

/// Reloads on every SIGHUP until the process ends.
#[cfg(unix)]
pub fn reload_on_sighup(gw: Arc<Gateway>, path: std::path::PathBuf) -> anyhow::Result<()> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match reload(&gw, &path) {
                Ok(()) => tracing::info!(config = %path.display(), "configuration reloaded"),
                Err(e) => {
                    tracing::error!(config = %path.display(), "reload refused, previous configuration stays: {e:#}")
                }
            }
        }
    });
    Ok(())
}

/// Deletes expired sessions, flows and passcodes, and revocation feed entries every process
/// has long read, every few minutes.
pub fn purge_expired_sessions(gw: Arc<Gateway>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
        loop {
            tick.tick().await;
            gw.runtime.load().rate_limits.forget_idle();
            if let Err(e) = gw.flows.purge_expired().await {
                tracing::warn!("purging expired sign-in flows failed: {e}");
            }
            if let Err(e) = gw.sessions.purge_expired().await {
                tracing::warn!("purging expired sessions failed: {e}");
            }
            if let Err(e) = gw.directory.purge_passcodes(session::now_unix()).await {
                tracing::warn!("purging used-up passcodes failed: {e}");
            }
            if let Err(e) = gw.directory.purge_assertion_ids(session::now_unix()).await {
                tracing::warn!("purging expired SAML assertion ids failed: {e}");
            }
            if let Err(e) = gw
                .directory
                .purge_revocations(session::now_unix() - revocation_feed::KEEP.as_secs() as i64)
                .await
            {
                tracing::warn!("purging the revocation feed failed: {e}");
            }
        }
    });
}

pub use config::load as load_config;

/// The log filter when `BORDERLESS_LOG` is not set. rustls warns once per connection about
/// things a client did (an IP address in SNI, say); at `info` any client could flood the log
/// with them, so rustls speaks only on errors unless asked.
pub const DEFAULT_LOG_FILTER: &str = "info,rustls=error";

#[cfg(test)]
mod log_filter_tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_default_filter_silences_per_connection_rustls_warnings() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                super::DEFAULT_LOG_FILTER,
            ))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            // What rustls logs when a client puts an IP address in SNI.
            tracing::warn!(target: "rustls::server::hs", "Illegal SNI hostname received \"127.0.0.1\"");
            tracing::error!(target: "rustls::server", "a real rustls error");
            tracing::info!(target: "borderless::gateway", "gateway ready");
        });
        let text = String::from_utf8(out.0.lock().expect("log").clone()).expect("utf-8");
        assert!(!text.contains("Illegal SNI"), "{text}");
        assert!(
            text.contains("a real rustls error") && text.contains("gateway ready"),
            "{text}"
        );
    }
}
