//! Which apps each user is assigned to, cached for the data plane. Only apps with
//! `assignment_required` consult it, so other apps pay nothing. Entries are dropped when the
//! revocation feed names the user (assignment or membership change, removal, disable), and
//! expire after a minute in any case.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use crate::directory::{Directory, DirectoryError};

pub struct AccessCache {
    dir: Directory,
    cache: Cache<String, Arc<Vec<String>>>,
}

impl AccessCache {
    pub fn new(dir: Directory) -> Self {
        Self {
            dir,
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    /// App ids the user may open when an app requires assignment.
    pub async fn assigned_apps(&self, user_id: &str) -> Result<Arc<Vec<String>>, DirectoryError> {
        let dir = self.dir.clone();
        let id = user_id.to_string();
        self.cache
            .try_get_with(id.clone(), async move {
                dir.assigned_apps(&id).await.map(Arc::new)
            })
            .await
            .map_err(DirectoryError::Shared)
    }

    pub async fn invalidate(&self, user_id: &str) {
        self.cache.invalidate(user_id).await;
    }
}
