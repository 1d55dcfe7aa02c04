//! What-if: the decision for a hypothetical request, with every policy's part in it — which
//! apply, why the others do not, and what each applying one asks. The tool an operator runs
//! before switching a policy on (`borderless whatif`, `POST /admin/v1/whatif`).

use serde::Serialize;

use super::evaluate::{Authentication, Context, Outcome, PolicyResult, Subject};
use super::set::PolicySet;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVerdict {
    pub policy: String,
    pub state: &'static str,
    pub applies: bool,
    /// Why it does not apply: the first assignment or condition that leaves this request out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_applied: Option<&'static str>,
    /// What it asks of this request, when it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// `allow`, `block`, `partner_blocked`, `sign_in_again`, `require_mfa`,
    /// `require_phishing_resistant`.
    pub result: &'static str,
    /// The partner entry the user matched (guests), or none (members).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_refusal: Option<String>,
    /// Named locations the address is in.
    pub locations: Vec<String>,
    pub policies: Vec<PolicyVerdict>,
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::PartnerBlocked { .. } => "partner_blocked",
            Outcome::Block { .. } => "block",
            Outcome::SignInAgain { .. } => "sign_in_again",
            Outcome::StepUp { strength, .. } => PolicyResult::StepUp(*strength).name(),
            Outcome::AcceptTerms { .. } => "require_terms",
        }
    }
}

impl PolicySet {
    pub fn explain(&self, s: &Subject<'_>, c: &Context<'_>, auth: &Authentication) -> Explanation {
        let decision = self.evaluate(s, c, auth);
        let ix = &self.index;
        let (users, excluded) = ix.users(s);
        let apps = ix.apps(c.app);
        let matching: Vec<usize> = self
            .locations
            .iter()
            .enumerate()
            .filter(|(_, l)| l.contains(c.ip))
            .map(|(i, _)| i)
            .collect();
        let locations = ix.locations(matching.iter().copied());
        let platforms = ix.platforms(c.platform);
        let idps = ix.idps(c.idp);
        let policies = self
            .policies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let not_applied = if !ix.live.contains(i) {
                    Some("policy is off")
                } else if !users.contains(i) {
                    Some("user not included")
                } else if excluded.contains(i) {
                    Some("user excluded")
                } else if !apps.contains(i) {
                    Some("app not included")
                } else if !locations.contains(i) {
                    Some("location")
                } else if !platforms.contains(i) {
                    Some("platform")
                } else if !idps.contains(i) {
                    Some("identity provider")
                } else {
                    None
                };
                PolicyVerdict {
                    policy: p.name.clone(),
                    state: p.state.name(),
                    applies: not_applied.is_none(),
                    not_applied,
                    result: not_applied.is_none().then(|| p.result(auth, c.now).name()),
                }
            })
            .collect();
        let partner = s
            .kind
            .is_guest()
            .then(|| self.partners.settings(s.partner).name.clone())
            .map(|n| {
                if s.partner.is_none() {
                    "default".into()
                } else {
                    n
                }
            });
        let partner_refusal = match &decision.outcome {
            Outcome::PartnerBlocked { why, .. } => Some(format!("{why:?}").to_lowercase()),
            _ => None,
        };
        Explanation {
            result: decision.outcome.name(),
            partner,
            partner_refusal,
            locations: matching
                .iter()
                .map(|&i| self.locations[i].name.clone())
                .collect(),
            policies,
        }
    }
}
