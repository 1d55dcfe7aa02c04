//! Sessions: opaque `__Host-` cookies, a new id at every sign-in, revocation on the very next
//! request (one session or all of a user's), survival across a gateway restart.

mod common;

use common::fake_idp::FakeIdp;
use common::{APP_HOST, GatewaySlot, LOGIN_HOST, TestGateway};

fn sections(idp: &FakeIdp, echo: std::net::SocketAddr, port: u16) -> String {
    format!(
        "{}\n[[app]]\nid = \"hr\"\nhost = \"{APP_HOST}:{port}\"\nupstream = \"http://{echo}\"\n[app.headers]\nX-Remote-User = \"email\"\n",
        idp.idp_toml()
    )
}

async fn start() -> (TestGateway, FakeIdp, std::net::SocketAddr) {
    let echo = common::start_echo().await;
    let idp = FakeIdp::start().await;
    let s = |port| sections(&idp, echo, port);
    let gw = TestGateway::start("", s).await;
    (gw, idp, echo)
}

fn session_id(cookies: &str) -> Option<String> {
    cookies
        .split("; ")
        .find_map(|c| c.strip_prefix("__Host-borderless_session="))
        .map(str::to_string)
}

#[tokio::test]
async fn cookie_is_opaque_host_only_and_renewed_at_every_sign_in() {
    let (gw, _idp, _) = start().await;
    let manual = gw.manual_client();
    // Walk the flow by hand to see the Set-Cookie headers.
    let b = gw.browser();
    let walk = b.manual(&gw);
    let mut url = gw.url(APP_HOST, "/");
    let mut set_cookies = Vec::new();
    for _ in 0..8 {
        let r = walk.get(&url).send().await.expect("hop");
        for v in r.headers().get_all("set-cookie") {
            set_cookies.push(v.to_str().expect("cookie").to_string());
        }
        match r.headers().get("location") {
            Some(l) => url = l.to_str().expect("loc").to_string(),
            None => break,
        }
    }
    let session: Vec<&String> = set_cookies
        .iter()
        .filter(|c| c.starts_with("__Host-borderless_session=") && !c.contains("Max-Age=0"))
        .collect();
    assert_eq!(
        session.len(),
        2,
        "one for the login host, one for the app host: {set_cookies:?}"
    );
    for c in &session {
        for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(c.contains(attr), "{c} lacks {attr}");
        }
        assert!(
            !c.to_ascii_lowercase().contains("domain="),
            "host-only: {c}"
        );
        let value = c
            .split(';')
            .next()
            .expect("value")
            .split_once('=')
            .expect("kv")
            .1;
        assert_eq!(
            value.len(),
            43,
            "256-bit base64url id, not a claims blob: {value}"
        );
    }

    // Signing in again issues a new id (no fixation), and a planted id is never adopted:
    // an attacker plants a session cookie on both hosts of the browser that then signs in.
    let first = session_id(&b.cookies_for(&gw.url(LOGIN_HOST, "/"))).expect("first id");
    let planted = "A".repeat(43);
    let victim = gw.browser();
    for host in [LOGIN_HOST, APP_HOST] {
        let url = url::Url::parse(&gw.url(host, "/")).expect("url");
        victim.jar.add_cookie_str(
            &format!("__Host-borderless_session={planted}; Path=/; Secure"),
            &url,
        );
    }
    assert_eq!(
        session_id(&victim.cookies_for(&gw.url(APP_HOST, "/"))).as_deref(),
        Some(planted.as_str()),
        "the planted cookie is in the browser"
    );
    let r = victim
        .client
        .get(gw.url(APP_HOST, "/"))
        .send()
        .await
        .expect("sign-in with a planted cookie");
    assert_eq!(r.status(), 200);
    for host in [LOGIN_HOST, APP_HOST] {
        let now = session_id(&victim.cookies_for(&gw.url(host, "/"))).expect("session id");
        assert_ne!(now, planted, "{host} adopted the planted id");
        assert_ne!(now, first);
    }
    // The planted id names no session.
    let r = manual
        .get(gw.url(APP_HOST, "/"))
        .header("cookie", format!("__Host-borderless_session={planted}"))
        .send()
        .await
        .expect("planted alone");
    assert_eq!(r.status(), 302);
    gw.stop().await;
}

#[tokio::test]
async fn revoked_sessions_are_sent_to_sign_in_on_the_next_request() {
    let (gw, _idp, _) = start().await;
    let b = gw.browser();
    assert_eq!(
        common::status_of(&b.client, &gw.url(APP_HOST, "/")).await,
        200
    );
    let cookie = b.cookies_for(&gw.url(APP_HOST, "/"));
    let manual = gw.manual_client();
    let ok = manual
        .get(gw.url(APP_HOST, "/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("ok");
    assert_eq!(ok.status(), 200, "session works (and is now cached)");

    // Revoke every session of the user while the session sits in the cache.
    // Sessions are keyed by the directory user, found here by the pinned identity.
    let user = gw
        .gw
        .directory
        .user_by_identity(&_idp.issuer, "user-1")
        .await
        .expect("directory")
        .expect("member created at sign-in")
        .id;
    let revoked = gw.gw.sessions.revoke_user(&user).await.expect("revoke");
    assert_eq!(revoked, 1);
    let r = manual
        .get(gw.url(APP_HOST, "/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("after revoke");
    assert_eq!(r.status(), 302, "next request goes to sign-in");
    assert!(
        r.headers()["location"]
            .to_str()
            .expect("loc")
            .contains("/.borderless/signin")
    );
    // The stale cookie is cleared.
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap_or("").contains("Max-Age=0"))
    );
    // Non-navigation requests get 401 instead of a redirect.
    let r = manual
        .post(gw.url(APP_HOST, "/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);

    // Revoking a single session by id works the same way.
    let b2 = gw.browser();
    assert_eq!(
        common::status_of(&b2.client, &gw.url(APP_HOST, "/")).await,
        200
    );
    let cookie2 = b2.cookies_for(&gw.url(APP_HOST, "/"));
    let id = borderless::session::SessionId::from_cookie(&session_id(&cookie2).expect("id"))
        .expect("parse");
    gw.gw.sessions.revoke(&id).await.expect("revoke one");
    let r = manual
        .get(gw.url(APP_HOST, "/"))
        .header("cookie", &cookie2)
        .send()
        .await
        .expect("after");
    assert_eq!(r.status(), 302);
    gw.stop().await;
}

#[tokio::test]
async fn sessions_survive_a_gateway_restart() {
    let echo = common::start_echo().await;
    let idp = FakeIdp::start().await;
    let slot = GatewaySlot::new().await;
    let (dir, pki) = (slot.dir.clone(), slot.pki.clone());
    let port = slot.port;
    let gw = slot.start("", &sections(&idp, echo, port)).await;
    let b = gw.browser();
    assert_eq!(
        common::status_of(&b.client, &gw.url(APP_HOST, "/")).await,
        200
    );
    let cookie = b.cookies_for(&gw.url(APP_HOST, "/"));
    gw.stop().await;

    // A new gateway process-equivalent on the same database (new port, new caches).
    let slot = GatewaySlot::in_dir(dir, pki).await;
    let port = slot.port;
    let gw2 = slot.start("", &sections(&idp, echo, port)).await;
    let r = gw2
        .manual_client()
        .get(gw2.url(APP_HOST, "/"))
        .header("cookie", &cookie)
        .header("accept", "application/json")
        .send()
        .await
        .expect("after restart");
    assert_eq!(r.status(), 200, "the session was read back from SQLite");
    let json: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        common::echoed(&json, "x-remote-user"),
        vec!["user1@partner.test"]
    );
    gw2.stop().await;
}

#[tokio::test]
async fn garbage_session_cookies_are_treated_as_no_session() {
    let (gw, _idp, _) = start().await;
    for value in [
        "",
        "x",
        &"A".repeat(43),
        &"!".repeat(43),
        &"A".repeat(10_000),
    ] {
        let r = gw
            .manual_client()
            .get(gw.url(APP_HOST, "/"))
            .header("cookie", format!("__Host-borderless_session={value}"))
            .send()
            .await
            .expect("request");
        assert!(
            r.status() == 302 || r.status() == 431,
            "{value:.20}: {}",
            r.status()
        );
    }
    gw.stop().await;
}
