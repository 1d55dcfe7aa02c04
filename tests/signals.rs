//! Continuous access: a partner's Shared Signals transmitter pushes Security Event Tokens
//! (RFC 8935) that the test signs with the partner's key. A `session-revoked` for a guest
//! ends their session on the next request; an assurance drop makes the partner's MFA stop
//! counting (the gateway asks for its own); forged, replayed, stale, wrongly addressed and
//! other partners' events change nothing.

mod common;

use common::guests::{GuestEnv, Options};
use common::{APP_HOST, LOGIN_HOST};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::SecretKey;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::json;

const TRANSMITTER: &str = "https://ssf.fabrikam.example";
const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";

struct Transmitter {
    key: SecretKey,
    kid: &'static str,
}

impl Transmitter {
    fn new(kid: &'static str) -> Self {
        Self {
            key: SecretKey::random(&mut rand::rngs::OsRng),
            kid,
        }
    }

    fn jwks(&self) -> serde_json::Value {
        let mut jwk: serde_json::Value =
            serde_json::from_str(&self.key.public_key().to_jwk_string()).expect("jwk");
        jwk["kid"] = self.kid.into();
        jwk["alg"] = "ES256".into();
        jwk["use"] = "sig".into();
        json!({ "keys": [jwk] })
    }

    /// A SET with `claims` (iss, aud, iat and a fresh jti filled in unless given).
    fn sign(&self, mut claims: serde_json::Value) -> String {
        let now = borderless::session::now_unix();
        for (k, v) in [
            ("iss", json!(TRANSMITTER)),
            ("iat", json!(now)),
            ("jti", json!(uuid::Uuid::new_v4().to_string())),
        ] {
            if claims.get(k).is_none() {
                claims[k] = v;
            }
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.into());
        header.typ = Some("secevent+jwt".into());
        let pem = self.key.to_pkcs8_pem(LineEnding::LF).expect("pem");
        let key = EncodingKey::from_ec_pem(pem.as_bytes()).expect("key");
        jsonwebtoken::encode(&header, &claims, &key).expect("sign")
    }
}

struct Env {
    env: GuestEnv,
    partner: Transmitter,
    audience: String,
    /// Holds the partner's JWKS file (the CLI reads the config too).
    _keys: tempfile::TempDir,
}

async fn start() -> Env {
    let partner = Transmitter::new("fab-2026");
    let dir = tempfile::tempdir().expect("dir");
    let jwks = dir.path().join("fabrikam-ssf.json");
    std::fs::write(&jwks, partner.jwks().to_string()).expect("jwks");
    let keys = format!("jwks_file = \"{}\"", jwks.display());
    start_with(partner, dir, &keys).await
}

/// `keys`: the `jwks_file` or `jwks_url` line.
async fn start_with(partner: Transmitter, dir: tempfile::TempDir, keys: &str) -> Env {
    let env = GuestEnv::start_with(Options {
        extra: format!(
            r#"
[[partner]]
name = "fabrikam"
domains = ["fabrikam.example"]
providers = ["partner"]
[partner.mfa_trust]
amr = ["mfa"]
[partner.signals]
issuer = "{TRANSMITTER}"
{keys}

[[partner]]
name = "woodgrove"
domains = ["woodgrove.example"]
providers = ["partner"]

[[policy]]
name = "MFA for HR"
users = ["guests"]
apps = ["hr"]
require = ["mfa"]
"#
        ),
        ..Default::default()
    })
    .await;
    let audience = env.gw.url(LOGIN_HOST, "");
    Env {
        env,
        partner,
        audience,
        _keys: dir,
    }
}

impl Env {
    async fn redeem(&mut self, mail: &str, login: &str) -> common::Browser {
        let out = self.env.cli_json(&["invite", mail, "--app", "hr"]).await;
        assert_eq!(out["result"], "invited");
        let link = self.env.smtp().next_mail().await.redeem_link();
        let jarred = self.env.gw.json_browser();
        let browser = jarred.client.clone();
        assert_eq!(
            self.env.open_link(&browser, &link, login).await.status(),
            200
        );
        assert_eq!(self.env.consent(&browser, "accept").await.status(), 200);
        jarred
    }

    /// What the browser's app-host session cookie does now, without following redirects:
    /// "in" (the app answers) or where it is sent.
    async fn session_state(&self, browser: &common::Browser) -> String {
        let cookies = browser.cookies_for(&self.env.gw.url(APP_HOST, "/"));
        let r = self
            .env
            .gw
            .manual_client()
            .get(self.env.gw.url(APP_HOST, "/"))
            .header("cookie", cookies)
            .send()
            .await
            .expect("app");
        match r.status().as_u16() {
            200 => "in".into(),
            302 if common::location(&r).contains("/.borderless/signin") => "sign-in".into(),
            302 if common::location(&r).contains("/.borderless/mfa") => "mfa".into(),
            s => format!("{s} {}", common::location(&r)),
        }
    }

    async fn push(&self, set: &str) -> (u16, serde_json::Value) {
        let r = self
            .env
            .gw
            .manual_client()
            .post(self.env.gw.url(LOGIN_HOST, "/.borderless/ssf/events"))
            .header("content-type", "application/secevent+jwt")
            .body(set.to_string())
            .send()
            .await
            .expect("push");
        let status = r.status().as_u16();
        let body = r.text().await.expect("body");
        (status, serde_json::from_str(&body).unwrap_or(json!(null)))
    }

    fn event(
        &self,
        kind: &str,
        subject: serde_json::Value,
        extra: serde_json::Value,
    ) -> serde_json::Value {
        let mut payload =
            json!({ "subject": subject, "event_timestamp": borderless::session::now_unix() });
        if let (Some(p), Some(e)) = (payload.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        json!({ "aud": self.audience, "events": { format!("{CAEP}{kind}"): payload } })
    }
}

fn iss_sub(iss: &str, sub: &str) -> serde_json::Value {
    json!({ "format": "iss_sub", "iss": iss, "sub": sub })
}

#[tokio::test]
async fn session_revoked_ends_the_guests_sessions_and_attacks_change_nothing() {
    let mut e = start().await;
    let frank = e.redeem("frank@fabrikam.example", "frank").await;
    let grace = e.redeem("grace@woodgrove.example", "grace").await;
    assert_eq!(e.session_state(&frank).await, "in");
    let idp = e.env.idp.issuer.clone();
    let revoke_frank = e.event("session-revoked", iss_sub(&idp, "frank"), json!({}));

    // Forged: signed by a key the partner never published.
    let forged = Transmitter::new("fab-2026").sign(revoke_frank.clone());
    assert_eq!(
        e.push(&forged).await,
        (
            400,
            json!({"err": "invalid_key", "description": "the SET did not verify"})
        )
    );
    // Addressed to another receiver.
    let mut elsewhere = revoke_frank.clone();
    elsewhere["aud"] = json!("https://other-gateway.example");
    assert_eq!(
        e.push(&e.partner.sign(elsewhere)).await.1["err"],
        "invalid_audience"
    );
    // From an issuer no partner sends as.
    let mut stranger = revoke_frank.clone();
    stranger["iss"] = json!("https://ssf.evil.example");
    assert_eq!(
        e.push(&e.partner.sign(stranger)).await.1["err"],
        "invalid_issuer"
    );
    // A day old.
    let mut stale = revoke_frank.clone();
    stale["iat"] = json!(borderless::session::now_unix() - 2 * 86_400);
    assert_eq!(
        e.push(&e.partner.sign(stale)).await.1["err"],
        "invalid_request"
    );
    // Not a SET media type.
    let r = e
        .env
        .gw
        .manual_client()
        .post(e.env.gw.url(LOGIN_HOST, "/.borderless/ssf/events"))
        .header("content-type", "application/json")
        .body(e.partner.sign(revoke_frank.clone()))
        .send()
        .await
        .expect("push");
    assert_eq!(r.status(), 400);
    // Fabrikam speaking about Woodgrove's guest: accepted, ignored.
    let about_grace = e.event("session-revoked", iss_sub(&idp, "grace"), json!({}));
    assert_eq!(e.push(&e.partner.sign(about_grace)).await.0, 202);
    assert_eq!(
        e.session_state(&frank).await,
        "in",
        "no forged or misaddressed event ended it"
    );
    // Grace (Woodgrove's MFA is not trusted) is asked for the gateway's MFA: her session
    // is alive, not ended by Fabrikam's event.
    assert_eq!(
        e.session_state(&grace).await,
        "mfa",
        "another partner's guest is untouched"
    );

    // The real event: frank's session ends on the next request.
    let set = e.partner.sign(revoke_frank);
    assert_eq!(e.push(&set).await.0, 202);
    assert_eq!(
        e.session_state(&frank).await,
        "sign-in",
        "the session ended"
    );
    // The same SET again: a replay.
    assert_eq!(e.push(&set).await.1["err"], "invalid_request");

    let audit = e.env.cli_json(&["audit", "--since", "1h"]).await;
    let revoked: Vec<_> = audit
        .as_array()
        .expect("events")
        .iter()
        .filter(|a| a["action"] == "ssf.session_revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "{audit}");
    assert_eq!(revoked[0]["actor"], "partner:fabrikam");
}

#[tokio::test]
async fn an_assurance_drop_makes_the_partners_mfa_stop_counting() {
    let mut e = start().await;
    let frank = e.redeem("frank@fabrikam.example", "frank").await;
    assert_eq!(
        e.session_state(&frank).await,
        "in",
        "Fabrikam's MFA is trusted"
    );
    let idp = e.env.idp.issuer.clone();
    // An increase changes nothing.
    let up = e.event(
        "assurance-level-change",
        iss_sub(&idp, "frank"),
        json!({ "namespace": "NIST-AAL", "current_level": "aal2", "previous_level": "aal1", "change_direction": "increase" }),
    );
    assert_eq!(e.push(&e.partner.sign(up)).await.0, 202);
    assert_eq!(e.session_state(&frank).await, "in");
    // A decrease: the session stays, but the MFA app now asks for the gateway's own factor.
    let down = e.event(
        "assurance-level-change",
        json!({ "format": "email", "email": "frank@fabrikam.example" }),
        json!({ "namespace": "NIST-AAL", "current_level": "aal1", "previous_level": "aal2", "change_direction": "decrease" }),
    );
    assert_eq!(e.push(&e.partner.sign(down)).await.0, 202);
    assert_eq!(
        e.session_state(&frank).await,
        "mfa",
        "step-up, not a new sign-in"
    );
}

/// A transmitter's JWKS endpoint: serves `jwks`, counts the fetches.
struct JwksServer {
    url: String,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

async fn jwks_server(jwks: String) -> JwksServer {
    use std::sync::atomic::Ordering;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
    let body = std::sync::Arc::new(jwks);
    let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (b, f) = (body, fetches.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (b, f) = (b.clone(), f.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| {
                    f.fetch_add(1, Ordering::SeqCst);
                    let json = b.as_str().to_string();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/json")
                                .body(http_body_util::Full::new(bytes::Bytes::from(json)))
                                .expect("response"),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    JwksServer { url, fetches }
}

/// Keys from the transmitter's JWKS URL: fetched on first use; events with made-up key ids
/// do not make the gateway fetch again and again (at most once a minute); the partner's
/// real events verify against the fetched keys.
#[tokio::test]
async fn keys_come_from_the_jwks_url_without_a_refetch_storm() {
    use std::sync::atomic::Ordering;
    let partner = Transmitter::new("fab-2026");
    let server = jwks_server(partner.jwks().to_string()).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut e = start_with(partner, dir, &format!("jwks_url = \"{}\"", server.url)).await;
    let frank = e.redeem("frank@fabrikam.example", "frank").await;
    let idp = e.env.idp.issuer.clone();
    for kid in ["x1", "x2", "x3"] {
        let stranger = Transmitter::new(kid);
        let event = e.event("session-revoked", iss_sub(&idp, "frank"), json!({}));
        assert_eq!(e.push(&stranger.sign(event)).await.1["err"], "invalid_key");
    }
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        1,
        "one fetch, not one per event"
    );
    assert_eq!(e.session_state(&frank).await, "in");
    let revoke = e.event("session-revoked", iss_sub(&idp, "frank"), json!({}));
    assert_eq!(e.push(&e.partner.sign(revoke)).await.0, 202);
    assert_eq!(e.session_state(&frank).await, "sign-in");
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1);
}
