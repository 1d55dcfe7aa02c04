//! The databases a store test runs against: a fresh SQLite file always, and a fresh
//! PostgreSQL database on the server `BORDERLESS_TEST_POSTGRES_URL` names (required).

use std::path::Path;

/// `(label, url)` pairs; each PostgreSQL database is new and used by one test only.
pub async fn test_databases(dir: &Path) -> Vec<(&'static str, String)> {
    let mut out = vec![(
        "sqlite",
        format!("sqlite://{}", dir.join("directory.db").display()),
    )];
    if let Some(url) = postgres_database().await {
        out.push(("postgres", url));
    }
    out
}

/// A new, empty PostgreSQL database on the test server. Without a server the tests fail,
/// never skip quietly: `bash .ci/run` starts one (or run `bash .ci/postgres` and export the
/// URL it prints); `BORDERLESS_TEST_SKIP_POSTGRES=1` skips on purpose.
pub async fn postgres_database() -> Option<String> {
    use sqlx::Connection;
    let Ok(admin) = std::env::var("BORDERLESS_TEST_POSTGRES_URL") else {
        if std::env::var("BORDERLESS_TEST_SKIP_POSTGRES").as_deref() == Ok("1") {
            return None;
        }
        panic!(
            "BORDERLESS_TEST_POSTGRES_URL is not set: run `bash .ci/run`, or export the URL \
             `bash .ci/postgres` prints (BORDERLESS_TEST_SKIP_POSTGRES=1 skips PostgreSQL)"
        );
    };
    let name = format!("borderless_test_{}", uuid_like());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("BORDERLESS_TEST_POSTGRES_URL is set but the server does not answer");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Some(format!("{base}/{name}"))
}

fn uuid_like() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().r#gen();
    format!("{n:016x}")
}
