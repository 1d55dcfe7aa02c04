//! What-if: the admission decision for a request that has not happened — this user, this
//! app, from this address and platform, authenticated this way — with every policy's part
//! in it. The same facts and the same evaluation as a real request (`conditional::Facts`,
//! `PolicySet::explain`), so what it says is what the gateway would do. Used by
//! `borderless whatif` and `POST /admin/v1/whatif`.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::directory::{Directory, DirectoryError};
use crate::policy::{Explanation, Platform, Strength};
use crate::session::{NewSession, Session};

use super::conditional::{AppVisit, Facts};

/// The hypothetical request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WhatIf {
    /// An address or a user id.
    pub user: String,
    /// An app id.
    pub app: String,
    /// The client's address [default: one in no named location].
    pub ip: Option<IpAddr>,
    /// `android`, `ios`, `windows`, `macos`, `linux`, `chromeos`, `other` [default: other].
    pub platform: Option<String>,
    /// The IdP id the user signs in with [default: the one pinned to the user].
    pub idp: Option<String>,
    /// What the user's IdP says in `amr` (OIDC).
    #[serde(default)]
    pub amr: Vec<String>,
    /// What it says in `acr` (OIDC) or `AuthnContextClassRef` (SAML).
    pub acr: Option<String>,
    /// MFA the gateway performed in the session: `mfa` (TOTP) or `phishing_resistant`.
    pub mfa: Option<String>,
    /// Seconds since the user authenticated at their IdP [default: 0].
    #[serde(default)]
    pub auth_age_secs: i64,
    /// Seconds since the session began [default: the same as `auth_age_secs`].
    pub session_age_secs: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhatIfAnswer {
    pub user: String,
    pub app: String,
    /// The refusal code of the checks before policies (disabled, expired, removed, IdP not
    /// allowed, not assigned), if one refuses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_before_policies: Option<&'static str>,
    #[serde(flatten)]
    pub policies: Explanation,
}

#[derive(Debug, thiserror::Error)]
pub enum WhatIfError {
    #[error("no user with the address or id `{0}`")]
    UnknownUser(String),
    #[error("no app with the id `{0}`")]
    UnknownApp(String),
    #[error("no identity provider with the id `{0}`")]
    UnknownIdp(String),
    #[error("unknown platform `{0}`: use android, ios, windows, macos, linux, chromeos or other")]
    UnknownPlatform(String),
    #[error("unknown MFA `{0}`: use mfa or phishing_resistant")]
    UnknownMfa(String),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

pub async fn whatif(
    config: &Config,
    dir: &Directory,
    q: &WhatIf,
) -> Result<WhatIfAnswer, WhatIfError> {
    let user = match dir.user(&q.user).await? {
        Some(u) => u,
        None => dir
            .user_by_mail(&q.user.to_ascii_lowercase())
            .await?
            .ok_or_else(|| WhatIfError::UnknownUser(q.user.clone()))?,
    };
    let app = config
        .app(&q.app)
        .ok_or_else(|| WhatIfError::UnknownApp(q.app.clone()))?;
    let idp = match q.idp.as_deref().or(user.idp.as_deref()) {
        Some(id) => config
            .idps
            .iter()
            .find(|i| i.id == id)
            .ok_or_else(|| WhatIfError::UnknownIdp(id.to_string()))?,
        None => config
            .idps
            .first()
            .ok_or_else(|| WhatIfError::UnknownIdp("(none configured)".into()))?,
    };
    let platform = match q.platform.as_deref() {
        None => Platform::Other,
        Some(p) => Platform::parse(p).ok_or_else(|| WhatIfError::UnknownPlatform(p.into()))?,
    };
    let gateway_mfa = match q.mfa.as_deref() {
        None | Some("none") => None,
        Some("mfa") => Some(Strength::Mfa),
        Some("phishing_resistant") => Some(Strength::PhishingResistant),
        Some(other) => return Err(WhatIfError::UnknownMfa(other.into())),
    };
    let access = super::access::load(dir, &user.id).await?;
    let now = crate::db::now();
    let auth_time = now - q.auth_age_secs.max(0);
    // The session the user would have: their pinned identity (so the identity check passes
    // as it would for them), at the IdP asked about.
    let session = Session::from(NewSession {
        user_key: user.id.clone(),
        idp: idp.id.clone(),
        issuer: user.issuer.clone().unwrap_or_default(),
        subject: user.subject.clone().unwrap_or_default(),
        amr: q.amr.clone(),
        acr: q.acr.clone(),
        auth_time,
        created_at: now - q.session_age_secs.unwrap_or(q.auth_age_secs).max(0),
        expires_at: i64::MAX,
        ..Default::default()
    });
    let refused_before_policies = super::may_continue(access.as_ref(), &session, Some(app), now)
        .err()
        .map(|r| r.code());
    let Some(access) = access else {
        return Err(WhatIfError::UnknownUser(q.user.clone()));
    };
    let visit = AppVisit {
        app,
        // TEST-NET-1 (RFC 5737): an address no operator's location should contain.
        ip: q.ip.unwrap_or(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
        platform,
    };
    let mut facts = Facts::new(config, &access, &session, visit, now);
    facts.auth.gateway_mfa = gateway_mfa.map(|s| (s, auth_time));
    let policies = config
        .policies
        .explain(&facts.subject, &facts.context, &facts.auth);
    Ok(WhatIfAnswer {
        user: user.mail.clone(),
        app: app.id.clone(),
        refused_before_policies,
        policies,
    })
}
