//! Conditional Access on every request: evaluating 100 policies (assignments by kind, user,
//! group and partner; app lists; named locations, platforms and IdPs as conditions; on,
//! off and report-only) for one guest's request. Issue 10's target: under 2 µs.
//!
//! `cargo bench --bench policy_eval`

use std::net::IpAddr;

use borderless::policy::{
    Assignments, Authentication, Conditions, Context, Grant, MfaTrust, NamedLocation,
    PartnerSettings, Partners, Platform, Policy, PolicySet, SessionControls, State, Strength,
    Subject, UserKind,
};
use criterion::{Criterion, black_box, criterion_group, criterion_main};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW: i64 = 1_800_000_000;

fn locations() -> Vec<NamedLocation> {
    (0..10)
        .map(|i| NamedLocation {
            name: format!("site-{i}"),
            ranges: vec![
                format!("10.{i}.0.0/16").parse().expect("range"),
                format!("2001:db8:{i}::/48").parse().expect("range"),
                format!("198.51.{i}.0/24").parse().expect("range"),
            ],
        })
        .collect()
}

fn partners() -> Partners {
    let entries = (0..20)
        .map(|i| {
            (
                PartnerSettings {
                    name: format!("partner-{i}"),
                    mfa_trust: MfaTrust {
                        amr: vec!["mfa".into()],
                        ..Default::default()
                    },
                    ..Default::default()
                },
                vec![format!("https://idp.partner-{i}.example")],
                vec![format!("partner-{i}.example")],
            )
        })
        .collect();
    Partners::new(PartnerSettings::default(), entries)
}

/// 100 policies of every shape, about a tenth of which apply to the request below.
fn policies() -> Vec<Policy> {
    (0..100)
        .map(|i| {
            let mut a = Assignments::default();
            match i % 5 {
                0 => a.kinds = vec![UserKind::InvitedGuest, UserKind::SelfServiceGuest],
                1 => a.groups = vec![format!("group-{}", i % 13), "finance".into()],
                2 => a.partners = vec![i % 20],
                3 => a.users = vec![format!("user{i}@partner-3.example")],
                _ => a.all_users = true,
            }
            if i % 7 == 0 {
                a.exclude_groups = vec!["break-glass".into()];
            }
            if i % 3 == 0 {
                a.all_apps = true;
                a.exclude_apps = vec![format!("app-{}", i % 30)];
            } else {
                a.apps = vec![format!("app-{}", i % 30), format!("app-{}", (i + 1) % 30)];
            }
            let mut c = Conditions::default();
            match i % 4 {
                0 => c.locations = vec![i % 10],
                1 => c.exclude_locations = vec![i % 10],
                2 => c.platforms = vec![Platform::Android, Platform::Ios],
                _ => c.exclude_idps = vec!["corp".into()],
            }
            Policy {
                name: format!("policy {i}"),
                state: match i % 10 {
                    0 => State::ReportOnly,
                    9 => State::Off,
                    _ => State::On,
                },
                assignments: a,
                conditions: c,
                grant: Grant {
                    block: i % 11 == 0,
                    strength: (i % 11 != 0).then_some(Strength::Mfa),
                    ..Default::default()
                },
                session: SessionControls {
                    sign_in_frequency: (i % 6 == 0).then_some(8 * 3600),
                    lifetime: None,
                },
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let set = PolicySet::new(policies(), partners(), locations());
    let groups: Vec<String> = ["group-1", "group-4", "sales", "emea", "all-partners"]
        .into_iter()
        .map(String::from)
        .collect();
    let mail = "bob@partner-3.example";
    let subject = Subject {
        user_id: "6f1c2b1e-8a51-4b8f-9c55-0d1e2f3a4b5c",
        mail,
        kind: UserKind::InvitedGuest,
        groups: &groups,
        partner: set.partners.find("https://idp.partner-3.example", mail),
    };
    let ip: IpAddr = "10.3.7.9".parse().expect("ip");
    let context = Context {
        app: "app-4",
        ip,
        platform: Platform::Windows,
        idp: "partner-3",
        now: NOW,
    };
    let auth = Authentication {
        auth_time: NOW - 600,
        session_created: NOW - 600,
        partner_mfa: true,
        gateway_mfa: None,
        terms_accepted: 0,
    };
    let d = set.evaluate(&subject, &context, &auth);
    let applying = set
        .explain(&subject, &context, &auth)
        .policies
        .iter()
        .filter(|p| p.applies)
        .count();
    println!(
        "decision with 100 policies: {:?}, {applying} applying, {} of them report-only",
        d.outcome,
        d.report_only.len()
    );
    c.bench_function("policy: evaluate 100 policies for one request", |b| {
        b.iter(|| set.evaluate(black_box(&subject), black_box(&context), black_box(&auth)))
    });
    c.bench_function(
        "policy: the request's facts to the set (partner, trusted MFA)",
        |b| {
            b.iter(|| {
                let p = set
                    .partners
                    .find(black_box("https://idp.partner-3.example"), black_box(mail));
                let s = Subject {
                    partner: p,
                    ..subject
                };
                set.trusted_partner_mfa(
                    &s,
                    borderless::policy::Protocol::Oidc,
                    ["pwd", "mfa"].into_iter(),
                    None,
                )
            })
        },
    );
    // The worst case: every policy assigned to everyone and every app, so only conditions
    // leave some out and every applying one's grant is checked.
    let dense: Vec<Policy> = policies()
        .into_iter()
        .map(|mut p| {
            p.assignments.all_users = true;
            p.assignments.all_apps = true;
            p.assignments.exclude_apps.clear();
            p.grant.block = false;
            p.grant.strength = Some(Strength::Mfa);
            p
        })
        .collect();
    let dense = PolicySet::new(dense, partners(), locations());
    let applying = dense
        .explain(&subject, &context, &auth)
        .policies
        .iter()
        .filter(|p| p.applies)
        .count();
    println!("dense set: {applying} of 100 policies apply");
    c.bench_function("policy: evaluate 100 policies, 35 applying", |b| {
        b.iter(|| dense.evaluate(black_box(&subject), black_box(&context), black_box(&auth)))
    });
    let none = PolicySet::default();
    c.bench_function("policy: no policies (is_inert)", |b| {
        b.iter(|| black_box(&none).is_inert())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
