//! `borderless admin-keys …`: create, list and revoke admin API keys.

use std::process::ExitCode;

use clap::Subcommand;

use borderless::directory::Actor;

use super::{ConfigArg, print, with_directory};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key; it is printed once and stored only as a hash.
    Create {
        name: String,
    },
    List,
    Revoke {
        name: String,
    },
}

pub async fn admin_keys(cmd: KeysCommand, c: ConfigArg) -> ExitCode {
    let json = c.json;
    with_directory(&c.path(), |inviter| async move {
        let dir = &inviter.dir;

        match cmd {
            KeysCommand::Create { name } => {
                let (key, secret) = dir.create_admin_key(&Actor::Cli, &name).await?;
                let v = serde_json::json!({ "id": key.id, "name": key.name, "key": secret });
                print(json, &v, || {
                    format!("{secret}\n(shown once: store it now; use it as `Authorization: Bearer <key>`)")
                });
            }
            KeysCommand::List => {
                let keys = dir.admin_keys().await?;
                print(json, &keys, || {
                    keys.iter()
                        .map(|k| {
                            format!(
                                "{}  {}{}",
                                k.id,
                                k.name,
                                if k.revoked_at.is_some() { "  (revoked)" } else { "" }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
            KeysCommand::Revoke { name } => {
                dir.revoke_admin_key(&Actor::Cli, &name).await?;
                println!("revoked {name}");
            }
        }
        Ok(())
    })
    .await
}
