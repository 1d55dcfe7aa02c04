//! `borderless guests …`: list, show, disable, expire, remove and reset directory users.

use std::process::ExitCode;

use clap::Subcommand;

use borderless::directory::Actor;
use borderless::directory::groups::Principal;

use super::{ConfigArg, known_app, mail_failures, print, wait_mail, with_directory};

#[derive(Subcommand)]
pub enum GuestsCommand {
    /// Every user in the directory.
    List,
    /// One user with their invitations and apps.
    Show {
        user: String,
    },
    /// Delete a user; their sessions end at once.
    Remove {
        user: String,
    },
    /// Block sign-in; sessions end at once.
    Disable {
        user: String,
    },
    Enable {
        user: String,
    },
    /// Access ends at this time (2027-03-31T17:00:00Z, 2027-03-31 = UTC midnight, or Unix
    /// seconds) or `never`; sessions end at that moment, at once if it is past.
    Expire {
        user: String,
        at: String,
    },
    /// Back to PendingAcceptance, identity unpinned, sessions ended; a new link is sent.
    ResetRedemption {
        user: String,
        /// Print the new link instead of mailing it.
        #[arg(long)]
        no_email: bool,
    },
    /// Send a pending guest a fresh link (the previous one stops working).
    Resend {
        user: String,
    },
    /// Assign an app to a user.
    Assign {
        user: String,
        app: String,
    },
    Unassign {
        user: String,
        app: String,
    },
    /// The user's MFA methods (the gateway's own: TOTP) and recovery codes left.
    Mfa {
        user: String,
    },
    /// Remove the user's MFA methods and recovery codes (a lost authenticator); their
    /// sessions end, and the next app that needs MFA asks them to enroll again.
    MfaReset {
        user: String,
    },
}

pub async fn guests(cmd: GuestsCommand, c: ConfigArg) -> ExitCode {
    let json = c.json;
    with_directory(&c.path(), |inviter| async move {
        let dir = &inviter.dir;
        let actor = Actor::Cli;

        match cmd {
            GuestsCommand::List => {
                let users = dir.list_users().await?;
                print(json, &users, || {
                    users
                        .iter()
                        .map(|u| {
                            format!(
                                "{}  {:<7} {:<17} {}{}",
                                u.id,
                                u.user_type.as_str(),
                                u.state.as_str(),
                                u.mail,
                                if u.disabled { "  (disabled)" } else { "" }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
            GuestsCommand::Show { user } => {
                let u = dir.find_user(&user).await?;
                let invitations = dir.invitations_of(&u.id).await?;
                let apps = dir.assigned_apps(&u.id).await?;
                let v = serde_json::json!({ "user": u, "invitations": invitations, "apps": apps });
                print(true, &v, String::new);
            }
            GuestsCommand::Remove { user } => {
                let u = dir.find_user(&user).await?;
                dir.remove_user(&actor, &u.id).await?;
                println!("removed {}", u.mail);
            }
            GuestsCommand::Disable { user } => {
                let u = dir.find_user(&user).await?;
                dir.set_disabled(&actor, &u.id, true).await?;
                println!("disabled {}", u.mail);
            }
            GuestsCommand::Expire { user, at } => {
                let when = match at.as_str() {
                    "never" => None,
                    when => Some(
                        borderless::timestamp::parse_instant(when)
                            .map_err(|e| anyhow::anyhow!(e))?,
                    ),
                };
                let u = dir.find_user(&user).await?;
                dir.set_expiry(&actor, &u.id, when).await?;
                println!(
                    "{}: access {}",
                    u.mail,
                    match when {
                        Some(_) => format!("ends {at}"),
                        None => "does not expire".into(),
                    }
                );
            }
            GuestsCommand::Enable { user } => {
                let u = dir.find_user(&user).await?;
                dir.set_disabled(&actor, &u.id, false).await?;
                println!("enabled {}", u.mail);
            }
            GuestsCommand::ResetRedemption { user, no_email } => {
                let send = !no_email && inviter.config.smtp.is_some();
                let (report, handle) = inviter
                    .reset_redemption(&actor, &user, send)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let mail = wait_mail(handle).await;
                print(json, &report, || {
                    format!(
                        "{} is PendingAcceptance again\nredemption link: {}",
                        report.user.mail,
                        report.redeem_url.as_deref().unwrap_or("")
                    )
                });
                mail_failures(mail)?;
            }
            GuestsCommand::Resend { user } => {
                let (report, handle) = inviter
                    .resend(&actor, &user)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let mail = wait_mail(handle).await;
                print(json, &report, || {
                    format!(
                        "new link for {}: {}",
                        report.user.mail,
                        report.redeem_url.as_deref().unwrap_or("")
                    )
                });
                mail_failures(mail)?;
            }
            GuestsCommand::Assign { user, app } => {
                known_app(&inviter, &app)?;
                let u = dir.find_user(&user).await?;
                dir.set_assignment(&actor, &app, Principal::User(&u.id), true)
                    .await?;
                println!("assigned {app} to {}", u.mail);
            }
            GuestsCommand::Mfa { user } => {
                let u = dir.find_user(&user).await?;
                let methods = dir.mfa_methods(&u.id).await?;
                let left = dir.mfa_recovery_codes_left(&u.id).await?;
                let v = serde_json::json!({
                    "user": u.mail,
                    "methods": methods,
                    "recoveryCodesLeft": left,
                });
                print(json, &v, || {
                    let mut lines = vec![format!("{}: {left} recovery codes left", u.mail)];
                    lines.extend(methods.iter().map(|m| {
                        format!(
                            "  {} {}{}",
                            m.kind,
                            m.id,
                            if m.confirmed { "" } else { " (not confirmed)" }
                        )
                    }));
                    lines.join("\n")
                });
            }
            GuestsCommand::MfaReset { user } => {
                let u = dir.find_user(&user).await?;
                let n = dir.mfa_reset(&actor, &u.id).await?;
                println!("{}: {n} MFA methods removed, sessions ended", u.mail);
            }
            GuestsCommand::Unassign { user, app } => {
                known_app(&inviter, &app)?;
                let u = dir.find_user(&user).await?;
                dir.set_assignment(&actor, &app, Principal::User(&u.id), false)
                    .await?;
                println!("unassigned {app} from {}", u.mail);
            }
        }
        Ok(())
    })
    .await
}
