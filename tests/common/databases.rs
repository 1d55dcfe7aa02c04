//! The databases a store test runs against: a fresh SQLite file always, and a fresh
//! PostgreSQL database when `BORDERLESS_TEST_POSTGRES_URL` names a server (CI always does).

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

/// A new, empty PostgreSQL database on the test server, or `None` without one.
pub async fn postgres_database() -> Option<String> {
    use sqlx::Connection;
    let admin = std::env::var("BORDERLESS_TEST_POSTGRES_URL").ok()?;
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
