//! Prometheus metrics, rendered in the text exposition format at `/.borderless/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
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

    /// Counts one request under `label` and records its latency.
    pub fn request(&self, label: &Label, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                app: label.clone(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&AppLabel { app: label.clone() })
            .observe(seconds);
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

/// One app's request metrics, taken from the families once and kept. A family lookup hashes
/// the label set under a lock; two of them per request were 2 % of a proxied request's
/// instructions (docs/benchmarks.md). The handles share their values with the families, so
/// `/.borderless/metrics` shows them as before, and a config reload that keeps an app keeps
/// counting into the same series.
pub struct AppMetrics {
    label: Label,
    latency: OnceLock<Histogram>,
    /// Counters for statuses 100–599, each taken on its first use.
    by_status: Box<[OnceLock<Counter>]>,
}

const FIRST_STATUS: u16 = 100;
const STATUSES: usize = 500;

impl AppMetrics {
    pub fn new(label: Label) -> Self {
        Self {
            label,
            latency: OnceLock::new(),
            by_status: (0..STATUSES).map(|_| OnceLock::new()).collect(),
        }
    }

    pub fn label(&self) -> &Label {
        &self.label
    }

    /// Counts one request of this app and records its latency.
    pub fn request(&self, metrics: &Metrics, status: u16, seconds: f64) {
        let slot = usize::from(status.wrapping_sub(FIRST_STATUS));
        let Some(counter) = self.by_status.get(slot) else {
            // A status hyper would not send; counted the slow way all the same.
            return metrics.request(&self.label, status, seconds);
        };
        counter
            .get_or_init(|| {
                metrics
                    .requests
                    .get_or_create(&RequestLabels {
                        app: self.label.clone(),
                        status,
                    })
                    .clone()
            })
            .inc();
        self.latency
            .get_or_init(|| {
                metrics
                    .latency
                    .get_or_create(&AppLabel {
                        app: self.label.clone(),
                    })
                    .clone()
            })
            .observe(seconds);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apps_kept_handles_count_into_the_exported_series() {
        let metrics = Metrics::new();
        let app = AppMetrics::new(std::sync::Arc::new("hr".to_string()));
        app.request(&metrics, 200, 0.001);
        app.request(&metrics, 200, 0.002);
        app.request(&metrics, 503, 0.003);
        // Outside the kept table: counted through the family.
        app.request(&metrics, 999, 0.004);
        // The same series as the slow path writes to.
        metrics.request(app.label(), 200, 0.005);
        let text = metrics.render((0, 0));
        for line in [
            "borderless_requests_total{app=\"hr\",status=\"200\"} 3",
            "borderless_requests_total{app=\"hr\",status=\"503\"} 1",
            "borderless_requests_total{app=\"hr\",status=\"999\"} 1",
            "borderless_request_duration_seconds_count{app=\"hr\"} 5",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
