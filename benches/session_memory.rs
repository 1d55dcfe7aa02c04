//! Memory per cached session: the resident set before and after `N` sessions, as the sign-in
//! plane builds them (IdP claims plus the directory's view of the user), enter the session
//! cache. The store discards what it is given, so only the cache is measured.
//!
//! `cargo bench --bench session_memory -- --sessions 1000000` prints the figure (`--raw`:
//! the same sessions in a plain `Vec`, to tell the sessions from the cache's own cost);
//! under `cargo test` (no `--bench`) it runs 2 000 sessions as a smoke test.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use borderless::session::{
    NewSession, Session, SessionId, SessionKey, SessionManager, SessionStore, StoreError,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct NullStore;

#[async_trait]
impl SessionStore for NullStore {
    async fn insert(&self, _: SessionKey, _: &Session) -> Result<(), StoreError> {
        Ok(())
    }
    async fn get(&self, _: SessionKey) -> Result<Option<Session>, StoreError> {
        Ok(None)
    }
    async fn delete(&self, _: SessionKey) -> Result<(), StoreError> {
        Ok(())
    }
    async fn delete_user(&self, _: &str) -> Result<Vec<SessionKey>, StoreError> {
        Ok(Vec::new())
    }
    async fn purge_expired(&self, _: i64) -> Result<u64, StoreError> {
        Ok(0)
    }
}

/// A guest's session with realistic sizes: a partner IdP's claims and the directory's
/// attributes, as `signin::complete::new_session` makes them.
fn session(i: usize) -> Session {
    let now = borderless::session::now_unix();
    let user_id = format!("{:08x}-1f3a-4c2e-9b7d-{:012x}", i, i * 7);
    let mail = format!("guest{i}@fabrikam.example");
    let attributes = [
        ("subject", vec![format!("00u{i:017}")]),
        ("email", vec![mail.clone()]),
        ("email_verified", vec!["true".to_string()]),
        ("name", vec![format!("Guest Number {i}")]),
        (
            "groups",
            vec!["partners".to_string(), "hr-readers".to_string()],
        ),
        ("user_id", vec![user_id.clone()]),
        (
            "upn",
            vec![format!("guest{i}_fabrikam.example#EXT#@contoso.example")],
        ),
        ("user_type", vec!["Guest".to_string()]),
        ("mail", vec![mail]),
        ("display_name", vec![format!("Guest Number {i}")]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Session::from(NewSession {
        user_key: user_id,
        idp: "fabrikam".into(),
        issuer: "https://login.fabrikam.example/oauth2/default".into(),
        subject: format!("00u{i:017}"),
        attributes,
        amr: vec!["pwd".into()],
        acr: None,
        auth_time: now,
        created_at: now,
        expires_at: now + 8 * 3600,
        mfa: None,
    })
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let n: usize = args
        .iter()
        .position(|a| a == "--sessions")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { 200_000 } else { 2_000 });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let manager = SessionManager::new(Arc::new(NullStore), n as u64 * 2, Duration::from_secs(3600));
        // Warm up allocator arenas and the cache's structures before the baseline.
        let warm = manager.create(session(n + 1)).await.expect("create");
        let _ = manager.get(&warm).await;
        if args.iter().any(|a| a == "--raw") {
            // The sessions alone, without the cache: what the cache itself costs is the rest.
            let mut raw = Vec::with_capacity(n);
            let before = resident_bytes();
            for i in 0..n {
                raw.push(Arc::new(session(i)));
            }
            let after = resident_bytes();
            println!(
                "{n} sessions outside any cache: {:.0} bytes each (the struct itself: {} bytes)",
                (after.saturating_sub(before)) as f64 / n as f64,
                std::mem::size_of::<Session>()
            );
            return;
        }
        // The ids are the clients' cookies, not the gateway's memory: their slots are
        // written before the baseline so they do not count.
        let mut ids: Vec<Option<SessionId>> = vec![None; n];
        let before = resident_bytes();
        for (i, slot) in ids.iter_mut().enumerate() {
            *slot = Some(manager.create(session(i)).await.expect("create"));
        }
        // Every one is a hit: they are all held.
        let mut held = 0;
        for id in ids.iter().step_by((n / 100).max(1)).flatten() {
            if manager.get(id).await.expect("get").is_some() {
                held += 1;
            }
        }
        let after = resident_bytes();
        let per = (after.saturating_sub(before)) as f64 / n as f64;
        println!(
            "{n} sessions: RSS {:.1} MB -> {:.1} MB, {per:.0} bytes per cached session ({held} of {} sampled held); the whole process: {:.1} MB",
            before as f64 / 1e6,
            after as f64 / 1e6,
            ids.iter().step_by((n / 100).max(1)).count(),
            after as f64 / 1e6,
        );
        assert!(held > 0, "the sessions are cached");
        drop(ids);
    });
}
