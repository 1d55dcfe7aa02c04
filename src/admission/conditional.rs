//! The Conditional Access part of `Continue`: the facts of one proxied request (who, which
//! app, from where, how authenticated) handed to `PolicySet::evaluate`, its outcome turned
//! into a refusal, and every decision that denies, challenges or was report-only written to
//! the audit log — once per user, app and outcome in a window, so a refused client
//! retrying cannot fill the disk.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::time::Duration;

use crate::config::file::IdpKind;
use crate::config::{AppConfig, Config};
use crate::directory::{Actor, Directory};
use crate::policy::{
    Authentication, Context, Decision, Outcome, Platform, PolicySet, Protocol, Subject,
};
use crate::session::Session;

use super::{Refusal, UserAccess};

/// A proxied request to an app, as Conditional Access sees it.
#[derive(Clone, Copy, Debug)]
pub struct AppVisit<'a> {
    pub app: &'a AppConfig,
    /// The client's address: the socket peer, or the hop trusted proxies vouch for.
    pub ip: IpAddr,
    pub platform: Platform,
}

/// How long an identical policy decision for the same user and app is not audited again.
const AUDIT_WINDOW: Duration = Duration::from_secs(600);

/// Remembers which decisions were audited within the window.
pub struct PolicyAudit {
    seen: moka::sync::Cache<u64, ()>,
}

impl Default for PolicyAudit {
    fn default() -> Self {
        Self {
            seen: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(AUDIT_WINDOW)
                .build(),
        }
    }
}

impl PolicyAudit {
    /// True the first time `key` is seen in the window.
    fn first(&self, key: u64) -> bool {
        if self.seen.contains_key(&key) {
            return false;
        }
        self.seen.insert(key, ());
        true
    }
}

/// The request's facts as policy evaluation wants them.
pub struct Facts<'a> {
    pub subject: Subject<'a>,
    pub context: Context<'a>,
    pub auth: Authentication,
}

impl<'a> Facts<'a> {
    pub fn new(
        config: &'a Config,
        user: &'a UserAccess,
        session: &'a Session,
        visit: AppVisit<'a>,
        now: i64,
    ) -> Self {
        let set = &config.policies;
        let subject = Subject {
            user_id: session.user_key(),
            mail: &user.mail,
            kind: user.kind,
            groups: &user.groups,
            partner: if user.kind.is_guest() {
                set.partners.find(&session.issuer, &user.mail)
            } else {
                None
            },
        };
        // A partner that since signalled lower assurance withdrew the MFA it vouched for.
        let partner_mfa = set.trusted_partner_mfa(
            &subject,
            protocol_of(config, &session.idp),
            session.amr(),
            session.acr(),
        ) && user
            .assurance_lowered_at
            .is_none_or(|lowered| session.auth_time > lowered);
        Facts {
            subject,
            context: Context {
                app: &visit.app.id,
                ip: visit.ip,
                platform: visit.platform,
                idp: &session.idp,
                now,
            },
            auth: Authentication {
                auth_time: session.auth_time,
                session_created: session.created_at,
                partner_mfa,
                gateway_mfa: session.mfa.or_else(|| passcode_as_mfa(config, session)),
                terms_accepted: set.accepted_terms(&user.accepted_terms),
            },
        }
    }
}

/// A sign-in with an email passcode whose provider the operator opted in counts as MFA
/// performed at the sign-in (never phishing-resistant).
fn passcode_as_mfa(config: &Config, session: &Session) -> Option<(crate::policy::Strength, i64)> {
    config
        .idps
        .iter()
        .find(|i| i.id == *session.idp)
        .and_then(|i| i.passcode.as_ref())
        .filter(|p| p.counts_as_mfa)
        .map(|_| (crate::policy::Strength::Mfa, session.auth_time))
}

fn protocol_of(config: &Config, idp: &str) -> Protocol {
    match config.idps.iter().find(|i| i.id == idp).map(|i| i.kind) {
        Some(IdpKind::Oidc) => Protocol::Oidc,
        Some(IdpKind::Saml) => Protocol::Saml,
        _ => Protocol::Other,
    }
}

/// Evaluates the policies for one request; `Err` is the refusal to show.
pub fn check(
    config: &Config,
    dir: &Directory,
    audit: &PolicyAudit,
    user: &UserAccess,
    session: &Session,
    visit: AppVisit<'_>,
    now: i64,
) -> Result<(), Refusal> {
    let set = &config.policies;
    if set.is_inert() {
        return Ok(());
    }
    let facts = Facts::new(config, user, session, visit, now);
    let decision = set.evaluate(&facts.subject, &facts.context, &facts.auth);
    if decision.outcome != Outcome::Allow || !decision.report_only.is_empty() {
        record(dir, audit, set, &facts, &decision);
    }
    let app = || visit.app.display_name.clone();
    let names = |ps: &[usize]| ps.iter().map(|&i| set.policies[i].name.clone()).collect();
    match decision.outcome {
        Outcome::Allow => Ok(()),
        Outcome::PartnerBlocked { partner, .. } => Err(Refusal::PartnerBlocked {
            app: app(),
            partner,
        }),
        Outcome::Block { policies } => Err(Refusal::PolicyBlocked {
            app: app(),
            policies: names(&policies),
        }),
        Outcome::SignInAgain { .. } => Err(Refusal::SignInAgain { app: app() }),
        Outcome::StepUp { strength, policies } => Err(Refusal::MfaRequired {
            app: app(),
            strength,
            policies: names(&policies),
        }),
        Outcome::AcceptTerms { terms, .. } => Err(Refusal::TermsRequired {
            app: app(),
            terms: set
                .terms
                .get(terms)
                .map(|t| t.id.clone())
                .unwrap_or_default(),
        }),
    }
}

/// Audits a decision that denies, challenges or involved report-only policies, once per
/// window; the write happens off the request.
fn record(dir: &Directory, audit: &PolicyAudit, set: &PolicySet, f: &Facts<'_>, d: &Decision) {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (f.subject.user_id, f.context.app).hash(&mut h);
    d.hash(&mut h);
    if !audit.first(h.finish()) {
        return;
    }
    let names =
        |ps: &[usize]| -> Vec<&str> { ps.iter().map(|&i| set.policies[i].name.as_str()).collect() };
    let (action, policies, partner) = match &d.outcome {
        Outcome::Allow => ("policy.report_only", Vec::new(), None),
        Outcome::PartnerBlocked { partner, why } => (
            "policy.partner_blocked",
            Vec::new(),
            Some(
                serde_json::json!({ "partner": partner, "why": format!("{why:?}").to_lowercase() }),
            ),
        ),
        Outcome::Block { policies } => ("policy.blocked", names(policies), None),
        Outcome::SignInAgain { policies } => ("policy.sign_in_again", names(policies), None),
        Outcome::StepUp { policies, .. } => ("policy.mfa_required", names(policies), None),
        Outcome::AcceptTerms { policies, .. } => ("policy.terms_required", names(policies), None),
    };
    let report_only: Vec<_> = d
        .report_only
        .iter()
        .map(|r| {
            serde_json::json!({
                "policy": set.policies[r.policy].name,
                "result": r.result.name(),
                "enforced": false,
            })
        })
        .collect();
    let detail = serde_json::json!({
        "app": f.context.app,
        "result": d.outcome.name(),
        "policies": policies,
        "partner": partner,
        "report_only": report_only,
        "ip": f.context.ip.to_string(),
        "platform": f.context.platform.name(),
        "idp": f.context.idp,
        "user_kind": f.subject.kind.name(),
    });
    tracing::info!(target: "borderless::security", action, user = f.subject.user_id, app = f.context.app, result = d.outcome.name(), "conditional access");
    let dir = dir.clone();
    let user = f.subject.user_id.to_string();
    tokio::spawn(async move {
        if let Err(e) = dir
            .audit(&Actor::Gateway, action, Some(&user), detail)
            .await
        {
            tracing::error!("audit write failed: {e}");
        }
    });
}
