//! Prometheus metrics, rendered in the text exposition format at `/.borderless/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// An app label shared by reference, so counting a request allocates nothing.
pub type Label = std::sync::Arc<String>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub app: Label,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppLabel {
    pub app: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignInLabels {
    pub idp: String,
    pub result: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<AppLabel, Histogram, fn() -> Histogram>,
    pub signins: Family<SignInLabels, Counter>,
    cache_hits: Gauge<u64, AtomicU64>,
    cache_misses: Gauge<u64, AtomicU64>,
    cache_hit_ratio: Gauge<f64, AtomicU64>,
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~26 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("borderless");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<AppLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let signins = Family::<SignInLabels, Counter>::default();
        let cache_hits = Gauge::<u64, AtomicU64>::default();
        let cache_misses = Gauge::<u64, AtomicU64>::default();
        let cache_hit_ratio = Gauge::<f64, AtomicU64>::default();
        registry.register("requests", "Requests by app and status", requests.clone());
        registry.register(
            "request_duration_seconds",
            "Request latency by app",
            latency.clone(),
        );
        registry.register("signins", "Sign-ins by IdP and result", signins.clone());
        registry.register(
            "session_cache_hits",
            "Session lookups answered by the cache",
            cache_hits.clone(),
        );
        registry.register(
            "session_cache_misses",
            "Session lookups that went to the store",
            cache_misses.clone(),
        );
        registry.register(
            "session_cache_hit_ratio",
            "Session cache hits / lookups",
            cache_hit_ratio.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            signins,
            cache_hits,
            cache_misses,
            cache_hit_ratio,
        }
    }

    pub fn signin(&self, idp: &str, result: &str) {
        self.signins
            .get_or_create(&SignInLabels {
                idp: idp.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    pub fn render(&self, cache: (u64, u64)) -> String {
        let (hits, misses) = cache;
        self.cache_hits.set(hits);
        self.cache_misses.set(misses);
        let total = hits + misses;
        self.cache_hit_ratio.set(if total == 0 {
            0.0
        } else {
            hits as f64 / total as f64
        });
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
