//! Following the directory's revocation feed: when any process (the CLI, another gateway
//! instance, the admin API) ends a user's sessions or changes their access, it appends the
//! user to the `revocations` table; every gateway polls it and drops what it cached for that
//! user (sessions, assigned apps) within `POLL`.
//!
//! On PostgreSQL a sequence number can become visible after a higher one (transactions
//! commit out of order), so each poll re-reads a short window below the highest number seen
//! and skips the entries it already handled.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::state::Gateway;

/// How often the feed is read.
pub const POLL: Duration = Duration::from_millis(500);
/// How long entries stay in the table; every live process has read them long before.
pub const KEEP: Duration = Duration::from_secs(3600);
/// How far below the highest seen number each poll looks again.
const LOOKBACK: i64 = 64;
/// How many handled numbers are remembered (well above LOOKBACK).
const REMEMBER: usize = 1024;

/// Started by `build`; ends when the gateway is dropped.
pub fn follow(gw: &Arc<Gateway>) {
    let weak = Arc::downgrade(gw);
    let dir = gw.directory.clone();
    tokio::spawn(async move {
        // Entries older than this process concern nothing it has cached.
        let start = loop {
            match dir.last_revocation().await {
                Ok(s) => break s,
                Err(e) => {
                    tracing::warn!("reading the revocation feed failed: {e}");
                    tokio::time::sleep(POLL).await;
                }
            }
        };
        let mut seen: BTreeSet<i64> = BTreeSet::new();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(gw) = weak.upgrade() else { return };
            let low = seen.last().map_or(start, |max| (max - LOOKBACK).max(start));
            match dir.revocations_since(low).await {
                Ok(entries) => {
                    for (seq, user) in entries {
                        if seen.insert(seq) {
                            gw.sessions.forget_user(&user);
                            gw.access.invalidate(&user).await;
                        }
                    }
                    while seen.len() > REMEMBER {
                        seen.pop_first();
                    }
                }
                Err(e) => tracing::warn!("reading the revocation feed failed: {e}"),
            }
        }
    });
}
