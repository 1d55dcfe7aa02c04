//! The signed assertion apps verify: it carries only what its app maps, its key rotates
//! with an overlap in which apps verify old and new assertions alike, and a key file that
//! others can read is refused.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{APP_HOST, LOGIN_HOST, OTHER_HOST, TestGateway, echoed};

async fn start() -> (TestGateway, common::fake_idp::FakeIdp) {
    common::with_fake_idp("", |port, echo| {
        common::app_toml(
            "hr",
            APP_HOST,
            port,
            echo,
            "assertion_header = \"X-Assertion\"\n[app.headers]\nX-Remote-User = \"email\"",
        ) + &common::app_toml(
            "wiki",
            OTHER_HOST,
            port,
            echo,
            "assertion_header = \"X-Assertion\"\nassertion_claims = [\"email\", \"groups\"]",
        )
    })
    .await
}

/// A fresh sign-in's assertion at `host`.
async fn assertion(gw: &TestGateway, host: &str) -> String {
    let r = gw
        .json_browser()
        .client
        .get(gw.url(host, "/"))
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.expect("echo");
    echoed(&echo, "x-assertion")
        .first()
        .expect("assertion header")
        .to_string()
}

async fn jwks(gw: &TestGateway) -> jsonwebtoken::jwk::JwkSet {
    gw.manual_client()
        .get(gw.url(LOGIN_HOST, "/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json")
}

/// Verifies `jwt` for `aud` against `set`, as an app would; returns its claims.
fn verify(jwt: &str, aud: &str, set: &jsonwebtoken::jwk::JwkSet) -> Option<serde_json::Value> {
    let kid = jsonwebtoken::decode_header(jwt).ok()?.kid?;
    let jwk = set.find(&kid)?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&[aud]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).ok()?;
    jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &v)
        .ok()
        .map(|d| d.claims)
}

fn kid(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt)
        .expect("header")
        .kid
        .expect("kid")
}

#[tokio::test]
async fn an_assertion_carries_only_what_its_app_maps() {
    let (gw, _idp) = start().await;
    let set = jwks(&gw).await;
    let hr = verify(&assertion(&gw, APP_HOST).await, "hr", &set).expect("hr verifies");
    assert_eq!(hr["email"], "user1@partner.test");
    // The session holds a name and groups too (from UserInfo); hr maps neither.
    assert!(
        hr.get("groups").is_none() && hr.get("name").is_none(),
        "{hr}"
    );
    let wiki = verify(&assertion(&gw, OTHER_HOST).await, "wiki", &set).expect("wiki verifies");
    assert_eq!(wiki["groups"], serde_json::json!(["g1", "g2"]));
    assert!(wiki.get("name").is_none(), "{wiki}");
    gw.stop().await;
}

#[tokio::test]
async fn rotation_keeps_the_old_key_published_for_the_overlap() {
    let (gw, _idp) = start().await;
    let before = assertion(&gw, APP_HOST).await;
    assert_eq!(jwks(&gw).await.keys.len(), 1);

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_borderless"))
        .args(["assertion-key", "rotate", "--json", "--config"])
        .arg(&gw.config_path)
        .output()
        .await
        .expect("run the CLI");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let key_file = gw.dir.path().join("assertion.pem");
    let mode = std::fs::metadata(&key_file)
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the new key is private");

    borderless::reload(&gw.gw, &gw.config_path).expect("reload");
    let set = jwks(&gw).await;
    assert_eq!(set.keys.len(), 2, "old and new key published");
    let after = assertion(&gw, APP_HOST).await;
    assert_eq!(kid(&after), rotated["kid"].as_str().expect("kid"));
    assert_ne!(kid(&after), kid(&before));
    assert!(
        verify(&before, "hr", &set).is_some(),
        "an assertion from before verifies"
    );
    assert!(verify(&after, "hr", &set).is_some());

    // Deleting the previous key ends the overlap.
    std::fs::remove_file(borderless::assertion::previous_path(&key_file)).expect("rm");
    borderless::reload(&gw.gw, &gw.config_path).expect("reload");
    let set = jwks(&gw).await;
    assert_eq!(set.keys.len(), 1);
    assert!(verify(&before, "hr", &set).is_none());
    gw.stop().await;
}

#[tokio::test]
async fn a_key_file_others_can_read_is_refused() {
    let (gw, _idp) = start().await;
    let key_file = gw.dir.path().join("assertion.pem");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = borderless::reload(&gw.gw, &gw.config_path).expect_err("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("readable by group or others"), "{msg}");
    assert!(msg.contains("chmod 600"), "{msg}");
    // The running gateway keeps its key and goes on signing.
    assert_eq!(jwks(&gw).await.keys.len(), 1);
    assert!(!assertion(&gw, APP_HOST).await.is_empty());
    // A fresh start refuses it as well.
    let config = borderless::config::load(&gw.config_path).expect("config");
    let err = borderless::build(config)
        .await
        .err()
        .expect("build refused");
    assert!(format!("{err:#}").contains("chmod 600"));
    gw.stop().await;
}
