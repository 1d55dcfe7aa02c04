//! One function per admin API operation; `route` maps method and path to them. The shapes
//! follow Microsoft Graph where Graph has the resource (invitation, user, group).

use http::{Method, StatusCode};
use serde::Deserialize;

use super::{ApiError, ApiResult, ok_json};
use crate::directory::groups::Principal;
use crate::directory::{Actor, User};
use crate::invite::{InviteInput, InviteReport};
use crate::state::{Gateway, Runtime};

pub struct Call<'a> {
    pub gw: &'a Gateway,
    pub rt: &'a Runtime,
    pub actor: &'a Actor,
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub content_type: &'a str,
    pub body: &'a [u8],
}

impl Call<'_> {
    fn json<T: for<'de> Deserialize<'de>>(&self) -> Result<T, ApiError> {
        if !self.content_type.starts_with("application/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                "send Content-Type: application/json",
            ));
        }
        let de = &mut serde_json::Deserializer::from_slice(self.body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let at = e.path().to_string();
            let inner = e.into_inner();
            if at.is_empty() || at == "." {
                ApiError::bad_request(format!("invalid JSON body: {inner}"))
            } else {
                ApiError::bad_request(format!("invalid JSON body at `{at}`: {inner}"))
            }
        })
    }

    fn admin_only(&self) -> Result<(), ApiError> {
        if self.actor.is_admin() {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "this operation needs an admin API key",
            ))
        }
    }
}

pub async fn route(c: Call<'_>) -> ApiResult {
    let segments: Vec<&str> = c.path.trim_matches('/').split('/').collect();
    let m = c.method.clone();
    if !(segments.as_slice() == ["invitations"] && m == Method::POST) {
        c.admin_only()?;
    }
    match (m, segments.as_slice()) {
        (Method::POST, ["invitations"]) => create_invitation(&c).await,
        (Method::POST, ["invitations", "bulk"]) => bulk_invite(&c).await,
        (Method::GET, ["users"]) => ok_json(
            StatusCode::OK,
            &Page::of(c.gw.directory.list_users().await?),
        ),
        (Method::GET, ["users", id]) => get_user(&c, id).await,
        (Method::PATCH, ["users", id]) => patch_user(&c, id).await,
        (Method::DELETE, ["users", id]) => delete_user(&c, id).await,
        (Method::POST, ["users", id, "resend"]) => resend(&c, id).await,
        (Method::POST, ["users", id, "reset-redemption"]) => reset_redemption(&c, id).await,
        (Method::GET, ["users", id, "mfa"]) => mfa_methods(&c, id).await,
        (Method::DELETE, ["users", id, "mfa"]) => {
            let u = c.gw.directory.find_user(id).await?;
            let removed = c.gw.directory.mfa_reset(c.actor, &u.id).await?;
            // Here at once; other instances through the revocation feed.
            forget(&c, &u).await;
            ok_json(
                StatusCode::OK,
                &serde_json::json!({ "methodsRemoved": removed }),
            )
        }
        (Method::GET, ["groups"]) => ok_json(
            StatusCode::OK,
            &Page::of(c.gw.directory.list_groups().await?),
        ),
        (Method::POST, ["groups"]) => create_group(&c).await,
        (Method::GET, ["groups", id]) => ok_json(StatusCode::OK, &c.gw.directory.group(id).await?),
        (Method::DELETE, ["groups", id]) => {
            c.gw.directory.delete_group(c.actor, id).await?;
            Ok(no_content())
        }
        (Method::POST, ["groups", id, "members"]) => add_member(&c, id).await,
        (Method::DELETE, ["groups", id, "members", user]) => {
            let u = c.gw.directory.find_user(user).await?;
            c.gw.directory
                .set_membership(c.actor, id, &u.id, false)
                .await?;
            c.gw.access.invalidate(&u.id).await;
            Ok(no_content())
        }
        (Method::GET, ["assignments"]) => ok_json(
            StatusCode::OK,
            &Page::of(c.gw.directory.list_assignments().await?),
        ),
        (Method::POST, ["assignments"]) => assignment(&c, true).await,
        (Method::DELETE, ["assignments"]) => assignment(&c, false).await,
        (Method::GET, ["audit"]) => audit(&c).await,
        (Method::POST, ["whatif"]) => whatif(&c).await,
        (
            _,
            [
                "invitations" | "users" | "groups" | "assignments" | "audit" | "whatif",
                ..,
            ],
        ) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{} is not supported on {}", c.method, c.path),
        )),
        _ => Err(ApiError::not_found(format!(
            "no API operation at {}",
            c.path
        ))),
    }
}

/// Graph's collection envelope.
#[derive(serde::Serialize)]
struct Page<T> {
    value: Vec<T>,
}

impl<T> Page<T> {
    fn of(value: Vec<T>) -> Self {
        Self { value }
    }
}

fn no_content() -> http::Response<crate::response::Body> {
    let mut r = http::Response::new(crate::response::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

/// Graph's invitation resource (the fields Borderless understands) plus grants.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InvitationBody {
    invited_user_email_address: String,
    invite_redirect_url: Option<String>,
    #[serde(default)]
    send_invitation_message: bool,
    invited_user_display_name: Option<String>,
    invited_user_message_info: Option<MessageInfo>,
    /// Graph sends it; guests are the only kind invited here.
    invited_user_type: Option<String>,
    /// Borderless extensions: app ids and group names or ids to grant.
    #[serde(default)]
    apps: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageInfo {
    customized_message_body: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // accepted for Graph compatibility; one language per deployment
    message_language: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    cc_recipients: Option<serde_json::Value>,
}

fn invitation_json(r: &InviteReport, body_send: bool) -> serde_json::Value {
    serde_json::json!({
        "id": r.invitation.as_ref().map(|i| i.id.clone()),
        "inviteRedeemUrl": r.redeem_url,
        "invitedUserEmailAddress": r.user.mail,
        "invitedUserDisplayName": r.user.display_name,
        "inviteRedirectUrl": r.invitation.as_ref().map(|i| i.redirect_url.clone()),
        "invitedUserType": r.user.user_type,
        "sendInvitationMessage": body_send,
        "status": match r.user.state {
            crate::directory::UserState::Accepted => "Completed",
            crate::directory::UserState::PendingAcceptance => "PendingAcceptance",
        },
        "result": r.result,
        "emailStatus": r.invitation.as_ref().map(|i| i.email_status),
        "invitedUser": { "id": r.user.id, "userPrincipalName": r.user.upn },
    })
}

async fn create_invitation(c: &Call<'_>) -> ApiResult {
    if let Actor::User { id, .. } = c.actor {
        c.rt.rate_limits.invitation(id)?;
    }
    let b: InvitationBody = c.json()?;
    if let Some(t) = &b.invited_user_type
        && !t.eq_ignore_ascii_case("guest")
    {
        return Err(ApiError::bad_request(
            "only invitedUserType Guest is supported",
        ));
    }
    let input = InviteInput {
        email: b.invited_user_email_address,
        display_name: b.invited_user_display_name,
        redirect_url: b.invite_redirect_url,
        apps: b.apps,
        groups: b.groups,
        message: b
            .invited_user_message_info
            .and_then(|m| m.customized_message_body),
        send_email: b.send_invitation_message,
    };
    // The email goes out in the background; the answer does not wait for SMTP.
    let (report, _mail) = c.rt.inviter.invite(c.actor, &input).await?;
    ok_json(
        StatusCode::CREATED,
        &invitation_json(&report, input.send_email),
    )
}

async fn bulk_invite(c: &Call<'_>) -> ApiResult {
    if !c.content_type.starts_with("text/csv") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "send the CSV file with Content-Type: text/csv",
        ));
    }
    let (report, _mail) = c.rt.inviter.invite_csv(c.actor, c.body).await?;
    ok_json(StatusCode::OK, &report)
}

async fn get_user(c: &Call<'_>, id: &str) -> ApiResult {
    let user = c.gw.directory.find_user(id).await?;
    let invitations = c.gw.directory.invitations_of(&user.id).await?;
    let apps = c.gw.directory.assigned_apps(&user.id).await?;
    ok_json(
        StatusCode::OK,
        &serde_json::json!({ "user": user, "invitations": invitations, "apps": apps }),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UserPatch {
    account_enabled: Option<bool>,
    /// When access ends: Unix seconds or an RFC 3339 timestamp; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Option<i64>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`), and takes the
/// instant as a number (Unix seconds) or a string (RFC 3339, as Graph writes times).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Instant {
        Unix(i64),
        Text(String),
    }
    match Option::<Instant>::deserialize(d)? {
        None => Ok(Some(None)),
        Some(Instant::Unix(t)) => Ok(Some(Some(t))),
        Some(Instant::Text(s)) => crate::timestamp::parse_instant(&s)
            .map(|t| Some(Some(t)))
            .map_err(serde::de::Error::custom),
    }
}

/// Ends a user's sessions in this process at once; other processes follow the feed.
async fn forget(c: &Call<'_>, user: &User) {
    c.gw.sessions.forget_user(&user.id);
    c.gw.access.invalidate(&user.id).await;
}

async fn patch_user(c: &Call<'_>, id: &str) -> ApiResult {
    let p: UserPatch = c.json()?;
    let user = c.gw.directory.find_user(id).await?;
    if let Some(enabled) = p.account_enabled {
        c.gw.directory
            .set_disabled(c.actor, &user.id, !enabled)
            .await?;
        if !enabled {
            forget(c, &user).await;
        }
    }
    if let Some(expires_at) = p.expires_at {
        c.gw.directory
            .set_expiry(c.actor, &user.id, expires_at)
            .await?;
        if expires_at.is_some_and(|t| t <= crate::db::now()) {
            forget(c, &user).await;
        }
    }
    ok_json(StatusCode::OK, &c.gw.directory.find_user(&user.id).await?)
}

async fn delete_user(c: &Call<'_>, id: &str) -> ApiResult {
    let user = c.gw.directory.find_user(id).await?;
    c.gw.directory.remove_user(c.actor, &user.id).await?;
    forget(c, &user).await;
    Ok(no_content())
}

async fn resend(c: &Call<'_>, id: &str) -> ApiResult {
    let (report, _mail) = c.rt.inviter.resend(c.actor, id).await?;
    ok_json(StatusCode::OK, &invitation_json(&report, true))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResetBody {
    #[serde(default)]
    send_invitation_message: bool,
}

async fn reset_redemption(c: &Call<'_>, id: &str) -> ApiResult {
    let b: ResetBody = if c.body.is_empty() {
        ResetBody::default()
    } else {
        c.json()?
    };
    let user = c.gw.directory.find_user(id).await?;
    let (report, _mail) =
        c.rt.inviter
            .reset_redemption(c.actor, &user.id, b.send_invitation_message)
            .await?;
    forget(c, &user).await;
    ok_json(
        StatusCode::OK,
        &invitation_json(&report, b.send_invitation_message),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GroupBody {
    display_name: String,
    description: Option<String>,
    #[serde(default)]
    owners: Vec<String>,
}

async fn create_group(c: &Call<'_>) -> ApiResult {
    let b: GroupBody = c.json()?;
    let mut owners = Vec::new();
    for o in &b.owners {
        owners.push(
            crate::directory::address::Address::parse(o)
                .map_err(ApiError::bad_request)?
                .to_string(),
        );
    }
    let g =
        c.gw.directory
            .create_group(c.actor, &b.display_name, b.description.as_deref(), &owners)
            .await?;
    ok_json(StatusCode::CREATED, &g)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MemberBody {
    user_id: String,
}

async fn add_member(c: &Call<'_>, group: &str) -> ApiResult {
    let b: MemberBody = c.json()?;
    let u = c.gw.directory.find_user(&b.user_id).await?;
    c.gw.directory
        .set_membership(c.actor, group, &u.id, true)
        .await?;
    c.gw.access.invalidate(&u.id).await;
    ok_json(StatusCode::OK, &c.gw.directory.group(group).await?)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AssignmentBody {
    app: String,
    principal_type: String,
    principal_id: String,
}

async fn assignment(c: &Call<'_>, add: bool) -> ApiResult {
    let b: AssignmentBody = c.json()?;
    if c.rt.config.app(&b.app).is_none() {
        return Err(ApiError::bad_request(format!("unknown app `{}`", b.app)));
    }
    let (principal_id, affected) = match b.principal_type.as_str() {
        "user" => {
            let u = c.gw.directory.find_user(&b.principal_id).await?;
            (u.id.clone(), vec![u.id])
        }
        "group" => (c.gw.directory.group(&b.principal_id).await?.id, vec![]),
        other => {
            return Err(ApiError::bad_request(format!(
                "principalType must be user or group, not `{other}`"
            )));
        }
    };
    let principal = if b.principal_type == "user" {
        Principal::User(&principal_id)
    } else {
        Principal::Group(&principal_id)
    };
    c.gw.directory
        .set_assignment(c.actor, &b.app, principal, add)
        .await?;
    for u in affected {
        c.gw.access.invalidate(&u).await;
    }
    Ok(no_content())
}

/// A user's MFA methods (never their secrets) and the recovery codes they have left.
async fn mfa_methods(c: &Call<'_>, id: &str) -> ApiResult {
    let u = c.gw.directory.find_user(id).await?;
    let methods = c.gw.directory.mfa_methods(&u.id).await?;
    let left = c.gw.directory.mfa_recovery_codes_left(&u.id).await?;
    ok_json(
        StatusCode::OK,
        &serde_json::json!({ "value": methods, "recoveryCodesLeft": left }),
    )
}

/// Conditional Access what-if (`POST …/whatif`): the decision for a hypothetical request,
/// policy by policy.
async fn whatif(c: &Call<'_>) -> ApiResult {
    use crate::admission::whatif::{WhatIf, WhatIfError, whatif};
    let q: WhatIf = c.json()?;
    match whatif(&c.rt.config, &c.gw.directory, &q).await {
        Ok(answer) => ok_json(StatusCode::OK, &answer),
        Err(WhatIfError::Directory(e)) => Err(e.into()),
        Err(e @ (WhatIfError::UnknownUser(_) | WhatIfError::UnknownApp(_))) => {
            Err(ApiError::not_found(e.to_string()))
        }
        Err(e) => Err(ApiError::bad_request(e.to_string())),
    }
}

async fn audit(c: &Call<'_>) -> ApiResult {
    let q = crate::web::query::parse_unique(c.query)
        .map_err(|_| ApiError::bad_request("a query parameter was repeated"))?;
    let since = match q.get("since") {
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request("since must be a Unix time in seconds"))?,
        None => 0,
    };
    let limit = match q.get("limit") {
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| ApiError::bad_request("limit must be 1 to 10000"))?,
        None => 1000,
    };
    ok_json(
        StatusCode::OK,
        &Page::of(c.gw.directory.audit_since(since, limit).await?),
    )
}
