//! `[partner_default]`, the access keys of `[[partner]]`, `[[location]]` and `[[policy]]`:
//! checked against the rest of the config (apps, IdPs, partner names) and compiled into the
//! `PolicySet` the data plane evaluates on every request.

use std::path::PathBuf;
use std::sync::Arc;

use ipnet::IpNet;

use super::apps::AppConfig;
use super::errors::{ErrorSink, KeyPath};
use super::file::{
    FileConfig, LocationSection, MfaTrustSection, PartnerInbound, PolicySection, PolicyState,
    RequireOperator, TermsSection,
};
use super::idps::IdpConfig;
use crate::policy::{
    Assignments, Conditions, Grant, Inbound, MAX_TERMS, MfaTrust, NamedLocation, PartnerSettings,
    Partners, Platform, Policy, PolicySet, SessionControls, State, Strength, Terms, UserKind,
};

pub(super) fn policy_set(
    sink: &mut ErrorSink<'_>,
    root: &KeyPath,
    fc: &FileConfig,
    apps: &[Arc<AppConfig>],
    idps: &[Arc<IdpConfig>],
    resolve: &dyn Fn(&str) -> PathBuf,
) -> PolicySet {
    let refs = Refs { apps, idps };
    let partners = partners(sink, root, fc, &refs);
    let locations = locations(sink, root, &fc.locations);
    let terms = terms(sink, root, &fc.terms, resolve);
    let mut policies: Vec<Policy> = Vec::new();
    for (i, p) in fc.policies.iter().enumerate() {
        let key = root.key("policy").index(i);
        if p.name.trim().is_empty() {
            sink.push(key.key("name"), "a policy needs a name");
        } else if policies.iter().any(|q| q.name == p.name) {
            sink.push(
                key.key("name"),
                format!("another policy is named `{}`", p.name),
            );
        }
        let ctx = PolicyCtx {
            key: &key,
            refs: &refs,
            partners: &partners,
            locations: &locations,
            terms: &terms,
        };
        policies.push(ctx.policy(sink, p));
    }
    PolicySet::with_terms(policies, partners, locations, terms)
}

fn terms(
    sink: &mut ErrorSink<'_>,
    root: &KeyPath,
    raw: &[TermsSection],
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Vec<Terms> {
    let mut out: Vec<Terms> = Vec::new();
    if raw.len() > MAX_TERMS {
        sink.push(
            root.key("terms"),
            format!("at most {MAX_TERMS} terms documents"),
        );
    }
    for (i, t) in raw.iter().enumerate() {
        let key = root.key("terms").index(i);
        let valid_id = !t.id.is_empty()
            && t.id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_id {
            sink.push(key.key("id"), "letters, digits, `-` and `_` only");
        } else if out.iter().any(|o| o.id == t.id) {
            sink.push(
                key.key("id"),
                format!("another [[terms]] has the id `{}`", t.id),
            );
        }
        if t.version.trim().is_empty() || t.version.contains('@') {
            sink.push(key.key("version"), "a version is required (no `@`)");
        }
        let text = match (&t.text, &t.text_file) {
            (Some(text), None) => text.clone(),
            (None, Some(f)) => {
                let path = resolve(f);
                match std::fs::read_to_string(&path) {
                    Ok(text) => text,
                    Err(e) => {
                        sink.push(key.key("text_file"), format!("{}: {e}", path.display()));
                        String::new()
                    }
                }
            }
            _ => {
                sink.push(key.clone(), "set one of `text` and `text_file`");
                String::new()
            }
        };
        out.push(Terms {
            id: t.id.clone(),
            version: t.version.clone(),
            title: t.title.clone(),
            text,
        });
    }
    out
}

struct Refs<'a> {
    apps: &'a [Arc<AppConfig>],
    idps: &'a [Arc<IdpConfig>],
}

impl Refs<'_> {
    fn app_ids(&self, sink: &mut ErrorSink<'_>, key: &KeyPath, list: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for (j, id) in list.iter().enumerate() {
            if self.apps.iter().any(|a| &a.id == id) {
                out.push(id.clone());
            } else {
                sink.push(key.index(j), format!("no [[app]] has the id `{id}`"));
            }
        }
        out
    }

    fn idp_ids(&self, sink: &mut ErrorSink<'_>, key: &KeyPath, list: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for (j, id) in list.iter().enumerate() {
            if self.idps.iter().any(|i| &i.id == id) {
                out.push(id.clone());
            } else {
                sink.push(key.index(j), format!("no [[idp]] has the id `{id}`"));
            }
        }
        out
    }
}

fn partners(
    sink: &mut ErrorSink<'_>,
    root: &KeyPath,
    fc: &FileConfig,
    refs: &Refs<'_>,
) -> Partners {
    let dk = root.key("partner_default");
    let d = &fc.partner_default;
    let default = PartnerSettings {
        name: "default".into(),
        inbound: inbound(d.inbound),
        apps: d
            .apps
            .as_ref()
            .map(|a| refs.app_ids(sink, &dk.key("apps"), a)),
        groups: d.groups.clone(),
        mfa_trust: d.mfa_trust.as_ref().map(mfa_trust).unwrap_or_default(),
    };
    let mut entries = Vec::new();
    for (i, p) in fc.partners.iter().enumerate() {
        let pk = root.key("partner").index(i);
        for (j, iss) in p.issuers.iter().enumerate() {
            if url::Url::parse(iss).is_err() {
                sink.push(pk.key("issuers").index(j), "must be an issuer URL");
            }
        }
        let settings = PartnerSettings {
            // The same name home-realm discovery gives the entry.
            name: p.name.clone().unwrap_or_else(|| p.domains.join(", ")),
            inbound: p.inbound.map_or(default.inbound, |i| inbound(Some(i))),
            apps: match &p.apps {
                Some(a) => Some(refs.app_ids(sink, &pk.key("apps"), a)),
                None => default.apps.clone(),
            },
            groups: p.groups.clone().or_else(|| default.groups.clone()),
            mfa_trust: p
                .mfa_trust
                .as_ref()
                .map_or_else(|| default.mfa_trust.clone(), mfa_trust),
        };
        let domains = p.domains.iter().map(|d| d.to_ascii_lowercase()).collect();
        entries.push((settings, p.issuers.clone(), domains));
    }
    Partners::new(default, entries)
}

fn inbound(i: Option<PartnerInbound>) -> Inbound {
    match i {
        Some(PartnerInbound::Block) => Inbound::Block,
        Some(PartnerInbound::Allow) | None => Inbound::Allow,
    }
}

fn mfa_trust(t: &MfaTrustSection) -> MfaTrust {
    MfaTrust {
        amr: t.amr.clone(),
        acr: t.acr.clone(),
        authn_context: t.authn_context.clone(),
    }
}

fn locations(
    sink: &mut ErrorSink<'_>,
    root: &KeyPath,
    raw: &[LocationSection],
) -> Vec<NamedLocation> {
    let mut out: Vec<NamedLocation> = Vec::new();
    for (i, l) in raw.iter().enumerate() {
        let key = root.key("location").index(i);
        if l.name.trim().is_empty() {
            sink.push(key.key("name"), "a location needs a name");
        } else if out.iter().any(|o| o.name == l.name) {
            sink.push(
                key.key("name"),
                format!("another location is named `{}`", l.name),
            );
        }
        if l.ranges.is_empty() {
            sink.push(key.key("ranges"), "a location needs at least one range");
        }
        let mut ranges = Vec::new();
        for (j, r) in l.ranges.iter().enumerate() {
            match r
                .parse::<IpNet>()
                .or_else(|_| r.parse::<std::net::IpAddr>().map(IpNet::from))
            {
                Ok(n) => ranges.push(n.trunc()),
                Err(_) => sink.push(
                    key.key("ranges").index(j),
                    format!("`{r}` is not an IP address or CIDR range"),
                ),
            }
        }
        out.push(NamedLocation {
            name: l.name.clone(),
            ranges,
        });
    }
    out
}

/// What one policy's references are checked against.
struct PolicyCtx<'a> {
    key: &'a KeyPath,
    refs: &'a Refs<'a>,
    partners: &'a Partners,
    locations: &'a [NamedLocation],
    terms: &'a [Terms],
}

impl PolicyCtx<'_> {
    fn policy(&self, sink: &mut ErrorSink<'_>, p: &PolicySection) -> Policy {
        let key = self.key;
        let mut a = Assignments::default();
        self.users(
            sink,
            "users",
            &p.users,
            &mut a.kinds,
            &mut a.users,
            Some(&mut a.all_users),
        );
        self.users(
            sink,
            "exclude_users",
            &p.exclude_users,
            &mut a.exclude_kinds,
            &mut a.exclude_users,
            None,
        );
        a.groups = p.groups.clone();
        a.exclude_groups = p.exclude_groups.clone();
        a.partners = self.partner_refs(sink, "partners", &p.partners);
        a.exclude_partners = self.partner_refs(sink, "exclude_partners", &p.exclude_partners);
        if !a.all_users
            && a.kinds.is_empty()
            && a.users.is_empty()
            && a.groups.is_empty()
            && a.partners.is_empty()
        {
            sink.push(
                key.key("users"),
                "the policy assigns no one: set `users` (\"all\", \"guests\", …), `groups` or `partners`",
            );
        }
        if p.apps.iter().any(|x| x == "all") {
            a.all_apps = true;
        } else if p.apps.is_empty() {
            sink.push(
                key.key("apps"),
                "the policy names no app: set `apps` to [\"all\"] or app ids",
            );
        } else {
            a.apps = self.refs.app_ids(sink, &key.key("apps"), &p.apps);
        }
        a.exclude_apps = self
            .refs
            .app_ids(sink, &key.key("exclude_apps"), &p.exclude_apps);

        let conditions = Conditions {
            locations: self.location_refs(sink, "locations", &p.locations),
            exclude_locations: self.location_refs(sink, "exclude_locations", &p.exclude_locations),
            platforms: platforms(sink, &key.key("platforms"), &p.platforms),
            exclude_platforms: platforms(sink, &key.key("exclude_platforms"), &p.exclude_platforms),
            idps: self.refs.idp_ids(sink, &key.key("idps"), &p.idps),
            exclude_idps: self
                .refs
                .idp_ids(sink, &key.key("exclude_idps"), &p.exclude_idps),
        };

        let mut required = Vec::new();
        let mut wants_terms = false;
        for (j, r) in p.require.iter().enumerate() {
            match r.as_str() {
                "mfa" => required.push(Strength::Mfa),
                "phishing_resistant" => required.push(Strength::PhishingResistant),
                "terms" => wants_terms = true,
                other => sink.push(
                    key.key("require").index(j),
                    format!(
                        "unknown control `{other}`: use \"mfa\", \"phishing_resistant\" or \"terms\""
                    ),
                ),
            }
        }
        let terms = match (&p.terms, wants_terms) {
            (Some(id), true) => match self.terms.iter().position(|t| &t.id == id) {
                Some(i) => Some(i),
                None => {
                    sink.push(key.key("terms"), format!("no [[terms]] has the id `{id}`"));
                    None
                }
            },
            (None, true) => {
                sink.push(
                    key.key("terms"),
                    "require = [\"terms\"] needs `terms` (a [[terms]] id)",
                );
                None
            }
            (Some(_), false) => {
                sink.push(
                    key.key("terms"),
                    "add \"terms\" to `require` to ask for these terms",
                );
                None
            }
            (None, false) => None,
        };
        // With strengths as the only controls, "all" asks for the strongest and "any" for
        // the weakest.
        let strength = match p.require_operator {
            RequireOperator::All => required.iter().copied().max(),
            RequireOperator::Any => required.iter().copied().min(),
        };
        let session = SessionControls {
            sign_in_frequency: secs(
                sink,
                &key.key("sign_in_frequency_secs"),
                p.sign_in_frequency_secs,
            ),
            lifetime: secs(
                sink,
                &key.key("session_lifetime_secs"),
                p.session_lifetime_secs,
            ),
        };
        let has_session = session.sign_in_frequency.is_some() || session.lifetime.is_some();
        if p.block && (!p.require.is_empty() || has_session) {
            sink.push(key.key("block"), "a blocking policy has no other control");
        }
        if !p.block && p.require.is_empty() && !has_session {
            sink.push(
                key.key("require"),
                "the policy has no control: set `block`, `require` or a session control",
            );
        }
        Policy {
            name: p.name.clone(),
            state: match p.state {
                PolicyState::On => State::On,
                PolicyState::Off => State::Off,
                PolicyState::ReportOnly => State::ReportOnly,
            },
            assignments: a,
            conditions,
            grant: Grant {
                block: p.block,
                strength,
                terms,
                any: p.require_operator == RequireOperator::Any,
            },
            session,
        }
    }

    /// Sorts `users` entries into kinds ("all" sets `all`) and user keys.
    fn users(
        &self,
        sink: &mut ErrorSink<'_>,
        field: &str,
        list: &[String],
        kinds: &mut Vec<UserKind>,
        keys: &mut Vec<String>,
        mut all: Option<&mut bool>,
    ) {
        for (j, u) in list.iter().enumerate() {
            match u.as_str() {
                "all" => match all.as_deref_mut() {
                    Some(a) => *a = true,
                    None => sink.push(self.key.key(field).index(j), "\"all\" cannot be excluded; turn the policy off"),
                },
                "guests" => kinds.extend([UserKind::InvitedGuest, UserKind::SelfServiceGuest]),
                "invited_guests" => kinds.push(UserKind::InvitedGuest),
                "self_service_guests" => kinds.push(UserKind::SelfServiceGuest),
                "members" => kinds.push(UserKind::Member),
                s if crate::directory::address::Address::parse(s).is_ok() => {
                    keys.push(s.to_ascii_lowercase())
                }
                s if uuid::Uuid::parse_str(s).is_ok() => keys.push(s.to_ascii_lowercase()),
                s => sink.push(
                    self.key.key(field).index(j),
                    format!(
                        "`{s}` is not \"all\", \"guests\", \"invited_guests\", \"self_service_guests\", \"members\", an address or a user id"
                    ),
                ),
            }
        }
    }

    /// Partner names (or one of their domains) → partner indexes.
    fn partner_refs(&self, sink: &mut ErrorSink<'_>, field: &str, list: &[String]) -> Vec<usize> {
        let mut out = Vec::new();
        for (j, name) in list.iter().enumerate() {
            let lower = name.to_ascii_lowercase();
            match self
                .partners
                .position(name)
                .or_else(|| self.partners.find("", &format!("@{lower}")))
            {
                Some(i) => out.push(i),
                None => sink.push(
                    self.key.key(field).index(j),
                    format!("no [[partner]] has the name or domain `{name}`"),
                ),
            }
        }
        out
    }

    fn location_refs(&self, sink: &mut ErrorSink<'_>, field: &str, list: &[String]) -> Vec<usize> {
        let mut out = Vec::new();
        for (j, name) in list.iter().enumerate() {
            match self.locations.iter().position(|l| &l.name == name) {
                Some(i) => out.push(i),
                None => sink.push(
                    self.key.key(field).index(j),
                    format!("no [[location]] is named `{name}`"),
                ),
            }
        }
        out
    }
}

fn platforms(sink: &mut ErrorSink<'_>, key: &KeyPath, list: &[String]) -> Vec<Platform> {
    let mut out = Vec::new();
    for (j, name) in list.iter().enumerate() {
        match Platform::parse(name) {
            Some(p) => out.push(p),
            None => sink.push(
                key.index(j),
                format!("unknown platform `{name}`: use android, ios, windows, macos, linux, chromeos or other"),
            ),
        }
    }
    out
}

fn secs(sink: &mut ErrorSink<'_>, key: &KeyPath, v: Option<u64>) -> Option<i64> {
    match v {
        Some(0) => {
            sink.push(key.clone(), "must be more than 0");
            None
        }
        Some(n) => Some(i64::try_from(n).unwrap_or(i64::MAX)),
        None => None,
    }
}
