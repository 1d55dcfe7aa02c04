//! Upgraded connections (WebSockets): the two sides are spliced byte for byte, and the
//! tunnel lasts only as long as the session that opened it. It ends within one revocation
//! feed interval of a revocation, sign-out, disable, removal, unassignment or expiry,
//! because it asks the same admission decision as every request, on that interval.

use std::sync::{Arc, Weak};

use hyper_util::rt::TokioIo;

use crate::admission::AppVisit;
use crate::policy::Platform;
use crate::revocation_feed::POLL;
use crate::session::SessionId;
use crate::state::{Gateway, SessionCheck};

/// The session a tunnel belongs to, and where the request that opened it came from.
pub struct SessionWatch {
    pub gateway: Weak<Gateway>,
    pub session: SessionId,
    pub app_id: String,
    pub ip: std::net::IpAddr,
    pub platform: Platform,
}

/// Joins the client's connection, once it has switched protocols, to the app's, which
/// already has; with a watch, drops both when the session ends.
pub fn splice(
    client: hyper::upgrade::OnUpgrade,
    mut upstream: super::upstream::Switched,
    watch: Option<SessionWatch>,
) {
    tokio::spawn(async move {
        let mut c = match client.await {
            Ok(c) => TokioIo::new(c),
            Err(e) => {
                tracing::debug!(error = %e, "websocket upgrade failed");
                return;
            }
        };
        let copy = tokio::io::copy_bidirectional(&mut c, &mut upstream);
        let Some(watch) = watch else {
            if let Err(e) = copy.await {
                tracing::debug!(error = %e, "websocket closed with error");
            }
            return;
        };
        tokio::select! {
            r = copy => if let Err(e) = r {
                tracing::debug!(error = %e, "websocket closed with error");
            },
            why = session_ended(&watch) => {
                // Dropping the copy closes both connections.
                tracing::info!(app = %watch.app_id, reason = why, "websocket closed: session ended");
            }
        }
    });
}

/// Resolves when the session may no longer use the app, with the reason.
async fn session_ended(watch: &SessionWatch) -> &'static str {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(gw) = watch.gateway.upgrade() else {
            return "gateway stopped";
        };
        // The current config: an app removed or changed by a reload counts from now on.
        let rt = gw.runtime.load_full();
        let Some(app) = rt.config.apps.iter().find(|a| a.id == watch.app_id) else {
            return "app removed";
        };
        let visit = AppVisit {
            app,
            ip: watch.ip,
            platform: watch.platform,
        };
        match gw
            .continue_session(&rt, watch.session.clone(), Some(visit))
            .await
        {
            Ok(SessionCheck::Admitted(..)) => {}
            Ok(SessionCheck::Refused(refusal)) => return refusal.code(),
            Ok(SessionCheck::None { .. }) => return "session_ended",
            // Without a store to confirm the session, it does not go on.
            Err(_) => return "session_unconfirmed",
        }
    }
}

impl SessionWatch {
    /// `platform` is read from the request here, whatever the policies of the moment: a
    /// reload may add a platform condition while the tunnel is open.
    pub fn new(
        gateway: &Arc<Gateway>,
        session: SessionId,
        visit: &AppVisit<'_>,
        platform: Platform,
    ) -> Self {
        Self {
            gateway: Arc::downgrade(gateway),
            session,
            app_id: visit.app.id.clone(),
            ip: visit.ip,
            platform,
        }
    }
}
