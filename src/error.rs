//! The one place where failures become HTTP responses. Every variant maps to a status and a
//! plain page with the request id; internals go to the log, never to the client.

use askama::Template;
use http::{Response, StatusCode};

use crate::response::{self, Body};

/// Where a failure came from, so the page and the log say the right thing.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("no app is configured for this address")]
    NotFound,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("access denied: {0}")]
    Forbidden(String),
    #[error("sign-in failed: {0}")]
    SignIn(String),
    #[error("sign-in is required")]
    Unauthorized,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("upstream failed: {0}")]
    BadGateway(String),
    #[error("upstream timed out")]
    GatewayTimeout,
    #[error("internal error: {0}")]
    Internal(String),
    /// A page that explains a refusal in its own words (invitation and directory states).
    #[error("{title}: {message}")]
    Notice {
        status: StatusCode,
        title: String,
        message: String,
    },
}

impl GatewayError {
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
    request_id: &'a str,
    retry_href: Option<&'a str>,
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::SignIn(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Notice { status, .. } => *status,
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
            Self::SignIn(_) => (
                "Sign-in did not complete",
                "We could not complete your sign-in. Please start again from the application."
                    .into(),
            ),
            Self::Unauthorized => (
                "Sign-in required",
                "Sign in to use this application.".into(),
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
            Self::Internal(_) => (
                "Something went wrong",
                "The gateway hit an internal error.".into(),
            ),
            Self::Notice { title, message, .. } => (title.as_str(), message.clone()),
        }
    }

    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let status = self.status();
        match &self {
            Self::Internal(_) | Self::BadGateway(_) => {
                tracing::error!(error = %self, "request failed")
            }
            Self::SignIn(_) => {
                tracing::warn!(target: "borderless::security", error = %self, "sign-in failed")
            }
            _ => tracing::info!(error = %self, "request refused"),
        }
        let (title, message) = self.public_text();
        let retry = matches!(self, Self::SignIn(_)).then_some("/.borderless/signin");
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            message: &message,
            request_id,
            retry_href: retry,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{title} (request id {request_id})"));
        response::html(status, body)
    }
}
