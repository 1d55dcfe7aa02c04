//! `[session]` and `[assertion]`: the session cookie and store, and the signed assertion.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::errors::{ErrorSink, KeyPath};
use super::file::{AssertionSection, FlowStoreKind, SessionSection};

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub cookie_name: String,
    pub flow_store: crate::config::file::FlowStoreKind,
    pub lifetime: Duration,
    pub cache_capacity: u64,
    pub cache_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct AssertionSettings {
    pub signing_key_file: PathBuf,
    pub ttl: Duration,
}

pub(super) fn session(
    sink: &mut ErrorSink<'_>,
    root: &KeyPath,
    s: &SessionSection,
    database_url: &str,
) -> SessionSettings {
    let sk = root.key("session");
    if s.cookie_name.is_empty()
        || !s
            .cookie_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        || s.cookie_name.starts_with("__")
    {
        sink.push(
            sk.key("cookie_name"),
            "letters, digits, `_` and `-` only, not starting with `__`",
        );
    }
    if s.lifetime_secs < 60 {
        sink.push(sk.key("lifetime_secs"), "must be at least 60");
    }
    SessionSettings {
        cookie_name: s.cookie_name.clone(),
        flow_store: s
            .flow_store
            .unwrap_or(if database_url.starts_with("postgres") {
                FlowStoreKind::Database
            } else {
                FlowStoreKind::Memory
            }),
        lifetime: Duration::from_secs(s.lifetime_secs),
        cache_capacity: s.cache_capacity,
        cache_ttl: Duration::from_secs(s.cache_ttl_secs.max(1)),
    }
}

pub(super) fn assertion(
    a: &AssertionSection,
    resolve: &dyn Fn(&str) -> PathBuf,
    base_dir: &Path,
) -> AssertionSettings {
    AssertionSettings {
        signing_key_file: a
            .signing_key_file
            .as_deref()
            .map(resolve)
            .unwrap_or_else(|| base_dir.join("assertion-signing-key.pem")),
        ttl: Duration::from_secs(a.ttl_secs.unwrap_or(300)),
    }
}
