//! Inviting guests: one place that checks an invitation (address, domain policy, apps,
//! groups, redirect URL, who may invite) and writes it, for the CLI, the CSV bulk path and the
//! admin API alike; then hands the emails to the mailer, outside the caller's request.

pub mod bulk;

use std::sync::Arc;

use serde::Serialize;
use url::Url;

use crate::config::Config;
use crate::config::file::WhoMayInvite;
use crate::directory::address::Address;
use crate::directory::invitations::{InviteResult, Invited, NewInvitation};
use crate::directory::{Actor, Directory, DirectoryError, Invitation, User, UserType};
use crate::mail::{InvitationMail, Mailer};
use crate::proxy::route::Router;

/// The background delivery of invitation emails; await it to learn how it went.
pub type MailHandle = tokio::task::JoinHandle<crate::mail::DeliveryReport>;

/// An invitation as a caller asks for it (Graph's invitation fields plus grants).
#[derive(Debug, Clone, Default)]
pub struct InviteInput {
    pub email: String,
    pub display_name: Option<String>,
    pub redirect_url: Option<String>,
    pub apps: Vec<String>,
    pub groups: Vec<String>,
    pub message: Option<String>,
    pub send_email: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// The request itself is wrong (shown to the caller as is).
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// What happened to one invitation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InviteReport {
    pub result: InviteResult,
    pub user: User,
    pub invitation: Option<Invitation>,
    /// The redemption link, when there is a new one.
    pub redeem_url: Option<String>,
}

/// A request that passed every check, ready to write.
struct Checked {
    email: Address,
    upn: String,
    display_name: String,
    redirect_url: String,
    apps: Vec<String>,
    group_ids: Vec<String>,
    message: Option<String>,
    send_email: bool,
}

#[derive(Clone)]
pub struct Inviter {
    pub dir: Directory,
    pub config: Arc<Config>,
    router: Arc<Router>,
    mailer: Option<Mailer>,
}

impl Inviter {
    pub fn new(dir: Directory, config: Arc<Config>) -> anyhow::Result<Self> {
        let mailer = config.smtp.as_ref().map(Mailer::new).transpose()?;
        Ok(Self {
            router: Arc::new(Router::new(&config.apps)),
            dir,
            config,
            mailer,
        })
    }

    /// The mail transport, when `[smtp]` is configured.
    pub fn mailer(&self) -> Option<&Mailer> {
        self.mailer.as_ref()
    }

    pub fn redeem_url(&self, secret: &str) -> String {
        let mut u = self
            .config
            .public_url
            .join("/.borderless/redeem")
            .unwrap_or_else(|_| self.config.public_url.clone());
        u.query_pairs_mut().append_pair("t", secret);
        u.to_string()
    }

    /// Invites one guest; the email (if asked for) is sent in the background and the returned
    /// handle tells when it is done.
    pub async fn invite(
        &self,
        actor: &Actor,
        input: &InviteInput,
    ) -> Result<(InviteReport, Option<MailHandle>), InviteError> {
        let checked = self.check(actor, input).await?;
        let invited = self
            .dir
            .invite(actor, &self.new_invitation(&checked))
            .await?;
        let (report, mail) = self.report(actor, &checked, invited);
        let handle = self.send(mail.into_iter().collect());
        Ok((report, handle))
    }

    fn new_invitation<'a>(&self, c: &'a Checked) -> NewInvitation<'a> {
        NewInvitation {
            email: &c.email,
            upn: &c.upn,
            display_name: &c.display_name,
            redirect_url: &c.redirect_url,
            apps: &c.apps,
            groups: &c.group_ids,
            message: c.message.as_deref(),
            send_email: c.send_email && self.mailer.is_some(),
            ttl_secs: self.config.directory.invitation_ttl.as_secs() as i64,
        }
    }

    fn report(
        &self,
        actor: &Actor,
        c: &Checked,
        invited: Invited,
    ) -> (InviteReport, Option<InvitationMail>) {
        let redeem_url = invited.secret.as_deref().map(|s| self.redeem_url(s));
        let mail = match (&invited.invitation, &redeem_url) {
            (Some(inv), Some(link)) if c.send_email && self.mailer.is_some() => {
                Some(self.mail_for(actor, inv, link))
            }
            _ => None,
        };
        (
            InviteReport {
                result: invited.result,
                user: invited.user,
                invitation: invited.invitation,
                redeem_url,
            },
            mail,
        )
    }

    fn mail_for(&self, actor: &Actor, inv: &Invitation, link: &str) -> InvitationMail {
        let d = &self.config.directory;
        let app_name = Url::parse(&inv.redirect_url)
            .ok()
            .and_then(|u| {
                self.router
                    .route(
                        &u[url::Position::BeforeHost..url::Position::AfterPort],
                        u.path(),
                    )
                    .map(|a| a.display_name.clone())
            })
            .unwrap_or_else(|| d.organization.clone());
        let inviter = match actor {
            Actor::User { mail, .. } => mail.clone(),
            _ => d.organization.clone(),
        };
        InvitationMail {
            invitation_id: inv.id.clone(),
            to: inv.email.clone(),
            to_name: inv.display_name.clone(),
            inviter,
            organization: d.organization.clone(),
            logo_url: d.logo_url.clone(),
            support: d.support_contact.clone(),
            app_name,
            message: inv.message.clone(),
            link: link.to_string(),
            expires_at: inv.expires_at,
        }
    }

    fn send(&self, mails: Vec<InvitationMail>) -> Option<MailHandle> {
        match &self.mailer {
            Some(m) if !mails.is_empty() => Some(m.spawn(&self.dir, mails)),
            _ => None,
        }
    }

    /// Sends a pending guest a fresh link (the old one stops working).
    pub async fn resend(
        &self,
        actor: &Actor,
        user_key: &str,
    ) -> Result<(InviteReport, Option<MailHandle>), InviteError> {
        admin_only(actor)?;
        let user = self.dir.find_user(user_key).await?;
        let ttl = self.config.directory.invitation_ttl.as_secs() as i64;
        let (inv, secret) = self.dir.renew_link(actor, &user.id, ttl).await?;
        let link = self.redeem_url(&secret);
        let handle = match &self.mailer {
            Some(_) => self.send(vec![self.mail_for(actor, &inv, &link)]),
            None => {
                self.dir
                    .set_email_status(
                        &inv.id,
                        crate::directory::EmailStatus::NotRequested,
                        Some("no [smtp] configured"),
                    )
                    .await?;
                None
            }
        };
        let inv = self.dir.invitation(&inv.id).await?;
        Ok((
            InviteReport {
                result: InviteResult::Reinvited,
                user,
                invitation: inv,
                redeem_url: Some(link),
            },
            handle,
        ))
    }

    /// Resets a guest's redemption and, with `send`, mails a fresh link.
    pub async fn reset_redemption(
        &self,
        actor: &Actor,
        user_key: &str,
        send: bool,
    ) -> Result<(InviteReport, Option<MailHandle>), InviteError> {
        admin_only(actor)?;
        let user = self.dir.find_user(user_key).await?;
        self.dir.reset_redemption(actor, &user.id).await?;
        if send {
            return self.resend(actor, &user.id).await;
        }
        let ttl = self.config.directory.invitation_ttl.as_secs() as i64;
        let (inv, secret) = self.dir.renew_link(actor, &user.id, ttl).await?;
        self.dir
            .set_email_status(&inv.id, crate::directory::EmailStatus::NotRequested, None)
            .await?;
        let user = self.dir.find_user(&user.id).await?;
        Ok((
            InviteReport {
                result: InviteResult::Reinvited,
                user,
                invitation: self.dir.invitation(&inv.id).await?,
                redeem_url: Some(self.redeem_url(&secret)),
            },
            None,
        ))
    }

    /// Every check an invitation must pass before anything is written.
    async fn check(&self, actor: &Actor, input: &InviteInput) -> Result<Checked, InviteError> {
        let email = Address::parse(&input.email).map_err(InviteError::Invalid)?;
        self.config
            .collaboration
            .domains
            .check(&email)
            .map_err(InviteError::Forbidden)?;
        let mut apps = Vec::new();
        for a in &input.apps {
            if self.config.app(a).is_none() {
                return Err(InviteError::Invalid(format!("unknown app `{a}`")));
            }
            if !apps.contains(a) {
                apps.push(a.clone());
            }
        }
        let redirect_url = match &input.redirect_url {
            Some(raw) => self.redirect_app(raw)?.0,
            None => match apps.first().and_then(|a| self.config.app(a)) {
                Some(app) => app.external_url(),
                None => self
                    .config
                    .public_url
                    .join("/.borderless/apps")
                    .map(|u| u.to_string())
                    .unwrap_or_default(),
            },
        };
        // The app the guest lands on counts as an app being invited to, for permissions.
        let landing_app = self.redirect_app(&redirect_url).ok().map(|(_, a)| a);
        let mut group_ids = Vec::new();
        let mut group_owners = Vec::new();
        for g in &input.groups {
            let group = self.dir.group(g).await.map_err(|e| match e {
                DirectoryError::NotFound(_) => InviteError::Invalid(format!("unknown group `{g}`")),
                other => other.into(),
            })?;
            group_owners.push((group.display_name.clone(), group.owners.clone()));
            if !group_ids.contains(&group.id) {
                group_ids.push(group.id);
            }
        }
        self.may_invite(actor, &apps, landing_app.as_deref(), &group_owners)
            .await?;
        // A non-admin re-inviting someone who is already in the directory would revoke and
        // re-issue their links, or add access to an accepted account. It changes nothing, and
        // the answer is the same whatever that user's state is.
        if !actor.is_admin() && self.dir.user_by_mail(email.as_str()).await?.is_some() {
            return Err(InviteError::Forbidden(format!(
                "{email} already has an account here; ask an administrator to change its access"
            )));
        }
        let display_name = input
            .display_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(email.local())
            .chars()
            .filter(|c| !c.is_control())
            .take(256)
            .collect();
        let message = input
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(|m| m.chars().take(2000).collect::<String>());
        Ok(Checked {
            upn: email.guest_upn(&self.config.directory.tenant_domain),
            email,
            display_name,
            redirect_url,
            apps,
            group_ids,
            message,
            send_email: input.send_email,
        })
    }

    /// A redirect URL must be an address of a configured app; returns it and the app id.
    fn redirect_app(&self, raw: &str) -> Result<(String, String), InviteError> {
        let bad = || {
            InviteError::Invalid(format!(
                "the redirect URL `{raw}` is not an address of an app of this gateway"
            ))
        };
        let url = crate::web::return_to::validate(
            raw,
            &self.config.public_url,
            &self.config.login_authority,
            &self.router,
        )
        .ok_or_else(bad)?;
        let authority = crate::web::return_to::authority_of(&url).ok_or_else(bad)?;
        let app = self
            .router
            .route_normalized(&authority, url.path())
            .ok_or_else(bad)?;
        Ok((url.to_string(), app.id.clone()))
    }

    /// The external collaboration setting "who may invite".
    async fn may_invite(
        &self,
        actor: &Actor,
        apps: &[String],
        landing_app: Option<&str>,
        groups: &[(String, Vec<String>)],
    ) -> Result<(), InviteError> {
        let Actor::User { id, mail } = actor else {
            return if actor.is_admin() {
                Ok(())
            } else {
                Err(InviteError::Forbidden("not allowed to invite".into()))
            };
        };
        let policy = self.config.collaboration.who_may_invite;
        if policy == WhoMayInvite::AdminsOnly {
            return Err(InviteError::Forbidden(
                "only administrators may invite guests".into(),
            ));
        }
        let user = self
            .dir
            .user(id)
            .await?
            .filter(|u| u.is_active(crate::db::now()))
            .ok_or_else(|| InviteError::Forbidden("your account cannot invite".into()))?;
        let owns = |app: &str| {
            self.config
                .app(app)
                .is_some_and(|a| a.owners.iter().any(|o| o == mail))
        };
        let broad = match policy {
            WhoMayInvite::Everyone => true,
            WhoMayInvite::Members => user.user_type == UserType::Member,
            _ => false,
        };
        // Whoever may invite, only an app's owners grant access to it: under `members` or
        // `everyone` a guest could otherwise invite their own address to any app.
        if let Some(app) = apps.iter().find(|a| !owns(a)) {
            return Err(InviteError::Forbidden(format!(
                "you are not an owner of the app `{app}`, so you cannot give anyone access to it"
            )));
        }
        if !broad {
            // App owners invite to their own apps only, and must name at least one.
            let targets: Vec<&str> = apps.iter().map(String::as_str).chain(landing_app).collect();
            if targets.is_empty() {
                return Err(InviteError::Forbidden(
                    "app owners must invite to one of their apps".into(),
                ));
            }
            if let Some(app) = targets.iter().find(|a| !owns(a)) {
                return Err(InviteError::Forbidden(format!(
                    "you are not an owner of the app `{app}`, so you cannot invite guests to it"
                )));
            }
        }
        // Only a group's owners (or admins) put people into it.
        if let Some((name, _)) = groups.iter().find(|(_, owners)| !owners.contains(mail)) {
            return Err(InviteError::Forbidden(format!(
                "you are not an owner of the group `{name}`"
            )));
        }
        Ok(())
    }
}

/// Only admins manage existing users (resend, reset).
fn admin_only(actor: &Actor) -> Result<(), InviteError> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(InviteError::Forbidden(
            "only administrators may manage guests".into(),
        ))
    }
}
