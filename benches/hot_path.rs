//! The per-request hot path of an authenticated request, without sockets: cookie → session
//! cache hit → admission (cached user state) → scrub → identity headers (and, separately,
//! the signed assertion).

use std::sync::Arc;
use std::time::Duration;

use borderless::admission::{AccessCache, may_continue};
use borderless::config::AppConfig;
use borderless::config::file::AuthMode;
use borderless::directory::Directory;
use borderless::proxy::{claims, scrub};
use borderless::session::{NewSession, Session, SessionId, SessionManager, SqlSessionStore};
use borderless::web::cookies;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName, HeaderValue};

// The allocator the binary uses, so the figures match production.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn app() -> AppConfig {
    AppConfig {
        id: "hr".into(),
        display_name: "HR".into(),
        authority: "hr.test:443".into(),
        path_prefix: "/".into(),
        upstream: "http://127.0.0.1:9000".parse().expect("url"),
        upstream_ca: None,
        auth: AuthMode::Required,
        allowed_idps: vec![],
        sign_in_buttons: None,
        headers: vec![
            (HeaderName::from_static("x-remote-user"), "email".into()),
            (HeaderName::from_static("x-remote-name"), "name".into()),
            (HeaderName::from_static("x-remote-groups"), "groups".into()),
        ],
        assertion_header: None,
        assertion_claims: vec!["email".into(), "name".into(), "groups".into()],
        max_body_bytes: 1 << 20,
        websocket: false,
        preserve_host: false,
        assignment_required: false,
        owners: vec![],
    }
}

fn session(user_key: &str) -> Session {
    let now = borderless::session::now_unix();
    Session::from(NewSession {
        user_key: user_key.into(),
        idp: "op".into(),
        issuer: "https://idp.test".into(),
        subject: "alice".into(),
        attributes: [
            ("email".to_string(), vec!["alice@fabrikam.test".to_string()]),
            ("name".to_string(), vec!["Alice Fabrikam".to_string()]),
            (
                "groups".to_string(),
                vec!["partners".to_string(), "hr-readers".to_string()],
            ),
        ]
        .into_iter()
        .collect(),
        amr: vec!["pwd".into()],
        acr: None,
        auth_time: now,
        created_at: now,
        expires_at: now + 3600,
        mfa: None,
    })
}

fn request_headers(cookie: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("hr.test"));
    h.insert(
        "user-agent",
        HeaderValue::from_static("Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0"),
    );
    h.insert(
        "accept",
        HeaderValue::from_static("text/html,application/xhtml+xml"),
    );
    h.insert(
        "accept-language",
        HeaderValue::from_static("en-US,en;q=0.9"),
    );
    h.insert(
        "cookie",
        HeaderValue::from_str(&format!("app=1; __Host-borderless_session={cookie}"))
            .expect("cookie"),
    );
    h.insert("x-remote-user", HeaderValue::from_static("spoofed"));
    h
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = rt.block_on(SqlSessionStore::open(&url)).expect("store");
    let sessions = Arc::new(SessionManager::new(
        Arc::new(store),
        10_000,
        Duration::from_secs(300),
    ));
    let directory = rt.block_on(Directory::open(&url)).expect("directory");
    let user = rt
        .block_on(directory.create_member(
            "alice@fabrikam.test",
            "Alice Fabrikam",
            ("op", "https://idp.test", "alice"),
        ))
        .expect("member");
    let access = AccessCache::new(directory);
    let s = session(&user.id);
    let id = rt.block_on(sessions.create(s)).expect("create");
    let cookie = id.to_cookie();
    let app = app();
    let injected = scrub::InjectedNames::new(app.headers.iter().map(|(h, _)| h));
    let gateway_cookies = [
        "__Host-borderless_session".to_string(),
        "borderless_session".to_string(),
    ];
    let template = request_headers(&cookie);

    c.bench_function("hot_path_cookie_cache_policy_headers", |b| {
        b.to_async(&rt).iter(|| async {
            let mut headers = template.clone();
            let id = cookies::value(&headers, "__Host-borderless_session")
                .and_then(SessionId::from_cookie)
                .expect("cookie");
            scrub::scrub_request(&mut headers, &injected, &gateway_cookies, false);
            let s = sessions.get(&id).await.expect("store").expect("session");
            let user = access.user(s.user_key()).await.expect("access");
            let now = borderless::session::now_unix();
            assert!(may_continue(user.as_ref().as_ref(), &s, Some(&app), now).is_ok());
            claims::apply(&mut headers, &app.headers, &s);
            headers
        })
    });

    let signer = borderless::assertion::AssertionSigner::from_key(
        &p256::SecretKey::random(&mut rand::rngs::OsRng),
        "https://login.test",
        300,
    )
    .expect("signer");
    let s = session("https://idp.test#alice");
    let claims = app.assertion_claims.clone();
    c.bench_function("signed_assertion_es256_uncached", |b| {
        b.iter(|| signer.sign("hr", &claims, &s).expect("sign"))
    });
    let key = id.key();
    c.bench_function("signed_assertion_cached", |b| {
        b.iter(|| signer.assertion(key, "hr", &claims, &s).expect("assertion"))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
