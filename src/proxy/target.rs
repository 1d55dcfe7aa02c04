//! Where an app's requests go: the upstream's scheme, authority and base path, and how an
//! external path maps onto it.

use http::Uri;
use http::header::HeaderValue;

use crate::config::AppConfig;
use crate::error::GatewayError;

/// Where an app's requests go, parsed once per config. (The upstream's scheme and
/// authority are the client's business: `upstream::Upstream` dials them.)
pub struct UpstreamTarget {
    /// Upstream base path without its trailing `/` (empty for the root).
    base: String,
    /// The app's external path prefix.
    prefix: String,
    /// `Host` sent upstream: the upstream's authority.
    host: HeaderValue,
}

impl UpstreamTarget {
    pub fn new(app: &AppConfig) -> anyhow::Result<Self> {
        Ok(Self {
            base: app.upstream.path().trim_end_matches('/').to_string(),
            prefix: app.path_prefix.clone(),
            host: HeaderValue::from_str(
                &app.upstream[url::Position::BeforeHost..url::Position::AfterPort],
            )?,
        })
    }

    /// External URI → the upstream request's URI in origin form (what an HTTP/1.1 request
    /// line carries): `/prefix/rest?q` becomes `{base}/rest?q`.
    pub fn uri(&self, uri: &Uri) -> Result<Uri, GatewayError> {
        let path_and_query = if self.base.is_empty() && self.prefix == "/" {
            // The common case: the path passes through untouched, without copying.
            uri.path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"))
        } else {
            let rest = uri.path().strip_prefix(self.prefix.as_str()).unwrap_or("");
            let mut p = format!("{}/{}", self.base, rest);
            if let Some(q) = uri.query() {
                p.push('?');
                p.push_str(q);
            }
            p.parse()
                .map_err(|_| GatewayError::BadRequest("unusable request path"))?
        };
        Ok(Uri::from(path_and_query))
    }

    pub fn host_header(&self) -> HeaderValue {
        self.host.clone()
    }
}
