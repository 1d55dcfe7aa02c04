//! Conditional Access and partner (cross-tenant) settings: who may reach which app, from
//! where, with which authentication — decided on every request, not only at sign-in.
//!
//! ```text
//! config [[partner]] + [[policy]] + [[location]] ──compile──▶ PolicySet (bit indexes)
//! request: subject (user, kind, groups, partner) + context (app, address, platform, IdP)
//!          + authentication (times, trusted MFA)  ──evaluate──▶ Decision
//! ```
//! Semantics as in Entra: every policy whose assignments and conditions match applies; a
//! block wins; the grant controls of all applying policies must each be met; report-only
//! policies are evaluated and reported, never enforced. `PolicySet::evaluate` is the one
//! decision point; admission asks it for every proxied request, `whatif` explains it.
//!
//! This module knows nothing of the config file or the directory: `config::policies` builds
//! a `PolicySet`, admission supplies the facts.

mod bits;
mod evaluate;
mod location;
mod partner;
pub mod platform;
mod set;
mod whatif;

pub use bits::PolicyBits;
pub use evaluate::{Authentication, Context, Decision, Outcome, ReportOnly, Subject};
pub use location::NamedLocation;
pub use partner::{Inbound, MfaTrust, PartnerSettings, Partners, Protocol};
pub use platform::Platform;
pub use set::{
    Assignments, Conditions, Grant, MAX_TERMS, Policy, PolicySet, SessionControls, State, Terms,
};
pub use whatif::{Explanation, PolicyVerdict};

use std::fmt;

/// What kind of directory user a policy can be assigned to, as Entra's "guest or external
/// user types".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserKind {
    /// The organisation's own users (a members IdP).
    Member,
    /// A guest who redeemed an invitation.
    InvitedGuest,
    /// A guest who signed up through a self-service flow (none exist until such a flow is
    /// configured; a policy may already name them).
    SelfServiceGuest,
}

impl UserKind {
    pub const ALL: [UserKind; 3] = [
        UserKind::Member,
        UserKind::InvitedGuest,
        UserKind::SelfServiceGuest,
    ];

    pub fn name(self) -> &'static str {
        match self {
            UserKind::Member => "members",
            UserKind::InvitedGuest => "invited_guests",
            UserKind::SelfServiceGuest => "self_service_guests",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn is_guest(self) -> bool {
        self != UserKind::Member
    }
}

/// How strong the authentication a grant control asks for is; ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strength {
    /// A second factor: TOTP performed by the gateway, or MFA a trusted partner performed.
    Mfa,
    /// A passkey performed by the gateway: bound to the origin, so a phishing site cannot
    /// relay it.
    PhishingResistant,
}

impl Strength {
    pub fn name(self) -> &'static str {
        match self {
            Strength::Mfa => "mfa",
            Strength::PhishingResistant => "phishing_resistant",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Strength::Mfa, Strength::PhishingResistant]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

impl fmt::Display for Strength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
