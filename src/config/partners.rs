//! `[redemption]` and `[[partner]]`: where home-realm discovery sends an address. A partner
//! entry names its domains and the providers its users go to, in order; everyone else
//! follows `[redemption]`, whose providers each serve the domains in their `domains`.
//! Both end in a fallback: an email passcode provider, or none.

use std::sync::Arc;

use super::errors::{ErrorSink, KeyPath};
use super::file::{IdpKind, PartnerSection, RedemptionSection};
use super::idps::IdpConfig;

/// One routing rule: providers tried in order, then the fallback.
#[derive(Debug, Clone)]
pub struct RealmRule {
    pub providers: Vec<String>,
    /// Whether a provider counts only for the domains it lists (the default rule) or for
    /// all of the partner's domains (a partner rule).
    pub by_provider_domains: bool,
    pub fallback: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Partner {
    pub name: String,
    /// Lower-case.
    pub domains: Vec<String>,
    pub rule: RealmRule,
}

/// Everything home-realm discovery needs from the config.
#[derive(Debug, Clone)]
pub struct HomeRealm {
    pub default: RealmRule,
    pub partners: Vec<Partner>,
}

impl HomeRealm {
    /// The rule for an address's (lower-case) domain.
    pub fn rule_for(&self, domain: &str) -> (&RealmRule, Option<&Partner>) {
        match self
            .partners
            .iter()
            .find(|p| p.domains.iter().any(|d| d == domain))
        {
            Some(p) => (&p.rule, Some(p)),
            None => (&self.default, None),
        }
    }
}

pub(super) fn home_realm(
    sink: &mut ErrorSink<'_>,
    root: &KeyPath,
    redemption: &RedemptionSection,
    partners: &[PartnerSection],
    idps: &[Arc<IdpConfig>],
) -> HomeRealm {
    let rk = root.key("redemption");
    let first_passcode = idps
        .iter()
        .find(|i| i.kind == IdpKind::EmailPasscode)
        .map(|i| i.id.clone());
    let default_fallback = match redemption.fallback.as_deref() {
        None => first_passcode,
        Some(f) => fallback(sink, rk.key("fallback"), f, idps),
    };
    let default_providers = match &redemption.providers {
        None => idps
            .iter()
            .filter(|i| i.kind != IdpKind::EmailPasscode)
            .map(|i| i.id.clone())
            .collect(),
        Some(list) => providers(sink, &rk.key("providers"), list, idps),
    };
    let mut out: Vec<Partner> = Vec::new();
    for (i, p) in partners.iter().enumerate() {
        let pk = root.key("partner").index(i);
        let mut domains = Vec::new();
        for (j, d) in p.domains.iter().enumerate() {
            let d = d.to_ascii_lowercase();
            if !crate::directory::address::is_domain(&d) {
                sink.push(pk.key("domains").index(j), "must be a domain name");
            } else if out.iter().any(|o| o.domains.contains(&d)) || domains.contains(&d) {
                sink.push(
                    pk.key("domains").index(j),
                    format!("{d} already belongs to another partner"),
                );
            } else {
                domains.push(d);
            }
        }
        if p.domains.is_empty() && p.issuers.is_empty() {
            sink.push(
                pk.key("domains"),
                "a partner needs at least one domain or issuer",
            );
        }
        let fallback = match p.fallback.as_deref() {
            None => default_fallback.clone(),
            Some(f) => fallback(sink, pk.key("fallback"), f, idps),
        };
        out.push(Partner {
            name: p.name.clone().unwrap_or_else(|| domains.join(", ")),
            domains,
            rule: RealmRule {
                providers: providers(sink, &pk.key("providers"), &p.providers, idps),
                by_provider_domains: false,
                fallback,
            },
        });
    }
    HomeRealm {
        default: RealmRule {
            providers: default_providers,
            by_provider_domains: true,
            fallback: default_fallback,
        },
        partners: out,
    }
}

/// Provider ids that name configured, federating (not passcode) IdPs.
fn providers(
    sink: &mut ErrorSink<'_>,
    key: &KeyPath,
    list: &[String],
    idps: &[Arc<IdpConfig>],
) -> Vec<String> {
    let mut out = Vec::new();
    for (j, id) in list.iter().enumerate() {
        match idps.iter().find(|i| &i.id == id) {
            None => sink.push(key.index(j), format!("no [[idp]] has the id `{id}`")),
            Some(i) if i.kind == IdpKind::EmailPasscode => sink.push(
                key.index(j),
                format!("`{id}` is an email passcode: name it as the `fallback`"),
            ),
            Some(_) => out.push(id.clone()),
        }
    }
    out
}

fn fallback(
    sink: &mut ErrorSink<'_>,
    key: KeyPath,
    value: &str,
    idps: &[Arc<IdpConfig>],
) -> Option<String> {
    if value == "none" {
        return None;
    }
    match idps.iter().find(|i| i.id == value) {
        Some(i) if i.kind == IdpKind::EmailPasscode => Some(value.to_string()),
        Some(_) => {
            sink.push(key, format!("`{value}` is not an email passcode provider"));
            None
        }
        None => {
            sink.push(
                key,
                format!("no [[idp]] has the id `{value}` (or write \"none\")"),
            );
            None
        }
    }
}
