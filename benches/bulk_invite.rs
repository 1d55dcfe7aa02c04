//! Bulk invitation of 2000 guests (Azure's per-file maximum) from CSV: parse, check every
//! row, write users, invitations and audit events in one transaction, queue the emails.
//! The target is under 2 s on SQLite. The emails are queued to an SMTP server that is not
//! there (a closed port), so delivery runs and fails in the background as it would with a
//! slow relay; what is measured is the operator's wait for the directory writes.
//!
//! With `BORDERLESS_TEST_POSTGRES_URL` set, the same runs against a fresh PostgreSQL database.

use std::sync::Arc;

use borderless::directory::{Actor, Directory};
use borderless::invite::Inviter;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROWS: usize = 2000;

/// A database URL for a benchmark sample in this folder (`None`: backend not available).
type UrlFor<'a> = dyn Fn(&std::path::Path) -> Option<String> + 'a;

fn csv() -> Vec<u8> {
    let mut s = String::from(
        "Email address to invite [inviteeEmail] Required,Display name [invitedUserDisplayName],Redirection url [inviteRedirectURL] Required,Send invitation message (true or false) [sendEmail],Customized invitation message [customizedMessageBody]\n",
    );
    for i in 0..ROWS {
        s.push_str(&format!(
            "guest{i}@partner{}.example,Guest {i},https://hr.contoso.example/,true,Welcome to the project\n",
            i % 50
        ));
    }
    s.into_bytes()
}

fn config(dir: &std::path::Path, db: &str) -> borderless::config::Config {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let toml = format!(
        r#"version = 1
[gateway]
public_url = "https://login.contoso.example"
database_url = "{db}"
[[listener]]
bind = "127.0.0.1:0"
redirect_to_https = true
[directory]
organization = "Contoso"
tenant_domain = "contoso.example"
[smtp]
host = "127.0.0.1"
port = {closed_port}
security = "none"
from = "Contoso <invites@contoso.example>"
timeout_secs = 1
[[app]]
id = "hr"
host = "hr.contoso.example"
upstream = "http://127.0.0.1:9"
auth = "none"
"#
    );
    let path = dir.join("bench.toml");
    std::fs::write(&path, toml).expect("write config");
    borderless::config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

async fn fresh(url: &str, dir: &std::path::Path) -> Inviter {
    let dir_ = Directory::open(url).await.expect("directory");
    Inviter::new(dir_, Arc::new(config(dir, url))).expect("inviter")
}

async fn postgres_url() -> Option<String> {
    use sqlx::Connection;
    let admin = std::env::var("BORDERLESS_TEST_POSTGRES_URL").ok()?;
    let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
    let name = format!("borderless_bench_{}", rand::random::<u32>());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .ok()?;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Some(format!("{base}/{name}"))
}

fn bulk_invite(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let data = csv();
    let mut group = c.benchmark_group("bulk_invite");
    group.sample_size(10);
    let sqlite =
        |dir: &std::path::Path| Some(format!("sqlite://{}", dir.join("bench.db").display()));
    let postgres = |_: &std::path::Path| rt.block_on(postgres_url());
    let mut backends: Vec<(&str, &UrlFor)> = vec![("sqlite_2000_rows", &sqlite)];
    if rt.block_on(postgres_url()).is_some() {
        backends.push(("postgres_2000_rows", &postgres));
    }
    for (name, url_for) in backends {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("dir");
                    let url = url_for(dir.path()).expect("database");
                    let inviter = rt.block_on(fresh(&url, dir.path()));
                    (dir, inviter)
                },
                |(_dir, inviter)| {
                    rt.block_on(async {
                        let (report, _mail) =
                            inviter.invite_csv(&Actor::Cli, &data).await.expect("bulk");
                        assert_eq!(report.invited, ROWS);
                    })
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bulk_invite);
criterion_main!(benches);
