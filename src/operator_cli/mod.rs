//! The operator's directory commands: `invite`, `guests`, `groups`, `audit`, `admin-keys`,
//! `assertion-key`, `whatif`, one module per command group; this one holds what they share.
//! They open the gateway's database directly (whoever can read it is an administrator), so
//! they work whether or not a gateway is running; a running gateway sees removals and
//! disables through the revocation feed within a second.

mod admin_keys;
mod assertion_key;
mod audit;
mod groups;
mod guests;
mod invite;
mod whatif;

pub use admin_keys::{KeysCommand, admin_keys};
pub use assertion_key::{AssertionKeyCommand, assertion_key};
pub use audit::audit;
pub use groups::{GroupsCommand, groups};
pub use guests::{GuestsCommand, guests};
pub use invite::{InviteArgs, invite};
pub use whatif::{WhatIfArgs, whatif};

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use serde::Serialize;

use borderless::directory::{Actor, Directory};
use borderless::invite::Inviter;
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
