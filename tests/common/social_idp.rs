//! Stand-ins for GitHub and Facebook, which cannot run here. Each speaks its provider's wire
//! format, quirks included, and checks what the real one checks:
//!
//! - GitHub: `/login/oauth/authorize`, `POST /login/oauth/access_token` (errors come with
//!   status 200 and an `error` member; without `Accept: application/json` the answer is
//!   form-encoded), `GET /api/user` and `/api/user/emails` (a `User-Agent` is required).
//! - Facebook: `/v23.0/dialog/oauth`, `/v23.0/oauth/access_token` (errors are 400 with an
//!   `error` object), Graph `GET /v23.0/me?fields=…` with `appsecret_proof` checked.
//!
//! Both check the client secret, the redirect URI and the PKCE verifier, and honour each
//! code once.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

pub const CLIENT_ID: &str = "social-client";
pub const CLIENT_SECRET: &str = "social-secret";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Flavor {
    Github,
    Facebook,
}

/// The account that signs in next.
#[derive(Clone, Debug)]
pub struct Account {
    /// GitHub's numeric id, or Facebook's app-scoped id (digits).
    pub id: u64,
    pub login: String,
    pub name: String,
    /// GitHub: the address on the public profile, unverified and user-typed.
    pub public_email: Option<String>,
    /// GitHub: `/user/emails` as (address, primary, verified). Facebook: the first entry is
    /// the confirmed address Graph returns, if any.
    pub emails: Vec<(String, bool, bool)>,
}

#[derive(Default)]
pub struct Seen {
    /// Every authorization request's query.
    pub authorize: Vec<HashMap<String, String>>,
    /// Token requests refused, with the reason.
    pub refused: Vec<String>,
}

struct Grant {
    account: Account,
    redirect_uri: String,
    challenge: Option<String>,
}

struct State {
    account: Account,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, Account>,
    seen: Seen,
}

pub struct SocialIdp {
    pub flavor: Flavor,
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl SocialIdp {
    pub async fn start(flavor: Flavor, account: Account) -> SocialIdp {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://127.0.0.1:{}", l.local_addr().expect("addr").port());
        let state = Arc::new(Mutex::new(State {
            account,
            codes: HashMap::new(),
            tokens: HashMap::new(),
            seen: Seen::default(),
        }));
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = l.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(flavor, req, st.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        SocialIdp {
            flavor,
            base,
            state,
        }
    }

    pub fn sign_in_as(&self, account: Account) {
        self.state.lock().expect("state").account = account;
    }

    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.state.lock().expect("state").seen)
    }

    /// `[[idp]]` TOML with id `github` or `facebook`, endpoints pointing here.
    pub fn idp_toml(&self, extra: &str) -> String {
        let (id, api, authorize, token, api_url) = match self.flavor {
            Flavor::Github => (
                "github",
                "github",
                "/login/oauth/authorize",
                "/login/oauth/access_token",
                "/api",
            ),
            Flavor::Facebook => (
                "facebook",
                "facebook",
                "/v23.0/dialog/oauth",
                "/v23.0/oauth/access_token",
                "/v23.0",
            ),
        };
        let b = &self.base;
        format!(
            "[[idp]]\nid = \"{id}\"\nkind = \"oauth2\"\nprofile_api = \"{api}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\nauthorization_endpoint = \"{b}{authorize}\"\ntoken_endpoint = \"{b}{token}\"\napi_url = \"{b}{api_url}\"\n{extra}\n"
        )
    }
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_str(content_type).expect("content type"),
    );
    r
}

fn json(status: StatusCode, v: serde_json::Value) -> Response<Full<Bytes>> {
    respond(status, "application/json; charset=utf-8", v.to_string())
}

fn facebook_error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(
        status,
        serde_json::json!({"error": {"message": message, "type": "OAuthException", "code": 100, "fbtrace_id": "AbCdEf"}}),
    )
}

async fn handle(
    flavor: Flavor,
    req: Request<Incoming>,
    st: Arc<Mutex<State>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut s = st.lock().expect("state");
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    Ok(match (flavor, path.as_str()) {
        (Flavor::Github, "/login/oauth/authorize") | (Flavor::Facebook, "/v23.0/dialog/oauth") => {
            s.seen.authorize.push(query.clone());
            if query.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
                return Ok(respond(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    "unknown app".into(),
                ));
            }
            let code = format!("code{}", rand::random::<u64>());
            let redirect_uri = query.get("redirect_uri").cloned().unwrap_or_default();
            let grant = Grant {
                account: s.account.clone(),
                redirect_uri: redirect_uri.clone(),
                challenge: query.get("code_challenge").cloned(),
            };
            s.codes.insert(code.clone(), grant);
            let mut target = url::Url::parse(&redirect_uri).expect("redirect uri");
            target
                .query_pairs_mut()
                .append_pair("code", &code)
                .append_pair(
                    "state",
                    query.get("state").map(String::as_str).unwrap_or(""),
                );
            let mut r = respond(StatusCode::FOUND, "text/html", String::new());
            r.headers_mut().insert(
                "location",
                http::HeaderValue::from_str(target.as_str()).expect("location"),
            );
            r
        }
        (Flavor::Github, "/login/oauth/access_token")
        | (Flavor::Facebook, "/v23.0/oauth/access_token") => {
            let refusal = check_token_request(&mut s, &form);
            match (flavor, refusal) {
                (_, Ok(account)) => {
                    let token = format!("tok{}", rand::random::<u64>());
                    s.tokens.insert(token.clone(), account);
                    let accepts_json = headers
                        .get("accept")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.contains("application/json"));
                    match flavor {
                        // GitHub's default answer is form-encoded.
                        Flavor::Github if !accepts_json => respond(
                            StatusCode::OK,
                            "application/x-www-form-urlencoded",
                            format!(
                                "access_token={token}&scope=read%3Auser%2Cuser%3Aemail&token_type=bearer"
                            ),
                        ),
                        Flavor::Github => json(
                            StatusCode::OK,
                            serde_json::json!({"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}),
                        ),
                        Flavor::Facebook => json(
                            StatusCode::OK,
                            serde_json::json!({"access_token": token, "token_type": "bearer", "expires_in": 5183944}),
                        ),
                    }
                }
                (Flavor::Github, Err(reason)) => {
                    s.seen.refused.push(reason.clone());
                    json(
                        StatusCode::OK,
                        serde_json::json!({"error": "bad_verification_code", "error_description": reason, "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"}),
                    )
                }
                (Flavor::Facebook, Err(reason)) => {
                    s.seen.refused.push(reason.clone());
                    facebook_error(StatusCode::BAD_REQUEST, &reason)
                }
            }
        }
        (Flavor::Github, "/api/user" | "/api/user/emails") => {
            if headers.get("user-agent").is_none() {
                // GitHub refuses API requests without a User-Agent.
                return Ok(respond(
                    StatusCode::FORBIDDEN,
                    "text/plain",
                    "Request forbidden by administrative rules. Please make sure your request has a User-Agent header".into(),
                ));
            }
            let Some(account) = bearer.and_then(|t| s.tokens.get(&t).cloned()) else {
                return Ok(json(
                    StatusCode::UNAUTHORIZED,
                    serde_json::json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
                ));
            };
            if path == "/api/user" {
                json(
                    StatusCode::OK,
                    serde_json::json!({"login": account.login, "id": account.id, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": false, "name": account.name, "email": account.public_email, "company": "Partner Co"}),
                )
            } else {
                let list: Vec<_> = account
                    .emails
                    .iter()
                    .map(|(e, primary, verified)| serde_json::json!({"email": e, "primary": primary, "verified": verified, "visibility": "private"}))
                    .collect();
                json(StatusCode::OK, serde_json::Value::Array(list))
            }
        }
        (Flavor::Facebook, "/v23.0/me") => {
            let token = bearer.or_else(|| query.get("access_token").cloned());
            let Some((token, account)) =
                token.and_then(|t| s.tokens.get(&t).cloned().map(|a| (t, a)))
            else {
                return Ok(facebook_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid OAuth access token - Cannot parse access token",
                ));
            };
            let mut mac =
                <Hmac<Sha256> as Mac>::new_from_slice(CLIENT_SECRET.as_bytes()).expect("hmac");
            mac.update(token.as_bytes());
            let proof: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if query.get("appsecret_proof") != Some(&proof) {
                return Ok(facebook_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid appsecret_proof provided in the API argument",
                ));
            }
            let fields = query
                .get("fields")
                .cloned()
                .unwrap_or_else(|| "id,name".into());
            let mut me = serde_json::Map::new();
            for f in fields.split(',') {
                match f {
                    "id" => {
                        me.insert("id".into(), account.id.to_string().into());
                    }
                    "name" => {
                        me.insert("name".into(), account.name.clone().into());
                    }
                    "email" => {
                        if let Some((e, _, _)) = account.emails.first() {
                            me.insert("email".into(), e.clone().into());
                        }
                    }
                    _ => {}
                }
            }
            json(StatusCode::OK, serde_json::Value::Object(me))
        }
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found".into()),
    })
}

/// What both providers check before issuing a token: the app's secret, a code issued once
/// to this redirect URI, and the PKCE verifier that matches its challenge.
fn check_token_request(s: &mut State, form: &HashMap<String, String>) -> Result<Account, String> {
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return Err("incorrect client credentials".into());
    }
    let grant = form
        .get("code")
        .and_then(|c| s.codes.remove(c))
        .ok_or("The code passed is incorrect or expired.")?;
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return Err("redirect_uri mismatch".into());
    }
    if let Some(challenge) = &grant.challenge {
        let verifier = form.get("code_verifier").ok_or("code_verifier missing")?;
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if &computed != challenge {
            return Err("code_verifier does not match the challenge".into());
        }
    }
    Ok(grant.account)
}
