//! `borderless groups …`: groups, their members and app assignments.

use std::process::ExitCode;

use clap::Subcommand;

use borderless::directory::Actor;
use borderless::directory::groups::Principal;

use super::{ConfigArg, known_app, print, with_directory};

#[derive(Subcommand)]
pub enum GroupsCommand {
    List,
    Show {
        group: String,
    },
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Owner email addresses (repeatable).
        #[arg(long = "owner")]
        owners: Vec<String>,
    },
    Delete {
        group: String,
    },
    AddMember {
        group: String,
        user: String,
    },
    RemoveMember {
        group: String,
        user: String,
    },
    /// Assign an app to every member of the group.
    Assign {
        group: String,
        app: String,
    },
    Unassign {
        group: String,
        app: String,
    },
}

pub async fn groups(cmd: GroupsCommand, c: ConfigArg) -> ExitCode {
    let json = c.json;
    with_directory(&c.path(), |inviter| async move {
        let dir = &inviter.dir;
        let actor = Actor::Cli;

        match cmd {
            GroupsCommand::List => {
                let gs = dir.list_groups().await?;
                print(json, &gs, || {
                    gs.iter()
                        .map(|g| {
                            format!("{}  {} ({} members)", g.id, g.display_name, g.members.len())
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
            GroupsCommand::Show { group } => {
                let g = dir.group(&group).await?;
                print(true, &g, String::new);
            }
            GroupsCommand::Create {
                name,
                description,
                owners,
            } => {
                let mut checked = Vec::new();
                for o in &owners {
                    checked.push(
                        borderless::directory::address::Address::parse(o)
                            .map_err(|e| anyhow::anyhow!("--owner: {e}"))?
                            .to_string(),
                    );
                }
                let g = dir
                    .create_group(&actor, &name, description.as_deref(), &checked)
                    .await?;
                print(json, &g, || {
                    format!("created group {} ({})", g.display_name, g.id)
                });
            }
            GroupsCommand::Delete { group } => {
                dir.delete_group(&actor, &group).await?;
                println!("deleted group {group}");
            }
            GroupsCommand::AddMember { group, user } => {
                let u = dir.find_user(&user).await?;
                dir.set_membership(&actor, &group, &u.id, true).await?;
                println!("added {} to {group}", u.mail);
            }
            GroupsCommand::RemoveMember { group, user } => {
                let u = dir.find_user(&user).await?;
                dir.set_membership(&actor, &group, &u.id, false).await?;
                println!("removed {} from {group}", u.mail);
            }
            GroupsCommand::Assign { group, app } => {
                known_app(&inviter, &app)?;
                let g = dir.group(&group).await?;
                dir.set_assignment(&actor, &app, Principal::Group(&g.id), true)
                    .await?;
                println!("assigned {app} to group {}", g.display_name);
            }
            GroupsCommand::Unassign { group, app } => {
                known_app(&inviter, &app)?;
                let g = dir.group(&group).await?;
                dir.set_assignment(&actor, &app, Principal::Group(&g.id), false)
                    .await?;
                println!("unassigned {app} from group {}", g.display_name);
            }
        }
        Ok(())
    })
    .await
}
