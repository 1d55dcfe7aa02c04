//! `borderless whatif`: what the gateway would decide for a user opening an app from an
//! address and platform, and each policy's part in it — before a policy is switched on.

use std::process::ExitCode;

use clap::Args;

use borderless::admission::whatif::{WhatIf, WhatIfAnswer, whatif as decide};

use super::{ConfigArg, fail, open, print};

#[derive(Args)]
pub struct WhatIfArgs {
    /// The user: an address or a user id.
    #[arg(long)]
    user: String,
    /// The app id.
    #[arg(long)]
    app: String,
    /// The client's address [default: one in no named location].
    #[arg(long)]
    ip: Option<std::net::IpAddr>,
    /// android, ios, windows, macos, linux, chromeos or other [default: other].
    #[arg(long)]
    platform: Option<String>,
    /// The IdP id signed in with [default: the user's pinned one].
    #[arg(long)]
    idp: Option<String>,
    /// An `amr` value the IdP reports (repeat for several).
    #[arg(long)]
    amr: Vec<String>,
    /// The IdP's `acr` (OIDC) or `AuthnContextClassRef` (SAML).
    #[arg(long)]
    acr: Option<String>,
    /// MFA the gateway performed: mfa (TOTP) or phishing_resistant (a passkey).
    #[arg(long)]
    mfa: Option<String>,
    /// Seconds since the user authenticated at their IdP.
    #[arg(long, default_value_t = 0)]
    auth_age_secs: i64,
    #[command(flatten)]
    common: ConfigArg,
}

pub async fn whatif(a: WhatIfArgs) -> ExitCode {
    let inviter = match open(&a.common.path()).await {
        Ok(i) => i,
        Err(e) => return fail(format!("{e:#}")),
    };
    let q = WhatIf {
        user: a.user,
        app: a.app,
        ip: a.ip,
        platform: a.platform,
        idp: a.idp,
        amr: a.amr,
        acr: a.acr,
        mfa: a.mfa,
        auth_age_secs: a.auth_age_secs,
        session_age_secs: None,
    };
    match decide(&inviter.config, &inviter.dir, &q).await {
        Ok(answer) => {
            print(a.common.json, &answer, || text(&answer));
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn text(a: &WhatIfAnswer) -> String {
    let p = &a.policies;
    let mut out = vec![format!("{} → {}: {}", a.user, a.app, p.result)];
    if let Some(code) = a.refused_before_policies {
        out.push(format!("  refused before any policy: {code}"));
    }
    if let Some(partner) = &p.partner {
        out.push(format!(
            "  partner: {partner}{}",
            p.partner_refusal
                .as_deref()
                .map(|r| format!(" (refuses: {r})"))
                .unwrap_or_default()
        ));
    }
    if !p.locations.is_empty() {
        out.push(format!("  locations: {}", p.locations.join(", ")));
    }
    for v in &p.policies {
        let what = match (v.applies, v.result, v.not_applied) {
            (true, Some(r), _) => format!("applies: {r}"),
            (_, _, Some(why)) => format!("does not apply: {why}"),
            _ => "does not apply".into(),
        };
        out.push(format!("  [{}] {} — {what}", v.state, v.policy));
    }
    out.join("\n")
}
