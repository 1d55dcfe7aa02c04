//! Groups (with owners and members) and app assignments of users and groups.

use serde::Serialize;
use sqlx::Row;

use super::audit::record;
use super::{Actor, Directory, DirectoryError};
use crate::db::now;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub owners: Vec<String>,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub app: String,
    pub principal_type: String,
    pub principal_id: String,
}

/// What an assignment names: one user, or every member of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    User(&'a str),
    Group(&'a str),
}

impl Principal<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Principal::User(_) => "user",
            Principal::Group(_) => "group",
        }
    }
    fn id(&self) -> &str {
        match self {
            Principal::User(id) | Principal::Group(id) => id,
        }
    }
}

impl Directory {
    pub async fn create_group(
        &self,
        actor: &Actor,
        name: &str,
        description: Option<&str>,
        owners: &[String],
    ) -> Result<Group, DirectoryError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 120 {
            return Err(DirectoryError::Invalid(
                "a group name has 1 to 120 characters".into(),
            ));
        }
        if self.group_by_name(name).await?.is_some() {
            return Err(DirectoryError::Invalid(format!(
                "a group named {name} exists"
            )));
        }
        let id = super::new_id();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO groups (id, name, description, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(name)
        .bind(description)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        for o in owners {
            sqlx::query("INSERT INTO group_owners (group_id, owner) VALUES ($1, $2)")
                .bind(&id)
                .bind(o.to_ascii_lowercase())
                .execute(&mut *tx)
                .await?;
        }
        record(
            &mut tx,
            actor,
            "group.created",
            Some(&id),
            serde_json::json!({ "name": name, "owners": owners }),
        )
        .await?;
        tx.commit().await?;
        self.group(&id).await
    }

    pub async fn group_by_name(&self, name: &str) -> Result<Option<String>, DirectoryError> {
        let row = sqlx::query("SELECT id FROM groups WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// A group by id or name.
    pub async fn group(&self, key: &str) -> Result<Group, DirectoryError> {
        let row =
            sqlx::query("SELECT id, name, description FROM groups WHERE id = $1 OR name = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| DirectoryError::NotFound(format!("group {key}")))?;
        let id: String = row.try_get("id")?;
        let owners =
            sqlx::query("SELECT owner FROM group_owners WHERE group_id = $1 ORDER BY owner")
                .bind(&id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| r.try_get("owner"))
                .collect::<Result<_, _>>()?;
        let members = sqlx::query(
            "SELECT u.mail FROM group_members m JOIN users u ON u.id = m.user_id \
             WHERE m.group_id = $1 ORDER BY u.mail",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get("mail"))
        .collect::<Result<_, _>>()?;
        Ok(Group {
            id,
            display_name: row.try_get("name")?,
            description: row.try_get("description")?,
            owners,
            members,
        })
    }

    pub async fn list_groups(&self) -> Result<Vec<Group>, DirectoryError> {
        let ids: Vec<String> = sqlx::query("SELECT id FROM groups ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.group(&id).await?);
        }
        Ok(out)
    }

    pub async fn delete_group(&self, actor: &Actor, key: &str) -> Result<(), DirectoryError> {
        let g = self.group(key).await?;
        let mut tx = self.write_tx().await?;
        let members: Vec<String> =
            sqlx::query("SELECT user_id FROM group_members WHERE group_id = $1")
                .bind(&g.id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get("user_id"))
                .collect::<Result<_, _>>()?;
        sqlx::query("DELETE FROM assignments WHERE principal_type = 'group' AND principal_id = $1")
            .bind(&g.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(&g.id)
            .execute(&mut *tx)
            .await?;
        for m in &members {
            Directory::access_changed(&mut tx, m).await?;
        }
        record(
            &mut tx,
            actor,
            "group.deleted",
            Some(&g.id),
            serde_json::json!({ "name": g.display_name }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds (or, with `add = false`, removes) a user to a group.
    pub async fn set_membership(
        &self,
        actor: &Actor,
        group: &str,
        user_id: &str,
        add: bool,
    ) -> Result<(), DirectoryError> {
        let g = self.group(group).await?;
        let mut tx = self.write_tx().await?;
        if add {
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
        } else {
            sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
        }
        .bind(&g.id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        Directory::access_changed(&mut tx, user_id).await?;
        let action = if add {
            "group.member_added"
        } else {
            "group.member_removed"
        };
        record(
            &mut tx,
            actor,
            action,
            Some(&g.id),
            serde_json::json!({ "user": user_id }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Assigns (or unassigns) an app to a user or group.
    pub async fn set_assignment(
        &self,
        actor: &Actor,
        app: &str,
        principal: Principal<'_>,
        add: bool,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.write_tx().await?;
        if add {
            sqlx::query(
                "INSERT INTO assignments (app, principal_type, principal_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(app)
            .bind(principal.kind())
            .bind(principal.id())
            .bind(now())
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "DELETE FROM assignments WHERE app = $1 AND principal_type = $2 AND principal_id = $3",
            )
            .bind(app)
            .bind(principal.kind())
            .bind(principal.id())
            .execute(&mut *tx)
            .await?;
        }
        let affected: Vec<String> = match principal {
            Principal::User(id) => vec![id.to_string()],
            Principal::Group(id) => {
                sqlx::query("SELECT user_id FROM group_members WHERE group_id = $1")
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|r| r.try_get("user_id"))
                    .collect::<Result<_, _>>()?
            }
        };
        for u in &affected {
            Directory::access_changed(&mut tx, u).await?;
        }
        let action = if add {
            "assignment.added"
        } else {
            "assignment.removed"
        };
        record(
            &mut tx,
            actor,
            action,
            Some(principal.id()),
            serde_json::json!({ "app": app, "principalType": principal.kind() }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_assignments(&self) -> Result<Vec<Assignment>, DirectoryError> {
        let rows = sqlx::query(
            "SELECT app, principal_type, principal_id FROM assignments \
             ORDER BY app, principal_type, principal_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Assignment {
                    app: r.try_get("app")?,
                    principal_type: r.try_get("principal_type")?,
                    principal_id: r.try_get("principal_id")?,
                })
            })
            .collect()
    }
}
