//! The admin API: JSON over HTTPS under `/.borderless/api/v1/`, described by the OpenAPI
//! document at `/.borderless/api/v1/openapi.json`.
//!
//! `POST /invitations` takes Microsoft Graph's invitation resource and answers in its shape,
//! so Graph scripts port with a URL change. Callers authenticate with an admin API key
//! (`Authorization: Bearer blk_…`, stored hashed, revocable). A signed-in user may call
//! `POST /invitations` with their session cookie when the collaboration settings let them
//! invite; such calls must be same-origin JSON, which a cross-site form cannot send.

mod handlers;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Serialize;

use crate::directory::{Actor, DirectoryError};
use crate::invite::InviteError;
use crate::response::{self, Body};
use crate::state::{Gateway, RequestCtx, Runtime, SessionCheck};

pub const OPENAPI: &str = include_str!("openapi.json");

/// JSON bodies above this are refused; bulk CSV uploads get `MAX_CSV`.
const MAX_JSON: usize = 1024 * 1024;
const MAX_CSV: usize = 8 * 1024 * 1024;

/// An API failure, answered as `{"error": {"code", "message", "requestId"}}` like Graph.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds for `Retry-After`, on a 429.
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A rate limit said no.
    pub fn too_many(what: &str, retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                format!("too many {what}; try again in {retry_after_secs} s"),
            )
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    /// A failure the caller cannot fix: the cause goes to the log with the request id, the
    /// answer says only that it happened.
    pub fn internal(source: impl std::error::Error) -> Self {
        tracing::error!("admin API internal error: {}", crate::error::chain(&source));
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "the gateway hit an internal error; quote the request id to its operators",
        )
    }

    fn into_response(self, request_id: &str) -> Response<Body> {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message, "requestId": request_id }
        });
        let mut resp = response::json(self.status, body.to_string());
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        resp
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::NotFound(what) => Self::not_found(format!("{what} not found")),
            DirectoryError::Invalid(why) => Self::bad_request(why),
            other => Self::internal(other),
        }
    }
}

impl From<crate::rate_limit::Limited> for ApiError {
    fn from(l: crate::rate_limit::Limited) -> Self {
        Self::too_many(l.what, l.retry_after_secs)
    }
}

impl From<InviteError> for ApiError {
    fn from(e: InviteError) -> Self {
        match e {
            InviteError::Invalid(why) => Self::bad_request(why),
            InviteError::Forbidden(why) => Self::new(StatusCode::FORBIDDEN, "Forbidden", why),
            InviteError::Directory(d) => d.into(),
        }
    }
}

pub type ApiResult = Result<Response<Body>, ApiError>;

pub fn ok_json<T: Serialize>(status: StatusCode, v: &T) -> ApiResult {
    let body = serde_json::to_string(v).map_err(ApiError::internal)?;
    Ok(response::json(status, body))
}

/// Every `/.borderless/api/v1/…` request.
pub async fn handle(
    gw: &Gateway,
    rt: &Runtime,
    req: Request<Incoming>,
    ctx: &RequestCtx,
    path: &str,
) -> Response<Body> {
    if path == "/openapi.json" && req.method() == Method::GET {
        let mut r = response::json(StatusCode::OK, OPENAPI.to_string());
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        return r;
    }
    let result = async {
        let actor = authenticate(gw, rt, &req, ctx, path).await?;
        let method = req.method().clone();
        let query = req.uri().query().map(str::to_string);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let limit = if path == "/invitations/bulk" {
            MAX_CSV
        } else {
            MAX_JSON
        };
        let body = read_body(req, limit).await?;
        let call = handlers::Call {
            gw,
            rt,
            actor: &actor,
            method: &method,
            path,
            query: query.as_deref(),
            content_type: &content_type,
            body: &body,
        };
        handlers::route(call).await
    }
    .await;
    let mut resp = result.unwrap_or_else(|e| e.into_response(&ctx.request_id));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLarge",
                format!("the request body is larger than {limit} bytes or was cut off"),
            )
        })
}

/// An admin key, or (for inviting only) a signed-in user's same-origin JSON request.
async fn authenticate(
    gw: &Gateway,
    rt: &Runtime,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
    path: &str,
) -> Result<Actor, ApiError> {
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "send an admin API key as `Authorization: Bearer <key>`",
        )
    };
    if let Some(auth) = req.headers().get(header::AUTHORIZATION) {
        let key = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(unauthorized)?;
        // Key guessing is limited per client in memory: a refused guess costs no database
        // read, and a wrong one no write.
        let client = rt.client_ip(req.headers(), ctx);
        if rt.rate_limits.api_key_blocked(client) {
            return Err(ApiError::too_many("wrong API keys", 60));
        }
        return match gw.directory.verify_admin_key(key).await? {
            Some(name) => Ok(Actor::ApiKey(name)),
            None => {
                rt.rate_limits.api_key_failed(client);
                tracing::warn!(target: "borderless::security", %client, "admin API: unknown or revoked key");
                Err(unauthorized())
            }
        };
    }
    let session = match gw.session_check(rt, req.headers(), None).await {
        Ok(SessionCheck::Admitted(_, s)) => s,
        Ok(_) => return Err(unauthorized()),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    if path != "/invitations" || req.method() != Method::POST {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "signed-in users may only create invitations; other calls need an admin API key",
        ));
    }
    if !json || !crate::web::request::same_origin(req, &ctx.host) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "cookie-authenticated calls must be same-origin application/json requests",
        ));
    }
    Ok(Actor::User {
        id: session.user_key().to_string(),
        mail: session.first("mail").unwrap_or_default().to_string(),
    })
}
