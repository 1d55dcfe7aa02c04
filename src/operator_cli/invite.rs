//! `borderless invite`: one guest, or many from a CSV file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use borderless::directory::Actor;
use borderless::invite::{InviteError, InviteInput, Inviter};
use borderless::mail::DeliveryReport;

use super::{ConfigArg, actor_for, fail, open, print, wait_mail};

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
