//! End-to-end sign-in against the real `oidc-provider`: code flow with PKCE through the
//! provider's own login and consent pages, then the identity headers the app receives.

mod common;

use common::oidc_provider::{NodeIdp, sign_in};
use common::{APP_HOST, GatewaySlot, LOGIN_HOST, TestGateway};

fn app_toml(idp_issuer: &str, echo: std::net::SocketAddr, port: u16, host: &str) -> String {
    format!(
        r#"
[[idp]]
id = "op"
kind = "oidc"
display_name = "Partner IdP"
issuer = "{idp_issuer}"
client_id = "op"
client_secret = "op-secret"
scopes = ["openid", "email", "profile", "groups"]
members = true

[idp.claims]
display = "name"

[[app]]
id = "hr"
display_name = "HR"
host = "{host}:{port}"
upstream = "http://{echo}"
websocket = true
assertion_header = "X-Borderless-Assertion"

[app.headers]
X-Remote-User = "email"
X-Remote-Name = "name"
X-Remote-Groups = "groups"
X-Display = "display"
"#
    )
}

fn accounts() -> serde_json::Value {
    serde_json::json!({
        "alice": { "email": "alice@fabrikam.test", "email_verified": true, "name": "Alice Fabrikam", "groups": ["partners", "hr-readers"] }
    })
}

async fn start(host: &str) -> (TestGateway, NodeIdp) {
    let echo = common::start_echo().await;
    let slot = GatewaySlot::new().await;
    let idp = NodeIdp::start(&slot.login_url(), "op", "op-secret", accounts()).await;
    let port = slot.port;
    let gw = slot
        .start("", &app_toml(&idp.issuer, echo, port, host))
        .await;
    (gw, idp)
}

use common::echoed as header;

#[tokio::test]
async fn guest_signs_in_at_real_provider_and_app_sees_identity_headers() {
    let (gw, _idp) = start(APP_HOST).await;
    let client = gw.client();
    let resp = sign_in(&client, &gw.url(APP_HOST, "/reports?q=1"), "alice").await;
    assert_eq!(resp.status(), 200, "final page: {:?}", resp.url());
    // Back on the page first asked for, on the app host (through a handoff from the login host).
    assert_eq!(resp.url().as_str(), gw.url(APP_HOST, "/reports?q=1"));
    let resp = client
        .get(gw.url(APP_HOST, "/whoami"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("app request");
    assert_eq!(
        resp.version(),
        http::Version::HTTP_2,
        "ALPN negotiates HTTP/2"
    );
    let json: serde_json::Value = resp.json().await.expect("echo json");
    assert_eq!(header(&json, "x-remote-user"), vec!["alice@fabrikam.test"]);
    assert_eq!(header(&json, "x-remote-name"), vec!["Alice Fabrikam"]);
    assert_eq!(
        header(&json, "x-remote-groups"),
        vec!["partners,hr-readers"]
    );
    assert_eq!(
        header(&json, "x-display"),
        vec!["Alice Fabrikam"],
        "per-IdP claim mapping"
    );
    assert_eq!(header(&json, "x-forwarded-proto"), vec!["https"]);
    assert_eq!(
        header(&json, "x-forwarded-host"),
        vec![format!("{APP_HOST}:{}", gw.port).as_str()]
    );
    assert_eq!(header(&json, "x-forwarded-for"), vec!["127.0.0.1"]);
    assert_eq!(header(&json, "x-request-id").len(), 1);
    // The gateway's cookies never reach the app.
    assert!(
        header(&json, "cookie")
            .iter()
            .all(|c| !c.contains("borderless")),
        "{json}"
    );

    // The signed assertion verifies against the published JWKS and names the app.
    let jwt = header(&json, "x-borderless-assertion")[0].to_string();
    let jwks: jsonwebtoken::jwk::JwkSet = client
        .get(gw.url(LOGIN_HOST, "/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let kid = jsonwebtoken::decode_header(&jwt)
        .expect("jwt header")
        .kid
        .expect("kid");
    let jwk = jwks.find(&kid).expect("kid published");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["hr"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        &jwt,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("decoding key"),
        &validation,
    )
    .expect("assertion verifies");
    assert_eq!(data.claims["email"], "alice@fabrikam.test");
    assert_eq!(data.claims["idp"], "op");
    let mut wrong_aud = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    wrong_aud.set_audience(&["other-app"]);
    assert!(
        jsonwebtoken::decode::<serde_json::Value>(
            &jwt,
            &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
            &wrong_aud
        )
        .is_err()
    );
    gw.stop().await;
}

#[tokio::test]
async fn app_on_login_host_needs_no_handoff_and_signout_ends_session() {
    let (gw, _idp) = start(LOGIN_HOST).await;
    let browser = gw.browser();
    let resp = sign_in(&browser.client, &gw.url(LOGIN_HOST, "/start"), "alice").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.url().as_str(), gw.url(LOGIN_HOST, "/start"));

    // Sign out: the gateway session ends and the browser goes to the provider's logout.
    let manual = gw.manual_client();
    let cookie = browser.cookies_for(&gw.url(LOGIN_HOST, "/"));
    assert!(cookie.contains("__Host-borderless_session="), "{cookie}");
    let signout = gw.url(LOGIN_HOST, "/.borderless/signout");
    // A GET (what a link or image on another site can trigger) only asks.
    let ask = manual
        .get(&signout)
        .header("cookie", &cookie)
        .send()
        .await
        .expect("ask");
    assert_eq!(ask.status(), 200);
    assert!(ask.text().await.expect("page").contains("method=\"post\""));
    // A POST from another origin is refused.
    let forged = manual
        .post(&signout)
        .header("cookie", &cookie)
        .header("origin", "https://evil.test")
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), 403);
    let still = manual
        .get(gw.url(LOGIN_HOST, "/start"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("still");
    assert_eq!(
        still.status(),
        200,
        "neither the GET nor the forged POST signed out"
    );
    // The page's own POST signs out.
    let out = manual
        .post(&signout)
        .header("cookie", &cookie)
        .header("origin", gw.url(LOGIN_HOST, ""))
        .send()
        .await
        .expect("signout");
    assert_eq!(out.status(), 302);
    let location = out.headers()["location"].to_str().expect("location");
    assert!(
        location.contains("/session/end"),
        "RP-initiated logout expected, got {location}"
    );
    assert!(location.contains("post_logout_redirect_uri="));
    let after = manual
        .get(gw.url(LOGIN_HOST, "/start"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("after");
    assert_eq!(
        after.status(),
        302,
        "a signed-out session must not reach the app"
    );
    assert!(
        after.headers()["location"]
            .to_str()
            .unwrap_or("")
            .contains("/.borderless/signin")
    );
    gw.stop().await;
}
