//! What the admission decision needs to know about a user on every request — whether they
//! still exist, are enabled and unexpired, which identity is pinned to them, which apps
//! they are assigned and, for Conditional Access, their kind, address and groups — cached so the data plane never reads the database per request.
//! Entries are dropped when the revocation feed names the user (assignment or membership
//! change, removal, disable, expiry, reset) and expire after a minute in any case.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use crate::directory::{Directory, DirectoryError, UserType};
use crate::policy::UserKind;

/// A user's state as the data plane sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAccess {
    pub disabled: bool,
    pub expires_at: Option<i64>,
    /// `(issuer, subject)` pinned at redemption (members: at creation).
    pub pinned: Option<(String, String)>,
    /// App ids assigned directly or through a group.
    pub assigned: Vec<String>,
    pub kind: UserKind,
    /// Lower-case.
    pub mail: String,
    /// Names of the groups the user is in.
    pub groups: Vec<String>,
    /// When the user's partner last signalled lower assurance: its MFA from before then
    /// no longer counts.
    pub assurance_lowered_at: Option<i64>,
    /// The terms versions the user accepted (`id@version`).
    pub accepted_terms: Vec<String>,
}

pub struct AccessCache {
    dir: Directory,
    /// `None`: no such user (removed).
    /// foldhash rather than SipHash: the keys are user ids the directory generated, read on
    /// every proxied request, so flooding resistance buys nothing there.
    cache: Cache<String, Arc<Option<UserAccess>>, foldhash::fast::RandomState>,
}

impl AccessCache {
    pub fn new(dir: Directory) -> Self {
        Self {
            dir,
            cache: Cache::builder()
                .max_capacity(200_000)
                .time_to_live(Duration::from_secs(60))
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    /// The user's access state; one database read per user per minute at most, shared by
    /// concurrent callers.
    pub async fn user(&self, user_id: &str) -> Result<Arc<Option<UserAccess>>, DirectoryError> {
        if let Some(hit) = self.cache.get(user_id).await {
            return Ok(hit);
        }
        // Boxed: the miss path (database reads) would otherwise make every request's state
        // as large as itself.
        Box::pin(self.load_shared(user_id)).await
    }

    async fn load_shared(&self, user_id: &str) -> Result<Arc<Option<UserAccess>>, DirectoryError> {
        let dir = self.dir.clone();
        let id = user_id.to_string();
        self.cache
            .try_get_with(
                id.clone(),
                async move { load(&dir, &id).await.map(Arc::new) },
            )
            .await
            .map_err(DirectoryError::Shared)
    }

    pub async fn invalidate(&self, user_id: &str) {
        self.cache.invalidate(user_id).await;
    }
}

pub(crate) async fn load(
    dir: &Directory,
    user_id: &str,
) -> Result<Option<UserAccess>, DirectoryError> {
    let Some(user) = dir.user(user_id).await? else {
        return Ok(None);
    };
    let assigned = dir.assigned_apps(user_id).await?;
    let groups = dir.group_names_of(user_id).await?;
    let assurance_lowered_at = dir.assurance_lowered_at(user_id).await?;
    let accepted_terms = dir.accepted_terms(user_id).await?;
    Ok(Some(UserAccess {
        disabled: user.disabled,
        expires_at: user.expires_at,
        pinned: user.issuer.zip(user.subject),
        assigned,
        // Every guest today came through an invitation; self-service sign-up adds the other.
        kind: match user.user_type {
            UserType::Member => UserKind::Member,
            UserType::Guest => UserKind::InvitedGuest,
        },
        mail: user.mail.to_ascii_lowercase(),
        groups,
        assurance_lowered_at,
        accepted_terms,
    }))
}
