//! Where an app's requests go: the upstream's scheme, authority and base path, and how an
//! external path maps onto it.

use http::Uri;
use http::header::HeaderValue;

use crate::config::AppConfig;
use crate::error::GatewayError;

/// Where an app's requests go, parsed once per config.
pub struct UpstreamTarget {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
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
            scheme: app.upstream.scheme().parse()?,
            authority: app.upstream[url::Position::BeforeHost..url::Position::AfterPort].parse()?,
            base: app.upstream.path().trim_end_matches('/').to_string(),
            prefix: app.path_prefix.clone(),
            host: HeaderValue::from_str(
                &app.upstream[url::Position::BeforeHost..url::Position::AfterPort],
            )?,
        })
    }

    /// External URI → upstream URI: `/prefix/rest?q` becomes `{base}/rest?q`.
    pub fn uri(&self, uri: &Uri) -> Result<Uri, GatewayError> {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = if self.base.is_empty() && self.prefix == "/" {
            // The common case: the path passes through untouched, without copying.
            Some(
                uri.path_and_query()
                    .cloned()
                    .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
            )
        } else {
            let rest = uri.path().strip_prefix(self.prefix.as_str()).unwrap_or("");
            let mut p = format!("{}/{}", self.base, rest);
            if let Some(q) = uri.query() {
                p.push('?');
                p.push_str(q);
            }
            Some(
                p.parse()
                    .map_err(|_| GatewayError::BadRequest("unusable request path"))?,
            )
        };
        Uri::from_parts(parts).map_err(|_| GatewayError::BadRequest("unusable request path"))
    }

    pub fn host_header(&self) -> HeaderValue {
        self.host.clone()
    }
}
