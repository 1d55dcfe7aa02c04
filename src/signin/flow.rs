//! Sign-in flow state kept server-side between the redirect to the IdP and the callback, and
//! handoff codes that carry a session to an app on another host. Both are single-use: taking
//! one removes it, so a replayed callback or code finds nothing.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use url::Url;

use crate::session::SessionId;
pub use crate::token::{is_token, random_token};

/// How long a user may take at the IdP.
pub const FLOW_TTL: Duration = Duration::from_secs(600);
/// How long a handoff code lives: one redirect.
pub const HANDOFF_TTL: Duration = Duration::from_secs(60);

/// A sign-in waiting for the IdP's callback.
#[derive(Debug)]
pub struct PendingSignIn {
    pub idp: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: Url,
    /// Browser binding from the app host, when the return URL is on another host.
    pub binding: Option<String>,
    /// The invitation being redeemed, when the sign-in started from a redemption link.
    pub redeem: Option<String>,
}

/// A signed-in identity waiting for the guest to accept an invitation's consent page.
#[derive(Debug)]
pub struct PendingConsent {
    pub identity: crate::idp::Identity,
    pub invitation_id: String,
    pub email: String,
    pub name: String,
    pub return_to: Url,
    pub binding: Option<String>,
}

/// A session on its way to an app host.
#[derive(Debug)]
pub struct Handoff {
    pub session: SessionId,
    pub authority: String,
    pub binding: String,
    pub return_to: Url,
}

pub struct SingleUse<T: Send + Sync + 'static> {
    cache: Cache<String, Arc<T>>,
}

impl<T: Send + Sync + 'static> SingleUse<T> {
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        Self {
            cache: Cache::builder()
                .time_to_live(ttl)
                .max_capacity(capacity)
                .build(),
        }
    }

    pub async fn put(&self, value: T) -> String {
        let id = random_token();
        self.cache.insert(id.clone(), Arc::new(value)).await;
        id
    }

    /// Removes and returns the entry; a second call with the same id gets `None`.
    pub async fn take(&self, id: &str) -> Option<Arc<T>> {
        if !is_token(id) {
            return None;
        }
        self.cache.remove(id).await
    }
}

pub type FlowStore = SingleUse<PendingSignIn>;
pub type HandoffStore = SingleUse<Handoff>;
pub type ConsentStore = SingleUse<PendingConsent>;
