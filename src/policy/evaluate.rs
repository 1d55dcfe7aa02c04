//! The decision for one request: partner settings first (a partner that is blocked, or an
//! app or group the partner's users may not reach), then every Conditional Access policy
//! that applies. Block wins over everything; then "sign in again" (a session or sign-in too
//! old); then the strongest authentication any applying policy asks for.

use std::net::IpAddr;

use super::bits::PolicyBits;
use super::partner::{Inbound, Protocol};
use super::platform::Platform;
use super::set::{Policy, PolicySet, State};
use super::{Strength, UserKind};

/// Who is asking.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub user_id: &'a str,
    /// Lower-case.
    pub mail: &'a str,
    pub kind: UserKind,
    /// Names of the directory groups the user belongs to.
    pub groups: &'a [String],
    /// For guests: the partner entry they match (`None`: the default entry). Members have
    /// no partner settings.
    pub partner: Option<usize>,
}

/// What they are asking for, and from where.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub app: &'a str,
    pub ip: IpAddr,
    pub platform: Platform,
    /// The IdP id the session came from.
    pub idp: &'a str,
    pub now: i64,
}

/// How the session was authenticated, and when.
#[derive(Clone, Copy, Debug, Default)]
pub struct Authentication {
    /// When the user last authenticated at their IdP (OIDC `auth_time`, SAML `AuthnInstant`).
    pub auth_time: i64,
    pub session_created: i64,
    /// The session carries a claim the user's partner entry trusts as MFA
    /// (`PolicySet::trusted_partner_mfa`); it counts while `auth_time` is recent enough.
    pub partner_mfa: bool,
    /// MFA the gateway performed for this session: its strength and when.
    pub gateway_mfa: Option<(Strength, i64)>,
    /// Which terms the user accepted in their current version (`PolicySet::accepted_terms`).
    pub terms_accepted: u64,
}

/// Why partner settings refuse someone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PartnerBlock {
    /// Inbound access from the partner is blocked.
    Inbound,
    /// The partner's users may not reach this app.
    App,
    /// The user is in none of the groups the partner's users must be in.
    Group,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Allow,
    PartnerBlocked {
        /// The entry's name (`default` for the default entry).
        partner: String,
        why: PartnerBlock,
    },
    /// Policies (indexes) whose grant is "block".
    Block {
        policies: Vec<usize>,
    },
    /// The session, or the authentication it rests on, is older than a policy allows.
    SignInAgain {
        policies: Vec<usize>,
    },
    /// The user must (again) prove a second factor of at least `strength`.
    StepUp {
        strength: Strength,
        policies: Vec<usize>,
    },
    /// The user must accept these terms (an index into `PolicySet::terms`).
    AcceptTerms {
        terms: usize,
        policies: Vec<usize>,
    },
}

/// A report-only policy that applied, and what it would have done.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReportOnly {
    pub policy: usize,
    pub result: PolicyResult,
}

/// One policy's verdict on a request it applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyResult {
    Satisfied,
    Block,
    SignInAgain,
    StepUp(Strength),
    AcceptTerms(usize),
}

impl PolicyResult {
    pub fn name(self) -> &'static str {
        match self {
            PolicyResult::Satisfied => "satisfied",
            PolicyResult::Block => "block",
            PolicyResult::SignInAgain => "sign_in_again",
            PolicyResult::StepUp(Strength::Mfa) => "require_mfa",
            PolicyResult::StepUp(Strength::PhishingResistant) => "require_phishing_resistant",
            PolicyResult::AcceptTerms(_) => "require_terms",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Decision {
    pub outcome: Outcome,
    /// Empty unless report-only policies applied (then the caller audits them).
    pub report_only: Vec<ReportOnly>,
}

impl Decision {
    pub const ALLOW: Decision = Decision {
        outcome: Outcome::Allow,
        report_only: Vec::new(),
    };
}

impl PolicySet {
    /// Whether the session's claims include one the subject's partner entry trusts as MFA.
    /// Members' claims never count here: their MFA is the gateway's, or their own IdP's
    /// through a policy that does not ask for it.
    pub fn trusted_partner_mfa<'a>(
        &self,
        s: &Subject<'_>,
        protocol: Protocol,
        amr: impl Iterator<Item = &'a str>,
        acr: Option<&str>,
    ) -> bool {
        s.kind.is_guest()
            && self
                .partners
                .settings(s.partner)
                .mfa_trust
                .counts_as_mfa(protocol, amr, acr)
    }

    /// The decision for one request.
    pub fn evaluate(&self, s: &Subject<'_>, c: &Context<'_>, auth: &Authentication) -> Decision {
        if let Some(outcome) = self.partner_refusal(s, c.app) {
            return Decision {
                outcome,
                report_only: Vec::new(),
            };
        }
        if self.policies.is_empty() {
            return Decision::ALLOW;
        }
        let applying = self.applying(s, c);
        let mut decision = Decision::ALLOW;
        let mut block = Vec::new();
        let mut again = Vec::new();
        let mut step: Option<(Strength, Vec<usize>)> = None;
        let mut terms: Option<(usize, Vec<usize>)> = None;
        for i in applying.iter() {
            let p = &self.policies[i];
            let result = p.result(auth, c.now);
            if p.state == State::ReportOnly {
                decision.report_only.push(ReportOnly { policy: i, result });
                continue;
            }
            match result {
                PolicyResult::Satisfied => {}
                PolicyResult::Block => block.push(i),
                PolicyResult::SignInAgain => again.push(i),
                PolicyResult::StepUp(strength) => match &mut step {
                    Some((s, list)) => {
                        *s = (*s).max(strength);
                        list.push(i);
                    }
                    None => step = Some((strength, vec![i])),
                },
                // One document at a time: the first asked for, then the next request asks
                // for the next one.
                PolicyResult::AcceptTerms(t) => match &mut terms {
                    Some((first, list)) if *first == t => list.push(i),
                    Some(_) => {}
                    None => terms = Some((t, vec![i])),
                },
            }
        }
        decision.outcome = if !block.is_empty() {
            Outcome::Block { policies: block }
        } else if !again.is_empty() {
            Outcome::SignInAgain { policies: again }
        } else if let Some((strength, policies)) = step {
            Outcome::StepUp { strength, policies }
        } else if let Some((terms, policies)) = terms {
            Outcome::AcceptTerms { terms, policies }
        } else {
            Outcome::Allow
        };
        decision
    }

    /// The partner settings' own refusal, if any (guests only).
    pub(super) fn partner_refusal(&self, s: &Subject<'_>, app: &str) -> Option<Outcome> {
        if !s.kind.is_guest() {
            return None;
        }
        let p = self.partners.settings(s.partner);
        let why = if p.inbound == Inbound::Block {
            PartnerBlock::Inbound
        } else if p
            .apps
            .as_ref()
            .is_some_and(|apps| !apps.iter().any(|a| a == app))
        {
            PartnerBlock::App
        } else if p
            .groups
            .as_ref()
            .is_some_and(|gs| !gs.iter().any(|g| s.groups.contains(g)))
        {
            PartnerBlock::Group
        } else {
            return None;
        };
        Some(Outcome::PartnerBlocked {
            partner: if s.partner.is_some() {
                p.name.clone()
            } else {
                "default".into()
            },
            why,
        })
    }

    /// The live (on or report-only) policies whose assignments and conditions match.
    pub(super) fn applying(&self, s: &Subject<'_>, c: &Context<'_>) -> PolicyBits {
        let sel = self.index.select(s, c, &self.locations);
        let mut b = self.index.live.clone();
        b.intersect_with(&sel.users);
        b.subtract(&sel.excluded_users);
        b.intersect_with(&sel.apps);
        b.intersect_with(&sel.conditions);
        b
    }
}

impl Policy {
    /// This policy's verdict, given how the session was authenticated.
    pub fn result(&self, auth: &Authentication, now: i64) -> PolicyResult {
        if self.grant.block {
            return PolicyResult::Block;
        }
        let freq = self.session.sign_in_frequency;
        if self
            .session
            .lifetime
            .is_some_and(|l| now - auth.session_created > l)
            || freq.is_some_and(|f| now - auth.auth_time > f)
        {
            return PolicyResult::SignInAgain;
        }
        let mfa_met = self.grant.strength.map(|need| {
            // MFA counts only while as recent as the policy's sign-in frequency asks.
            let fresh = |at: i64| freq.is_none_or(|f| now - at <= f);
            let by_gateway = auth
                .gateway_mfa
                .is_some_and(|(strength, at)| strength >= need && fresh(at));
            // A partner's claim is at most MFA: it proves nothing about phishing resistance.
            let by_partner = need == Strength::Mfa && auth.partner_mfa && fresh(auth.auth_time);
            by_gateway || by_partner
        });
        let terms_met = self
            .grant
            .terms
            .map(|t| t < 64 && auth.terms_accepted & (1 << t) != 0);
        let met = [mfa_met, terms_met];
        if !met.contains(&Some(false)) || (self.grant.any && met.contains(&Some(true))) {
            return PolicyResult::Satisfied;
        }
        // What to ask for: with "any", the terms (the lighter step); with "all", the MFA
        // first and the terms on the next request.
        match (self.grant.strength, mfa_met, self.grant.terms) {
            (_, _, Some(t)) if self.grant.any => PolicyResult::AcceptTerms(t),
            (Some(need), Some(false), _) => PolicyResult::StepUp(need),
            (_, _, Some(t)) => PolicyResult::AcceptTerms(t),
            (Some(need), _, None) => PolicyResult::StepUp(need),
            (None, _, None) => PolicyResult::Satisfied,
        }
    }
}

#[cfg(test)]
mod tests;
