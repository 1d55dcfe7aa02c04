//! Policy evaluation over combinations: include/exclude, block wins, report-only, locations,
//! platforms, identity providers, partner settings and MFA trust.

use super::*;
use crate::policy::location::NamedLocation;
use crate::policy::partner::{MfaTrust, PartnerSettings, Partners};
use crate::policy::set::{Assignments, Conditions, Grant, SessionControls};

const NOW: i64 = 1_800_000_000;
const HOUR: i64 = 3600;

fn policy(name: &str) -> Policy {
    Policy {
        name: name.into(),
        state: State::On,
        assignments: Assignments {
            all_users: true,
            all_apps: true,
            ..Default::default()
        },
        conditions: Conditions::default(),
        grant: Grant::default(),
        session: SessionControls::default(),
    }
}

fn block(name: &str) -> Policy {
    let mut p = policy(name);
    p.grant.block = true;
    p
}

fn mfa(name: &str) -> Policy {
    let mut p = policy(name);
    p.grant.strength = Some(Strength::Mfa);
    p
}

fn partners() -> Partners {
    Partners::new(
        PartnerSettings {
            name: "default".into(),
            ..Default::default()
        },
        vec![
            (
                PartnerSettings {
                    name: "fabrikam".into(),
                    mfa_trust: MfaTrust {
                        amr: vec!["mfa".into()],
                        ..Default::default()
                    },
                    ..Default::default()
                },
                vec![],
                vec!["fabrikam.example".into()],
            ),
            (
                PartnerSettings {
                    name: "blocked".into(),
                    inbound: Inbound::Block,
                    ..Default::default()
                },
                vec![],
                vec!["blocked.example".into()],
            ),
            (
                PartnerSettings {
                    name: "narrow".into(),
                    apps: Some(vec!["wiki".into()]),
                    groups: Some(vec!["partners-narrow".into()]),
                    ..Default::default()
                },
                vec![],
                vec!["narrow.example".into()],
            ),
        ],
    )
}

fn locations() -> Vec<NamedLocation> {
    vec![
        NamedLocation {
            name: "office".into(),
            ranges: vec![
                "10.1.0.0/16".parse().unwrap(),
                "2001:db8:1::/48".parse().unwrap(),
            ],
        },
        NamedLocation {
            name: "sanctioned".into(),
            ranges: vec!["198.51.100.0/24".parse().unwrap()],
        },
    ]
}

fn set(policies: Vec<Policy>) -> PolicySet {
    PolicySet::new(policies, partners(), locations())
}

const NO_GROUPS: &[String] = &[];

fn guest<'a>(mail: &'a str, groups: &'a [String]) -> Subject<'a> {
    Subject {
        user_id: "u-guest",
        mail,
        kind: UserKind::InvitedGuest,
        groups,
        partner: None,
    }
}

fn member() -> Subject<'static> {
    Subject {
        user_id: "u-member",
        mail: "bob@contoso.example",
        kind: UserKind::Member,
        groups: NO_GROUPS,
        partner: None,
    }
}

fn ctx(app: &str) -> Context<'_> {
    Context {
        app,
        ip: "192.0.2.10".parse().unwrap(),
        platform: Platform::Windows,
        idp: "google",
        now: NOW,
    }
}

fn fresh() -> Authentication {
    Authentication {
        auth_time: NOW - 60,
        session_created: NOW - 60,
        partner_mfa: false,
        gateway_mfa: None,
        terms_accepted: 0,
    }
}

fn outcome(set: &PolicySet, s: &Subject<'_>, c: &Context<'_>, a: &Authentication) -> Outcome {
    set.evaluate(s, c, a).outcome
}

#[test]
fn no_policies_allow_everyone() {
    let s = set(vec![]);
    assert_eq!(
        s.evaluate(&member(), &ctx("wiki"), &fresh()),
        Decision::ALLOW
    );
}

#[test]
fn user_include_and_exclude_by_address_id_kind_and_group() {
    let mut p = block("block guests but not alice");
    p.assignments.all_users = false;
    p.assignments.kinds = vec![UserKind::InvitedGuest];
    p.assignments.exclude_users = vec!["alice@partner.example".into()];
    let mut q = block("block the auditors group");
    q.assignments.all_users = false;
    q.assignments.groups = vec!["auditors".into()];
    q.assignments.exclude_users = vec!["u-guest".into()];
    let s = set(vec![p, q]);
    let c = ctx("wiki");
    let auditors = vec!["auditors".to_string()];
    assert_eq!(
        outcome(&s, &guest("carol@partner.example", NO_GROUPS), &c, &fresh()),
        Outcome::Block { policies: vec![0] }
    );
    // Excluded by address: exclusion beats inclusion.
    assert_eq!(
        outcome(&s, &guest("alice@partner.example", NO_GROUPS), &c, &fresh()),
        Outcome::Allow
    );
    // The group policy includes alice by group but excludes her by user id.
    assert_eq!(
        outcome(&s, &guest("alice@partner.example", &auditors), &c, &fresh()),
        Outcome::Allow
    );
    let mut m = member();
    m.groups = &auditors;
    assert_eq!(
        outcome(&s, &m, &c, &fresh()),
        Outcome::Block { policies: vec![1] }
    );
    assert_eq!(outcome(&s, &member(), &c, &fresh()), Outcome::Allow);
}

#[test]
fn partners_are_assignable_and_excludable() {
    let mut p = mfa("mfa for fabrikam");
    p.assignments.all_users = false;
    p.assignments.partners = vec![0];
    let mut q = block("block all guests but fabrikam");
    q.assignments.all_users = false;
    q.assignments.kinds = vec![UserKind::InvitedGuest];
    q.assignments.exclude_partners = vec![0];
    let s = set(vec![p, q]);
    let mut fab = guest("a@fabrikam.example", NO_GROUPS);
    fab.partner = s.partners.find("https://x", fab.mail);
    assert_eq!(fab.partner, Some(0));
    assert!(matches!(
        outcome(&s, &fab, &ctx("wiki"), &fresh()),
        Outcome::StepUp {
            strength: Strength::Mfa,
            ..
        }
    ));
    assert_eq!(
        outcome(
            &s,
            &guest("a@other.example", NO_GROUPS),
            &ctx("wiki"),
            &fresh()
        ),
        Outcome::Block { policies: vec![1] }
    );
}

#[test]
fn apps_all_include_and_exclude() {
    let mut p = block("everything but the wiki");
    p.assignments.exclude_apps = vec!["wiki".into()];
    let mut q = mfa("payroll only");
    q.assignments.all_apps = false;
    q.assignments.apps = vec!["payroll".into()];
    let s = set(vec![p, q]);
    let g = guest("a@partner.example", NO_GROUPS);
    assert_eq!(outcome(&s, &g, &ctx("wiki"), &fresh()), Outcome::Allow);
    // Block wins over the MFA policy that also applies.
    assert_eq!(
        outcome(&s, &g, &ctx("payroll"), &fresh()),
        Outcome::Block { policies: vec![0] }
    );
}

#[test]
fn block_wins_then_sign_in_again_then_the_strongest_step_up() {
    let mut strong = policy("passkeys");
    strong.grant.strength = Some(Strength::PhishingResistant);
    let mut freq = policy("daily");
    freq.session.sign_in_frequency = Some(24 * HOUR);
    let s = set(vec![mfa("mfa"), strong, freq]);
    let g = guest("a@partner.example", NO_GROUPS);
    let c = ctx("wiki");
    assert_eq!(
        outcome(&s, &g, &c, &fresh()),
        Outcome::StepUp {
            strength: Strength::PhishingResistant,
            policies: vec![0, 1]
        }
    );
    let old = Authentication {
        auth_time: NOW - 25 * HOUR,
        ..fresh()
    };
    assert_eq!(
        outcome(&s, &g, &c, &old),
        Outcome::SignInAgain { policies: vec![2] }
    );
    let s = set(vec![mfa("mfa"), block("block")]);
    assert_eq!(
        outcome(&s, &g, &c, &old),
        Outcome::Block { policies: vec![1] }
    );
}

#[test]
fn phishing_resistant_refuses_totp_and_accepts_a_passkey() {
    let mut p = policy("passkeys");
    p.grant.strength = Some(Strength::PhishingResistant);
    let s = set(vec![p]);
    let g = guest("a@partner.example", NO_GROUPS);
    let c = ctx("wiki");
    let totp = Authentication {
        gateway_mfa: Some((Strength::Mfa, NOW - 10)),
        ..fresh()
    };
    assert!(matches!(outcome(&s, &g, &c, &totp), Outcome::StepUp { .. }));
    // Nor does a trusted partner's MFA claim: it says nothing about phishing resistance.
    let partner = Authentication {
        partner_mfa: true,
        ..fresh()
    };
    assert!(matches!(
        outcome(&s, &g, &c, &partner),
        Outcome::StepUp { .. }
    ));
    let passkey = Authentication {
        gateway_mfa: Some((Strength::PhishingResistant, NOW - 10)),
        ..fresh()
    };
    assert_eq!(outcome(&s, &g, &c, &passkey), Outcome::Allow);
}

#[test]
fn trusted_partner_mfa_counts_only_while_within_the_sign_in_frequency() {
    let mut p = mfa("mfa, hourly");
    p.session.sign_in_frequency = Some(HOUR);
    let s = set(vec![p, mfa("mfa")]);
    let g = guest("a@fabrikam.example", NO_GROUPS);
    let c = ctx("wiki");
    let trusted = Authentication {
        partner_mfa: true,
        ..fresh()
    };
    assert_eq!(outcome(&s, &g, &c, &trusted), Outcome::Allow);
    // The gateway's own MFA, two hours old, no longer satisfies the hourly policy.
    let stale_gateway = Authentication {
        gateway_mfa: Some((Strength::Mfa, NOW - 2 * HOUR)),
        ..fresh()
    };
    assert_eq!(
        outcome(&s, &g, &c, &stale_gateway),
        Outcome::StepUp {
            strength: Strength::Mfa,
            policies: vec![0]
        }
    );
}

#[test]
fn partner_claims_count_only_where_the_partner_trusts_them() {
    let s = set(vec![mfa("mfa")]);
    let mut fab = guest("a@fabrikam.example", NO_GROUPS);
    fab.partner = s.partners.find("https://login.fabrikam", fab.mail);
    let other = guest("a@other.example", NO_GROUPS);
    let amr = || ["pwd", "mfa"].into_iter();
    assert!(s.trusted_partner_mfa(&fab, Protocol::Oidc, amr(), None));
    // The same claim from a partner whose MFA is not trusted does not count.
    assert!(!s.trusted_partner_mfa(&other, Protocol::Oidc, amr(), None));
    // Members' claims are not partner claims.
    assert!(!s.trusted_partner_mfa(&member(), Protocol::Oidc, amr(), None));
}

#[test]
fn report_only_is_reported_and_never_enforced() {
    let mut p = block("would block");
    p.state = State::ReportOnly;
    let mut off = block("off");
    off.state = State::Off;
    let s = set(vec![p, off, mfa("mfa")]);
    let d = s.evaluate(
        &guest("a@partner.example", NO_GROUPS),
        &ctx("wiki"),
        &Authentication {
            gateway_mfa: Some((Strength::Mfa, NOW)),
            ..fresh()
        },
    );
    assert_eq!(d.outcome, Outcome::Allow);
    assert_eq!(
        d.report_only,
        vec![ReportOnly {
            policy: 0,
            result: PolicyResult::Block
        }]
    );
}

#[test]
fn locations_include_and_exclude_v4_and_v6() {
    let mut p = block("block the sanctioned range");
    p.conditions.locations = vec![1];
    let mut q = mfa("mfa outside the office");
    q.conditions.exclude_locations = vec![0];
    let s = set(vec![p, q]);
    let g = guest("a@partner.example", NO_GROUPS);
    let at = |ip: &str| Context {
        ip: ip.parse().unwrap(),
        ..ctx("wiki")
    };
    assert_eq!(
        outcome(&s, &g, &at("198.51.100.7"), &fresh()),
        Outcome::Block { policies: vec![0] }
    );
    assert!(matches!(
        outcome(&s, &g, &at("192.0.2.1"), &fresh()),
        Outcome::StepUp { .. }
    ));
    assert_eq!(outcome(&s, &g, &at("10.1.2.3"), &fresh()), Outcome::Allow);
    assert_eq!(
        outcome(&s, &g, &at("2001:db8:1::9"), &fresh()),
        Outcome::Allow
    );
    assert!(matches!(
        outcome(&s, &g, &at("2001:db8:2::9"), &fresh()),
        Outcome::StepUp { .. }
    ));
}

#[test]
fn platforms_and_identity_providers() {
    let mut p = block("no mobiles");
    p.conditions.platforms = vec![Platform::Android, Platform::Ios];
    let mut q = mfa("mfa unless the corporate IdP");
    q.conditions.exclude_idps = vec!["corp".into()];
    let s = set(vec![p, q]);
    let g = guest("a@partner.example", NO_GROUPS);
    let c = Context {
        platform: Platform::Ios,
        ..ctx("wiki")
    };
    assert!(matches!(
        outcome(&s, &g, &c, &fresh()),
        Outcome::Block { .. }
    ));
    let c = Context {
        idp: "corp",
        ..ctx("wiki")
    };
    assert_eq!(outcome(&s, &g, &c, &fresh()), Outcome::Allow);
    assert!(matches!(
        outcome(&s, &g, &ctx("wiki"), &fresh()),
        Outcome::StepUp { .. }
    ));
}

#[test]
fn partner_settings_block_inbound_apps_and_groups() {
    let s = set(vec![]);
    let find = |mail: &'static str, groups: &'static [String]| {
        let mut g = guest(mail, groups);
        g.partner = s.partners.find("https://x", mail);
        g
    };
    let blocked = find("a@blocked.example", NO_GROUPS);
    assert_eq!(
        outcome(&s, &blocked, &ctx("wiki"), &fresh()),
        Outcome::PartnerBlocked {
            partner: "blocked".into(),
            why: PartnerBlock::Inbound
        }
    );
    static IN: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| vec!["partners-narrow".to_string()]);
    let narrow = find("a@narrow.example", &IN);
    assert_eq!(outcome(&s, &narrow, &ctx("wiki"), &fresh()), Outcome::Allow);
    assert!(matches!(
        outcome(&s, &narrow, &ctx("payroll"), &fresh()),
        Outcome::PartnerBlocked {
            why: PartnerBlock::App,
            ..
        }
    ));
    let outside = find("b@narrow.example", NO_GROUPS);
    assert!(matches!(
        outcome(&s, &outside, &ctx("wiki"), &fresh()),
        Outcome::PartnerBlocked {
            why: PartnerBlock::Group,
            ..
        }
    ));
    // Members are not partners.
    let mut m = member();
    m.mail = "x@blocked.example";
    assert_eq!(outcome(&s, &m, &ctx("wiki"), &fresh()), Outcome::Allow);
}

#[test]
fn session_lifetime_ends_old_sessions() {
    let mut p = policy("8h sessions");
    p.session.lifetime = Some(8 * HOUR);
    let s = set(vec![p]);
    let old = Authentication {
        session_created: NOW - 9 * HOUR,
        ..fresh()
    };
    let g = guest("a@partner.example", NO_GROUPS);
    assert_eq!(
        outcome(&s, &g, &ctx("wiki"), &old),
        Outcome::SignInAgain { policies: vec![0] }
    );
    assert_eq!(outcome(&s, &g, &ctx("wiki"), &fresh()), Outcome::Allow);
}

#[test]
fn many_policies_index_past_one_word() {
    // 150 policies; only the last one blocks, and only for one app.
    let mut ps: Vec<Policy> = (0..149)
        .map(|i| {
            let mut p = mfa(&format!("p{i}"));
            p.assignments.all_apps = false;
            p.assignments.apps = vec![format!("app{i}")];
            p
        })
        .collect();
    let mut last = block("last");
    last.assignments.all_apps = false;
    last.assignments.apps = vec!["target".into()];
    ps.push(last);
    let s = set(ps);
    let g = guest("a@partner.example", NO_GROUPS);
    assert_eq!(
        outcome(&s, &g, &ctx("target"), &fresh()),
        Outcome::Block {
            policies: vec![149]
        }
    );
    assert_eq!(
        outcome(&s, &g, &ctx("app70"), &fresh()),
        Outcome::StepUp {
            strength: Strength::Mfa,
            policies: vec![70]
        }
    );
}

#[test]
fn whatif_names_why_each_policy_does_or_does_not_apply() {
    let mut p = block("office only");
    p.conditions.exclude_locations = vec![0];
    let mut q = mfa("payroll");
    q.assignments.all_apps = false;
    q.assignments.apps = vec!["payroll".into()];
    let mut r = mfa("members");
    r.assignments.all_users = false;
    r.assignments.kinds = vec![UserKind::Member];
    let mut o = block("off");
    o.state = State::Off;
    let s = set(vec![p, q, r, o]);
    let c = Context {
        ip: "10.1.0.5".parse().unwrap(),
        ..ctx("payroll")
    };
    let e = s.explain(&guest("a@partner.example", NO_GROUPS), &c, &fresh());
    assert_eq!(e.result, "require_mfa");
    assert_eq!(e.partner.as_deref(), Some("default"));
    assert_eq!(e.locations, vec!["office".to_string()]);
    let why: Vec<_> = e
        .policies
        .iter()
        .map(|v| (v.applies, v.not_applied, v.result))
        .collect();
    assert_eq!(
        why,
        vec![
            (false, Some("location"), None),
            (true, None, Some("require_mfa")),
            (false, Some("user not included"), None),
            (false, Some("policy is off"), None),
        ]
    );
}

fn terms_set(policies: Vec<Policy>) -> PolicySet {
    let doc = |id: &str, version: &str| crate::policy::Terms {
        id: id.into(),
        version: version.into(),
        title: id.into(),
        text: "…".into(),
    };
    PolicySet::with_terms(
        policies,
        partners(),
        locations(),
        vec![doc("nda", "2026-12"), doc("aup", "v1")],
    )
}

#[test]
fn terms_are_asked_until_their_current_version_is_accepted() {
    let mut p = policy("NDA");
    p.grant.terms = Some(0);
    let s = terms_set(vec![p]);
    let g = guest("a@partner.example", NO_GROUPS);
    assert_eq!(
        outcome(&s, &g, &ctx("wiki"), &fresh()),
        Outcome::AcceptTerms {
            terms: 0,
            policies: vec![0]
        }
    );
    // An acceptance of an older version does not count.
    let old = Authentication {
        terms_accepted: s.accepted_terms(&["nda@2026-01".into()]),
        ..fresh()
    };
    assert_eq!(old.terms_accepted, 0);
    let current = Authentication {
        terms_accepted: s.accepted_terms(&["aup@v1".into(), "nda@2026-12".into()]),
        ..fresh()
    };
    assert_eq!(current.terms_accepted, 0b11);
    assert_eq!(outcome(&s, &g, &ctx("wiki"), &current), Outcome::Allow);
}

#[test]
fn mfa_and_terms_combine_with_all_or_any() {
    let mut all = policy("MFA and terms");
    all.grant.strength = Some(Strength::Mfa);
    all.grant.terms = Some(0);
    let mut any = policy("MFA or terms");
    any.grant.strength = Some(Strength::Mfa);
    any.grant.terms = Some(1);
    any.grant.any = true;
    let g = guest("a@partner.example", NO_GROUPS);
    let c = ctx("wiki");
    let with_mfa = Authentication {
        gateway_mfa: Some((Strength::Mfa, NOW)),
        ..fresh()
    };
    let s = terms_set(vec![all.clone()]);
    // "all": the MFA first, then the terms.
    assert!(matches!(
        outcome(&s, &g, &c, &fresh()),
        Outcome::StepUp { .. }
    ));
    assert!(matches!(
        outcome(&s, &g, &c, &with_mfa),
        Outcome::AcceptTerms { terms: 0, .. }
    ));
    let both = Authentication {
        terms_accepted: 0b01,
        ..with_mfa
    };
    assert_eq!(outcome(&s, &g, &c, &both), Outcome::Allow);
    // "any": either is enough; with neither, the terms are asked for.
    let s = terms_set(vec![any]);
    assert!(matches!(
        outcome(&s, &g, &c, &fresh()),
        Outcome::AcceptTerms { terms: 1, .. }
    ));
    assert_eq!(outcome(&s, &g, &c, &with_mfa), Outcome::Allow);
    let accepted = Authentication {
        terms_accepted: 0b10,
        ..fresh()
    };
    assert_eq!(outcome(&s, &g, &c, &accepted), Outcome::Allow);
}
