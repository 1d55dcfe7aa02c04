//! A stand-in OpenID Connect provider that signs whatever a test asks for: wrong issuer, wrong
//! audience, missing claims, `alg: none`, unknown keys, rotated keys. It speaks the real wire
//! format (discovery JSON, JWKS, authorization redirect, token and UserInfo JSON); only the
//! content is under the test's control. Real sign-ins are tested against `oidc-provider`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use p256::SecretKey;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use tokio::net::TcpListener;

pub const CLIENT_ID: &str = "fake";
pub const CLIENT_SECRET: &str = "fake-secret";

pub struct SigningKey {
    pub kid: String,
    pub key: SecretKey,
}

impl SigningKey {
    pub fn new(kid: &str) -> SigningKey {
        SigningKey {
            kid: kid.into(),
            key: SecretKey::random(&mut rand::rngs::OsRng),
        }
    }
    fn jwk(&self) -> serde_json::Value {
        let mut v: serde_json::Value =
            serde_json::from_str(&self.key.public_key().to_jwk_string()).expect("jwk");
        v["kid"] = self.kid.clone().into();
        v["alg"] = "ES256".into();
        v["use"] = "sig".into();
        v
    }
}

type Mutator = Box<dyn Fn(&mut serde_json::Map<String, serde_json::Value>) + Send>;

pub struct Scenario {
    /// Keys published at the JWKS endpoint.
    pub published: Vec<Arc<SigningKey>>,
    /// Key the ID token is signed with (may be unpublished).
    pub signer: Arc<SigningKey>,
    /// Changes applied to the ID token claims before signing.
    pub mutate: Mutator,
    /// Send an unsigned `alg: none` token.
    pub alg_none: bool,
    /// `sub` the UserInfo endpoint answers with (defaults to the ID token's).
    pub userinfo_sub: Option<String>,
    /// `name` the UserInfo endpoint answers with.
    pub userinfo_name: String,
    pub jwks_fetches: usize,
    /// `Cache-Control` on the JWKS response.
    pub jwks_cache_control: Option<&'static str>,
    /// The JWKS endpoint answers 503.
    pub jwks_down: bool,
    /// The token endpoint answers 503 with no JSON, as a proxy in front of a dead IdP does.
    pub token_down: bool,
    /// The `issuer` the discovery document names (Microsoft's multi-tenant template, say).
    pub discovery_issuer: Option<String>,
}

pub struct FakeIdp {
    pub issuer: String,
    pub scenario: Arc<Mutex<Scenario>>,
}

impl FakeIdp {
    pub async fn start() -> FakeIdp {
        Self::start_with_issuer_suffix("").await
    }

    /// An issuer that ends in `/`, as Auth0's do (`https://tenant.auth0.com/`).
    pub async fn start_with_trailing_slash() -> FakeIdp {
        Self::start_with_issuer_suffix("/").await
    }

    /// Over HTTPS with a certificate for 127.0.0.1 from a private CA; returns the CA (PEM).
    pub async fn start_tls() -> (FakeIdp, String) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().expect("ca key");
        let ca_cert = ca.self_signed(&ca_key).expect("ca");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .expect("leaf params")
            .signed_by(&leaf_key, &ca_cert, &ca_key)
            .expect("leaf");
        let key =
            rustls_pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("key der");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .expect("server config");
        let idp =
            Self::start_inner("", Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await;
        (idp, ca_cert.pem())
    }

    async fn start_with_issuer_suffix(suffix: &str) -> FakeIdp {
        Self::start_inner(suffix, None).await
    }

    async fn start_inner(suffix: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> FakeIdp {
        let l = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake idp");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!(
            "{scheme}://127.0.0.1:{}",
            l.local_addr().expect("addr").port()
        );
        let issuer = format!("{base}{suffix}");
        let key = Arc::new(SigningKey::new("key-1"));
        let scenario = Arc::new(Mutex::new(Scenario {
            published: vec![key.clone()],
            signer: key,
            mutate: Box::new(|_| {}),
            alg_none: false,
            userinfo_sub: None,
            userinfo_name: "User One".into(),
            jwks_fetches: 0,
            jwks_cache_control: None,
            jwks_down: false,
            token_down: false,
            discovery_issuer: None,
        }));
        let nonces: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let (iss, sc) = (issuer.clone(), scenario.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = l.accept().await else {
                    continue;
                };
                let (iss, base, sc, nonces) =
                    (iss.clone(), base.clone(), sc.clone(), nonces.clone());
                let tls = tls.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        handle(req, iss.clone(), base.clone(), sc.clone(), nonces.clone())
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(s), svc).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
            }
        });
        FakeIdp { issuer, scenario }
    }

    pub fn set(&self, f: impl FnOnce(&mut Scenario)) {
        f(&mut self.scenario.lock().expect("scenario"));
    }

    /// TOML for this provider as an `[[idp]]` with id `fake`, whose users are members (no
    /// invitation needed).
    pub fn idp_toml(&self) -> String {
        format!(
            "[[idp]]\nid = \"{CLIENT_ID}\"\nkind = \"oidc\"\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\nmembers = true\n",
            self.issuer
        )
    }
}

fn json(status: StatusCode, v: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn unavailable() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(
        b"<html>503 Service Unavailable</html>",
    )));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r
}

async fn handle(
    req: Request<Incoming>,
    issuer: String,
    base: String,
    sc: Arc<Mutex<Scenario>>,
    nonces: Arc<Mutex<HashMap<String, String>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    // Discovery under any path prefix (`/common/v2.0/.well-known/…`, as Microsoft's).
    let path = if path.ends_with("/.well-known/openid-configuration") {
        "/.well-known/openid-configuration".to_string()
    } else {
        path
    };
    let discovery_issuer = sc
        .lock()
        .expect("scenario")
        .discovery_issuer
        .clone()
        .unwrap_or_else(|| issuer.clone());
    Ok(match path.as_str() {
        "/.well-known/openid-configuration" => json(
            StatusCode::OK,
            serde_json::json!({
                "issuer": discovery_issuer,
                "authorization_endpoint": format!("{base}/authorize"),
                "token_endpoint": format!("{base}/token"),
                "userinfo_endpoint": format!("{base}/userinfo"),
                "jwks_uri": format!("{base}/jwks"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256", "none"],
            }),
        ),
        "/jwks" => {
            let mut s = sc.lock().expect("scenario");
            s.jwks_fetches += 1;
            if s.jwks_down {
                return Ok(unavailable());
            }
            let keys: Vec<_> = s.published.iter().map(|k| k.jwk()).collect();
            let mut r = json(StatusCode::OK, serde_json::json!({ "keys": keys }));
            if let Some(cc) = s.jwks_cache_control {
                r.headers_mut()
                    .insert("cache-control", http::HeaderValue::from_static(cc));
            }
            r
        }
        "/authorize" => {
            let code = format!("code-{}", rand::random::<u64>());
            nonces.lock().expect("nonces").insert(
                code.clone(),
                query.get("nonce").cloned().unwrap_or_default(),
            );
            let mut target = url::Url::parse(
                query
                    .get("redirect_uri")
                    .map(String::as_str)
                    .unwrap_or("http://invalid/"),
            )
            .expect("redirect uri");
            target
                .query_pairs_mut()
                .append_pair("code", &code)
                .append_pair(
                    "state",
                    query.get("state").map(String::as_str).unwrap_or(""),
                );
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::FOUND;
            r.headers_mut().insert(
                "location",
                http::HeaderValue::from_str(target.as_str()).expect("location"),
            );
            r
        }
        "/token" if sc.lock().expect("scenario").token_down => unavailable(),
        "/token" => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let form: HashMap<String, String> =
                url::form_urlencoded::parse(&body).into_owned().collect();
            let nonce = form
                .get("code")
                .and_then(|c| nonces.lock().expect("nonces").remove(c))
                .unwrap_or_default();
            let s = sc.lock().expect("scenario");
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("time")
                .as_secs();
            let mut claims = serde_json::Map::new();
            claims.insert("iss".into(), issuer.clone().into());
            claims.insert("aud".into(), CLIENT_ID.into());
            claims.insert("sub".into(), "user-1".into());
            claims.insert("iat".into(), now.into());
            claims.insert("exp".into(), (now + 300).into());
            claims.insert("nonce".into(), nonce.into());
            claims.insert("email".into(), "user1@partner.test".into());
            claims.insert("email_verified".into(), true.into());
            (s.mutate)(&mut claims);
            // The access token names its subject, so UserInfo answers for the same one.
            let access_token = format!(
                "at.{}",
                claims.get("sub").and_then(|v| v.as_str()).unwrap_or("")
            );
            let id_token = if s.alg_none {
                let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
                let p = URL_SAFE_NO_PAD.encode(serde_json::Value::Object(claims).to_string());
                format!("{h}.{p}.")
            } else {
                let pem = s.signer.key.to_pkcs8_pem(LineEnding::LF).expect("pem");
                let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).expect("key");
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
                header.kid = Some(s.signer.kid.clone());
                jsonwebtoken::encode(&header, &serde_json::Value::Object(claims), &key)
                    .expect("sign")
            };
            json(
                StatusCode::OK,
                serde_json::json!({ "access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token }),
            )
        }
        "/userinfo" => {
            let token_sub = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer at."))
                .map(str::to_string);
            let s = sc.lock().expect("scenario");
            let sub = s
                .userinfo_sub
                .clone()
                .or(token_sub)
                .unwrap_or_else(|| "user-1".into());
            json(
                StatusCode::OK,
                serde_json::json!({ "sub": sub, "email": "user1@partner.test", "name": s.userinfo_name, "groups": ["g1", "g2"] }),
            )
        }
        _ => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "error": "not_found" }),
        ),
    })
}
