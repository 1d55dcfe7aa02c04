//! A transmitter's signing keys: from its config (a file read at load) or its JWKS URL,
//! fetched on first use and again for a `kid` not seen yet — at most once a minute, so
//! events with made-up key ids cannot make the gateway hammer the partner.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use tokio::sync::Mutex;
use url::Url;

use crate::config::SignalKeys;

const REFETCH_AFTER: Duration = Duration::from_secs(60);

struct Fetched {
    set: JwkSet,
    at: Instant,
}

pub struct KeyCache {
    client: Option<reqwest::Client>,
    fetched: Mutex<HashMap<Url, Fetched>>,
}

impl Default for KeyCache {
    fn default() -> Self {
        let tls = crate::tls_client::client_config(None).ok();
        let client = tls.and_then(|tls| {
            reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .user_agent(concat!("borderless/", env!("CARGO_PKG_VERSION")))
                .build()
                .ok()
        });
        Self {
            client,
            fetched: Mutex::new(HashMap::new()),
        }
    }
}

impl KeyCache {
    /// The keys to try for a token whose header names `kid`.
    pub async fn keys(&self, source: &SignalKeys, kid: Option<&str>) -> Result<JwkSet, String> {
        let url = match source {
            SignalKeys::Static(set) => return Ok(set.clone()),
            SignalKeys::Url(url) => url,
        };
        let mut fetched = self.fetched.lock().await;
        let known = fetched.get(url).is_some_and(|f| {
            kid.is_none_or(|k| {
                f.set
                    .keys
                    .iter()
                    .any(|j| j.common.key_id.as_deref() == Some(k))
            })
        });
        let may_refetch = fetched
            .get(url)
            .is_none_or(|f| f.at.elapsed() >= REFETCH_AFTER);
        if !known && may_refetch {
            let set = self.fetch(url).await?;
            fetched.insert(
                url.clone(),
                Fetched {
                    set,
                    at: Instant::now(),
                },
            );
        }
        fetched
            .get(url)
            .map(|f| f.set.clone())
            .ok_or_else(|| format!("no keys from {url}"))
    }

    async fn fetch(&self, url: &Url) -> Result<JwkSet, String> {
        let client = self
            .client
            .as_ref()
            .ok_or("no HTTP client (TLS roots did not load)")?;
        let resp = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{url}: HTTP {}", resp.status()));
        }
        let body = resp.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        serde_json::from_slice::<JwkSet>(&body).map_err(|e| format!("{url}: not a JWKS: {e}"))
    }
}
