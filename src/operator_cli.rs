//! The operator's directory commands: `invite`, `guests`, `groups`, `audit`, `admin-keys`.
//! They open the gateway's database directly (whoever can read it is an administrator), so
//! they work whether or not a gateway is running; a running gateway sees removals and
//! disables through the revocation feed within a second.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde::Serialize;

use borderless::directory::groups::Principal;
use borderless::directory::{Actor, Directory};
use borderless::invite::{InviteError, InviteInput, Inviter};
use borderless::mail::DeliveryReport;

#[derive(Args)]
pub struct ConfigArg {
    /// Config file [default: $BORDERLESS_CONFIG, else /etc/borderless/borderless.toml].
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Args)]
pub struct InviteArgs {
    #[command(flatten)]
    pub common: ConfigArg,
    /// The guest's email address (omit with --csv).
    #[arg(required_unless_present = "csv", conflicts_with = "csv")]
    pub email: Option<String>,
    /// Invite every row of a CSV file (Azure's bulk-invite template).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Where to write the per-row results (.csv or .json); default: beside the input.
    #[arg(long, requires = "csv")]
    pub result: Option<PathBuf>,
    /// Assign these apps (repeatable).
    #[arg(long = "app")]
    pub apps: Vec<String>,
    /// Add to these groups (repeatable).
    #[arg(long = "group")]
    pub groups: Vec<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Where the guest lands after accepting; must be an app's address.
    #[arg(long)]
    pub redirect: Option<String>,
    /// A personal message for the invitation email.
    #[arg(long)]
    pub message: Option<String>,
    /// Create the invitation without sending the email (the link is printed).
    #[arg(long)]
    pub no_email: bool,
    /// Act as this directory user (e.g. an app owner) instead of as an administrator.
    #[arg(long = "as", value_name = "EMAIL")]
    pub as_user: Option<String>,
}

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
}

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

impl ConfigArg {
    /// The file to use; says which when it was not given on the command line.
    pub fn path(&self) -> PathBuf {
        match &self.config {
            Some(p) => p.clone(),
            None => {
                let p = borderless::config::default_path();
                eprintln!("using config {}", p.display());
                p
            }
        }
    }
}

async fn open(config: &Path) -> anyhow::Result<Inviter> {
    let cfg = borderless::config::load_for(config, borderless::config::Purpose::Directory)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = Directory::open(&cfg.database_url).await?;
    Inviter::new(dir, Arc::new(cfg))
}

fn print<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
    if json {
        match serde_json::to_string_pretty(value) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("cannot print JSON: {e}"),
        }
    } else {
        println!("{}", text());
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

async fn wait_mail(handle: Option<borderless::invite::MailHandle>) -> Option<DeliveryReport> {
    match handle {
        Some(h) => h.await.ok(),
        None => None,
    }
}

async fn actor_for(inviter: &Inviter, as_user: Option<&str>) -> anyhow::Result<Actor> {
    match as_user {
        None => Ok(Actor::Cli),
        Some(mail) => {
            let u = inviter.dir.find_user(mail).await?;
            Ok(Actor::User {
                id: u.id,
                mail: u.mail,
            })
        }
    }
}

pub async fn invite(a: InviteArgs) -> ExitCode {
    let inviter = match open(&a.common.path()).await {
        Ok(i) => i,
        Err(e) => return fail(format!("{e:#}")),
    };
    let actor = match actor_for(&inviter, a.as_user.as_deref()).await {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    if let Some(path) = &a.csv {
        return invite_csv(&inviter, &actor, path, a.result.as_deref(), a.common.json).await;
    }
    let input = InviteInput {
        email: a.email.unwrap_or_default(),
        display_name: a.name,
        redirect_url: a.redirect,
        apps: a.apps,
        groups: a.groups,
        message: a.message,
        send_email: !a.no_email,
    };
    match inviter.invite(&actor, &input).await {
        Ok((report, handle)) => {
            let mail = wait_mail(handle).await;
            print(a.common.json, &report, || {
                let mut s = format!("{}: {:?}", report.user.mail, report.result);
                if let Some(url) = &report.redeem_url {
                    s.push_str(&format!("\nredemption link: {url}"));
                }
                s
            });
            mail_outcome(mail, input.send_email && inviter.config.smtp.is_some())
        }
        Err(e) => invite_failure(e),
    }
}

fn invite_failure(e: InviteError) -> ExitCode {
    match e {
        InviteError::Forbidden(m) => fail(format!("not allowed: {m}")),
        other => fail(other),
    }
}

/// Exit 3 when the invitation exists but its email could not be sent (resend later).
fn mail_outcome(mail: Option<DeliveryReport>, expected: bool) -> ExitCode {
    match mail {
        Some(r) if !r.failed.is_empty() => {
            for (to, why) in &r.failed {
                eprintln!(
                    "email to {to} failed: {why} (the invitation exists; run `borderless guests resend {to}`)"
                );
            }
            ExitCode::from(3)
        }
        None if expected => {
            eprintln!("email not sent");
            ExitCode::from(3)
        }
        _ => ExitCode::SUCCESS,
    }
}

async fn invite_csv(
    inviter: &Inviter,
    actor: &Actor,
    path: &Path,
    result: Option<&Path>,
    json: bool,
) -> ExitCode {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => return fail(format!("{}: {e}", path.display())),
    };
    let (report, handle) = match inviter.invite_csv(actor, &data).await {
        Ok(r) => r,
        Err(e) => return fail(format!("{}: {e}", path.display())),
    };
    let result_path = result.map(Path::to_path_buf).unwrap_or_else(|| {
        let mut p = path.to_path_buf();
        p.set_extension("results.csv");
        p
    });
    let bytes = if result_path.extension().is_some_and(|e| e == "json") {
        serde_json::to_vec_pretty(&report).map_err(anyhow::Error::from)
    } else {
        report.to_csv()
    };
    if let Err(e) = bytes.and_then(|b| std::fs::write(&result_path, b).map_err(Into::into)) {
        eprintln!("cannot write {}: {e}", result_path.display());
    }
    for r in report.rows.iter().filter(|r| r.status == "error") {
        eprintln!(
            "{}:{}: {}: {}",
            path.display(),
            r.line,
            if r.email.is_empty() {
                "(no email)"
            } else {
                &r.email
            },
            r.error.as_deref().unwrap_or("")
        );
    }
    let mail = wait_mail(handle).await;
    print(json, &report, || {
        format!(
            "{} invited, {} failed; results in {}",
            report.invited,
            report.failed,
            result_path.display()
        )
    });
    let mail_code = mail_outcome(mail, false);
    if report.failed > 0 {
        ExitCode::from(2)
    } else {
        mail_code
    }
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

fn known_app(inviter: &Inviter, app: &str) -> anyhow::Result<()> {
    match inviter.config.app(app) {
        Some(_) => Ok(()),
        None => anyhow::bail!("unknown app `{app}`"),
    }
}

/// Opens the directory for `config`, runs `f`, and turns its error into a message and exit 1.
async fn with_directory<F, Fut>(config: &Path, f: F) -> ExitCode
where
    F: FnOnce(Inviter) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let inviter = match open(config).await {
        Ok(i) => i,
        Err(e) => return fail(format!("{e:#}")),
    };
    match f(inviter).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("{e:#}")),
    }
}

fn mail_failures(mail: Option<DeliveryReport>) -> anyhow::Result<()> {
    match mail {
        Some(r) if !r.failed.is_empty() => {
            let reasons: Vec<String> = r.failed.iter().map(|(t, w)| format!("{t}: {w}")).collect();
            anyhow::bail!("email failed: {}", reasons.join("; "))
        }
        _ => Ok(()),
    }
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

pub async fn audit(since: Option<String>, limit: i64, c: ConfigArg) -> ExitCode {
    let since = match since.as_deref().map(parse_since).transpose() {
        Ok(s) => s.unwrap_or(0),
        Err(e) => return fail(e),
    };
    let inviter = match open(&c.path()).await {
        Ok(i) => i,
        Err(e) => return fail(format!("{e:#}")),
    };
    match inviter.dir.audit_since(since, limit).await {
        Ok(events) => {
            print(c.json, &events, || {
                events
                    .iter()
                    .map(|e| {
                        format!(
                            "{}  {:<28} {:<24} {} {}",
                            httpdate::fmt_http_date(
                                std::time::UNIX_EPOCH
                                    + std::time::Duration::from_secs(e.at.max(0) as u64)
                            ),
                            e.action,
                            e.actor,
                            e.target.as_deref().unwrap_or("-"),
                            e.detail
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
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

/// `--since`: `30m`, `24h`, `7d`, a Unix time, or a date `YYYY-MM-DD` (UTC).
pub fn parse_since(raw: &str) -> Result<i64, String> {
    let now = borderless::session::now_unix();
    let raw = raw.trim();
    let bad = || format!("--since `{raw}`: use 30m, 24h, 7d, a Unix time or YYYY-MM-DD");
    if let Some((num, unit)) = raw
        .char_indices()
        .last()
        .filter(|(_, c)| c.is_ascii_alphabetic())
        .map(|(i, c)| (&raw[..i], c))
    {
        let n: i64 = num.parse().map_err(|_| bad())?;
        let secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        return Ok(now - n * secs);
    }
    borderless::timestamp::parse_instant(raw).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_durations_dates_and_unix_times() {
        assert_eq!(parse_since("2026-11-21"), Ok(1_795_219_200));
        assert_eq!(parse_since("1970-01-01"), Ok(0));
        assert_eq!(parse_since("12345"), Ok(12345));
        let now = borderless::session::now_unix();
        assert!((parse_since("1h").expect("1h") - (now - 3600)).abs() <= 1);
        assert!(parse_since("yesterday").is_err());
        assert!(parse_since("2026-13-01").is_err());
    }
}
