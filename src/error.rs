//! The one place where failures become HTTP responses. Every variant maps to a status and a
//! plain page with the request id; internals go to the log, never to the client.

use askama::Template;
use http::{Response, StatusCode};

use crate::admission::Refusal;
use crate::response::{self, Body, BoxError};

pub use crate::error_chain::chain;

/// Where a failure came from, so the page and the log say the right thing.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("no app is configured for this address")]
    NotFound,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("access denied: {0}")]
    Forbidden(String),
    /// A sign-in step failed; `code` is stable (shown on the page, for support and tests),
    /// `detail` goes to the log only.
    #[error("sign-in failed ({code}): {detail}")]
    SignIn { code: &'static str, detail: String },
    #[error("sign-in is required")]
    Unauthorized,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("upstream failed: {0}")]
    BadGateway(String),
    #[error("upstream timed out")]
    GatewayTimeout,
    /// A rate limit said no; the client may try again after this many seconds.
    #[error("rate limited: {what}")]
    TooManyRequests {
        what: &'static str,
        retry_after_secs: u64,
    },
    /// The identity provider could not be reached (discovery, keys or token endpoint).
    #[error("identity provider unavailable: {0}")]
    IdpUnavailable(String),
    /// Anything the client cannot fix; the source goes to the log, never to the page.
    #[error("internal error")]
    Internal(#[source] BoxError),
    /// The admission decision said no; the refusal explains itself in its own words.
    #[error("refused: {}", .refusal.code())]
    Refused { refusal: Refusal, org: String },
    /// A page that explains a refusal in its own words (invitation and directory states).
    #[error("{title}: {message}")]
    Notice {
        status: StatusCode,
        title: String,
        message: String,
    },
}

impl GatewayError {
    /// An internal failure from a plain message (an invariant that did not hold).
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::Internal(msg.into().into())
    }

    pub fn sign_in(code: &'static str, detail: impl Into<String>) -> Self {
        Self::SignIn {
            code,
            detail: detail.into(),
        }
    }

    pub fn refused(refusal: Refusal, org: &str) -> Self {
        Self::Refused {
            refusal,
            org: org.to_string(),
        }
    }

    pub fn notice(status: StatusCode, title: &str, message: impl Into<String>) -> Self {
        Self::Notice {
            status,
            title: title.into(),
            message: message.into(),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
    /// The refusal's stable code, for support and the audit log.
    code: Option<&'a str>,
    request_id: &'a str,
    retry_href: Option<&'a str>,
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::SignIn { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::IdpUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Notice { status, .. } => *status,
            Self::Refused { refusal, .. } => refusal.status(),
        }
    }

    /// Title and message safe to show anyone.
    fn public_text(&self) -> (&str, String) {
        match self {
            Self::NotFound => (
                "Not found",
                "There is no application at this address.".into(),
            ),
            Self::BadRequest(why) => ("Bad request", format!("The request was refused: {why}.")),
            Self::Forbidden(why) => ("You do not have access", why.clone()),
            Self::SignIn { .. } => (
                "Sign-in did not complete",
                "We could not complete your sign-in. Please start again from the application."
                    .into(),
            ),
            Self::Unauthorized => (
                "Sign-in required",
                "Sign in to use this application.".into(),
            ),
            Self::MethodNotAllowed => (
                "Method not allowed",
                "The gateway does not accept this request method.".into(),
            ),
            Self::PayloadTooLarge => (
                "Request too large",
                "The request body is larger than this application accepts.".into(),
            ),
            Self::BadGateway(_) => (
                "Application unavailable",
                "The application did not answer correctly. Try again in a moment.".into(),
            ),
            Self::GatewayTimeout => (
                "Application timed out",
                "The application took too long to answer. Try again in a moment.".into(),
            ),
            Self::TooManyRequests { what, .. } => (
                "Too many requests",
                format!("Too many {what} from your address. Wait a minute and try again."),
            ),
            Self::IdpUnavailable(_) => (
                "Identity provider unavailable",
                "Your identity provider cannot be reached right now. Try again in a few minutes."
                    .into(),
            ),
            Self::Internal(_) => (
                "Something went wrong",
                "The gateway hit an internal error.".into(),
            ),
            Self::Notice { title, message, .. } => (title.as_str(), message.clone()),
            Self::Refused { refusal, org } => (refusal.title(), refusal.message(org)),
        }
    }

    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let status = self.status();
        match &self {
            Self::Internal(source) => {
                tracing::error!(error = %chain(source.as_ref()), "request failed: internal error")
            }
            Self::BadGateway(_) => tracing::error!(error = %self, "request failed"),
            Self::Refused { refusal, .. } => {
                tracing::info!(target: "borderless::security", code = refusal.code(), "refused")
            }
            Self::SignIn { .. } => {
                tracing::warn!(target: "borderless::security", error = %self, "sign-in failed")
            }
            Self::TooManyRequests { .. } => {
                tracing::warn!(target: "borderless::security", error = %self, "rate limited")
            }
            Self::IdpUnavailable(_) => tracing::error!(error = %self, "sign-in failed"),
            _ => tracing::info!(error = %self, "request refused"),
        }
        let (title, message) = self.public_text();
        let retry = matches!(self, Self::SignIn { .. } | Self::IdpUnavailable(_))
            .then_some("/.borderless/signin");
        let code = match &self {
            Self::Refused { refusal, .. } => Some(refusal.code()),
            Self::SignIn { code, .. } => Some(*code),
            _ => None,
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            message: &message,
            code,
            request_id,
            retry_href: retry,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{title} (request id {request_id})"));
        let mut resp = response::html(status, body);
        if let Self::TooManyRequests {
            retry_after_secs, ..
        } = self
        {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, retry_after_secs.into());
        }
        resp
    }
}

impl From<crate::rate_limit::Limited> for GatewayError {
    fn from(l: crate::rate_limit::Limited) -> Self {
        Self::TooManyRequests {
            what: l.what,
            retry_after_secs: l.retry_after_secs,
        }
    }
}

/// Failures of the stores and templates carry their source into the log through `?`.
macro_rules! internal_from {
    ($($t:ty),*) => {$(
        impl From<$t> for GatewayError {
            fn from(e: $t) -> Self {
                Self::Internal(Box::new(e))
            }
        }
    )*};
}
internal_from!(
    crate::directory::DirectoryError,
    crate::session::StoreError,
    askama::Error,
    jsonwebtoken::errors::Error
);
