//! Host + path prefix → app. Built once per config; lookups allocate only the lower-cased host.

use std::sync::Arc;

use foldhash::HashMap;

use crate::config::{AppConfig, normalize_authority};

pub struct Router {
    /// authority → apps on that host, longest prefix first. Keyed by config, so a fast
    /// hasher (the lookup hashes the request's Host; the keys are only the operator's).
    by_authority: HashMap<String, Vec<Arc<AppConfig>>>,
}

impl Router {
    pub fn new(apps: &[Arc<AppConfig>]) -> Self {
        let mut by_authority: HashMap<String, Vec<Arc<AppConfig>>> = HashMap::default();
        for app in apps {
            by_authority
                .entry(app.authority.clone())
                .or_default()
                .push(app.clone());
        }
        for list in by_authority.values_mut() {
            list.sort_by_key(|a| std::cmp::Reverse(a.path_prefix.len()));
        }
        Self { by_authority }
    }

    /// The app serving `authority` (the request's Host, any case, port optional) and `path`.
    pub fn route(&self, authority: &str, path: &str) -> Option<&Arc<AppConfig>> {
        let key = normalize_authority(authority)?;
        self.route_normalized(&key, path)
    }

    pub fn route_normalized(&self, authority: &str, path: &str) -> Option<&Arc<AppConfig>> {
        let apps = self.by_authority.get(authority)?;
        apps.iter().find(|a| path_matches(&a.path_prefix, path))
    }

    /// Whether any app lives on this normalized authority.
    pub fn knows_authority(&self, authority: &str) -> bool {
        self.by_authority.contains_key(authority)
    }
}

/// `/hr/` matches `/hr`, `/hr/` and `/hr/x`, but not `/hrx`.
fn path_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    path.starts_with(prefix) || path == &prefix[..prefix.len() - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matching_respects_segment_boundaries() {
        assert!(path_matches("/hr/", "/hr"));
        assert!(path_matches("/hr/", "/hr/a"));
        assert!(!path_matches("/hr/", "/hrx"));
        assert!(path_matches("/", "/anything"));
    }
}
