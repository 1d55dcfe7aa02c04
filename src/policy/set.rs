//! The policies as the config states them, and the index compiled from them at load: for
//! every value an assignment or condition can match (a user kind, a group, an app, a named
//! location, a platform, an IdP) the set of policies that include it and the set that
//! exclude it. A request then finds the policies that apply to it with a handful of hash
//! lookups and bit operations, however many policies there are.

// Keyed by config values and looked up per request: a fast hasher (see Cargo.toml).
use foldhash::HashMap;

use super::bits::PolicyBits;
use super::location::NamedLocation;
use super::partner::{Inbound, Partners};
use super::platform::Platform;
use super::{Strength, UserKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    On,
    Off,
    /// Evaluated and reported (audit log, what-if), never enforced.
    ReportOnly,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::On => "on",
            State::Off => "off",
            State::ReportOnly => "report_only",
        }
    }
}

/// Who and what a policy is for. Empty include lists match nobody, except where noted.
#[derive(Clone, Debug, Default)]
pub struct Assignments {
    pub all_users: bool,
    pub kinds: Vec<UserKind>,
    /// User ids or (lower-case) addresses.
    pub users: Vec<String>,
    pub groups: Vec<String>,
    /// Indexes into `Partners::entries`.
    pub partners: Vec<usize>,
    pub exclude_kinds: Vec<UserKind>,
    pub exclude_users: Vec<String>,
    pub exclude_groups: Vec<String>,
    pub exclude_partners: Vec<usize>,
    pub all_apps: bool,
    pub apps: Vec<String>,
    pub exclude_apps: Vec<String>,
}

/// Conditions narrow a policy further; an empty include list means "any".
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    /// Indexes into `PolicySet::locations`.
    pub locations: Vec<usize>,
    pub exclude_locations: Vec<usize>,
    pub platforms: Vec<Platform>,
    pub exclude_platforms: Vec<Platform>,
    /// IdP ids.
    pub idps: Vec<String>,
    pub exclude_idps: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Grant {
    pub block: bool,
    /// The authentication strength required, if any.
    pub strength: Option<Strength>,
    /// Terms of use to accept (an index into `PolicySet::terms`), if any.
    pub terms: Option<usize>,
    /// With both a strength and terms: one of them suffices (Entra's "require one of the
    /// selected controls"); otherwise both are needed.
    pub any: bool,
}

/// A terms-of-use document. Acceptance is recorded per user and version: a new version
/// is asked for again.
#[derive(Clone, Debug)]
pub struct Terms {
    pub id: String,
    pub version: String,
    pub title: String,
    /// Plain text, shown as is (paragraphs split on blank lines).
    pub text: String,
}

impl Terms {
    /// Whether `key` (an acceptance as the directory records it, `id@version`) is of this
    /// version; compared in place, since it runs on every request a terms policy applies to.
    pub fn is_key(&self, key: &str) -> bool {
        key.split_once('@') == Some((self.id.as_str(), self.version.as_str()))
    }
}

/// At most this many terms documents (acceptance is a bit set per request).
pub const MAX_TERMS: usize = 64;

#[derive(Clone, Copy, Debug, Default)]
pub struct SessionControls {
    /// Seconds since the user last authenticated (at their IdP, or the gateway's MFA) after
    /// which they must again. Also bounds how old a trusted partner's MFA may be.
    pub sign_in_frequency: Option<i64>,
    /// Seconds a session may last at most, whatever the session settings say.
    pub lifetime: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Policy {
    pub name: String,
    pub state: State,
    pub assignments: Assignments,
    pub conditions: Conditions,
    pub grant: Grant,
    pub session: SessionControls,
}

/// For one kind of value: the policies that include it, and those that exclude it.
#[derive(Debug)]
struct Keyed<K> {
    include: HashMap<K, PolicyBits>,
    exclude: HashMap<K, PolicyBits>,
}

impl<K: std::hash::Hash + Eq> Keyed<K> {
    fn new() -> Self {
        Self {
            include: HashMap::default(),
            exclude: HashMap::default(),
        }
    }

    fn add(map: &mut HashMap<K, PolicyBits>, key: K, n: usize, i: usize) {
        map.entry(key)
            .or_insert_with(|| PolicyBits::empty(n))
            .insert(i);
    }
}

/// Include and exclude sets for a value found by position (kinds, platforms, locations,
/// partners).
#[derive(Debug)]
struct Indexed {
    include: Vec<PolicyBits>,
    exclude: Vec<PolicyBits>,
}

impl Indexed {
    fn new(len: usize, n: usize) -> Self {
        Self {
            include: vec![PolicyBits::empty(n); len],
            exclude: vec![PolicyBits::empty(n); len],
        }
    }
}

/// The compiled index.
#[derive(Debug)]
pub(super) struct Index {
    pub n: usize,
    /// Policies that are on or report-only.
    pub live: PolicyBits,
    pub all_users: PolicyBits,
    kinds: Indexed,
    users: Keyed<String>,
    groups: Keyed<String>,
    partners: Indexed,
    pub all_apps: PolicyBits,
    apps: Keyed<String>,
    /// Policies with no include list for a condition: they pass it unless excluded.
    pub any_location: PolicyBits,
    locations: Indexed,
    pub any_platform: PolicyBits,
    platforms: Indexed,
    pub any_idp: PolicyBits,
    idps: Keyed<String>,
    /// Whether any policy has a location condition (else the address is never matched).
    pub uses_locations: bool,
    /// Whether any policy has a platform condition (else the User-Agent is never read).
    pub uses_platforms: bool,
}

/// What a request contributes to the index lookups: the sets its values select.
pub(super) struct Selected {
    pub users: PolicyBits,
    pub excluded_users: PolicyBits,
    pub apps: PolicyBits,
    pub conditions: PolicyBits,
}

/// The policies, the partner settings, named locations and terms they refer to, and the
/// index.
#[derive(Debug)]
pub struct PolicySet {
    pub policies: Vec<Policy>,
    pub partners: Partners,
    pub locations: Vec<NamedLocation>,
    pub terms: Vec<Terms>,
    pub(super) index: Index,
    /// Nothing to decide (see `is_inert`), known at load.
    inert: bool,
}

impl Default for PolicySet {
    fn default() -> Self {
        Self::new(Vec::new(), Partners::default(), Vec::new())
    }
}

impl PolicySet {
    pub fn new(policies: Vec<Policy>, partners: Partners, locations: Vec<NamedLocation>) -> Self {
        Self::with_terms(policies, partners, locations, Vec::new())
    }

    pub fn with_terms(
        policies: Vec<Policy>,
        partners: Partners,
        locations: Vec<NamedLocation>,
        terms: Vec<Terms>,
    ) -> Self {
        let index = Index::build(&policies, partners.entries.len(), locations.len());
        let inert = policies.is_empty()
            && std::iter::once(&partners.default)
                .chain(&partners.entries)
                .all(|p| p.inbound == Inbound::Allow && p.apps.is_none() && p.groups.is_none());
        Self {
            policies,
            partners,
            locations,
            terms,
            index,
            inert,
        }
    }

    /// The terms (bit `i` for `terms[i]`) a user accepted in their current version, from
    /// the user's recorded acceptances (`Terms::key`).
    pub fn accepted_terms(&self, accepted: &[String]) -> u64 {
        self.terms
            .iter()
            .take(MAX_TERMS)
            .enumerate()
            .filter(|(_, t)| accepted.iter().any(|a| t.is_key(a)))
            .fold(0, |mask, (i, _)| mask | (1 << i))
    }

    pub fn terms_by_id(&self, id: &str) -> Option<&Terms> {
        self.terms.iter().find(|t| t.id == id)
    }

    /// Nothing to decide: no policies, and no partner entry restricts anyone. Admission then
    /// skips gathering the request's facts.
    pub fn is_inert(&self) -> bool {
        self.inert
    }

    /// Whether a decision can depend on the client's platform: only then is the
    /// User-Agent worth reading on each request.
    pub fn reads_platform(&self) -> bool {
        self.index.uses_platforms
    }
}

impl Index {
    fn build(policies: &[Policy], partners: usize, locations: usize) -> Self {
        let n = policies.len();
        let mut ix = Index {
            n,
            live: PolicyBits::empty(n),
            all_users: PolicyBits::empty(n),
            kinds: Indexed::new(UserKind::ALL.len(), n),
            users: Keyed::new(),
            groups: Keyed::new(),
            partners: Indexed::new(partners, n),
            all_apps: PolicyBits::empty(n),
            apps: Keyed::new(),
            any_location: PolicyBits::empty(n),
            locations: Indexed::new(locations, n),
            any_platform: PolicyBits::empty(n),
            platforms: Indexed::new(Platform::ALL.len(), n),
            any_idp: PolicyBits::empty(n),
            idps: Keyed::new(),
            uses_locations: false,
            uses_platforms: false,
        };
        for (i, p) in policies.iter().enumerate() {
            if p.state != State::Off {
                ix.live.insert(i);
            }
            let a = &p.assignments;
            if a.all_users {
                ix.all_users.insert(i);
            }
            for k in &a.kinds {
                ix.kinds.include[k.index()].insert(i);
            }
            for k in &a.exclude_kinds {
                ix.kinds.exclude[k.index()].insert(i);
            }
            for u in &a.users {
                Keyed::add(&mut ix.users.include, u.clone(), n, i);
            }
            for u in &a.exclude_users {
                Keyed::add(&mut ix.users.exclude, u.clone(), n, i);
            }
            for g in &a.groups {
                Keyed::add(&mut ix.groups.include, g.clone(), n, i);
            }
            for g in &a.exclude_groups {
                Keyed::add(&mut ix.groups.exclude, g.clone(), n, i);
            }
            for &pi in &a.partners {
                ix.partners.include[pi].insert(i);
            }
            for &pi in &a.exclude_partners {
                ix.partners.exclude[pi].insert(i);
            }
            if a.all_apps {
                ix.all_apps.insert(i);
            }
            for app in &a.apps {
                Keyed::add(&mut ix.apps.include, app.clone(), n, i);
            }
            for app in &a.exclude_apps {
                Keyed::add(&mut ix.apps.exclude, app.clone(), n, i);
            }
            let c = &p.conditions;
            if c.locations.is_empty() {
                ix.any_location.insert(i);
            }
            for &l in &c.locations {
                ix.locations.include[l].insert(i);
            }
            for &l in &c.exclude_locations {
                ix.locations.exclude[l].insert(i);
            }
            ix.uses_locations |= !c.locations.is_empty() || !c.exclude_locations.is_empty();
            ix.uses_platforms |= !c.platforms.is_empty() || !c.exclude_platforms.is_empty();
            if c.platforms.is_empty() {
                ix.any_platform.insert(i);
            }
            for pl in &c.platforms {
                ix.platforms.include[pl.index()].insert(i);
            }
            for pl in &c.exclude_platforms {
                ix.platforms.exclude[pl.index()].insert(i);
            }
            if c.idps.is_empty() {
                ix.any_idp.insert(i);
            }
            for idp in &c.idps {
                Keyed::add(&mut ix.idps.include, idp.clone(), n, i);
            }
            for idp in &c.exclude_idps {
                Keyed::add(&mut ix.idps.exclude, idp.clone(), n, i);
            }
        }
        ix
    }

    /// The users part: policies that include this subject (by any of its traits), and those
    /// that exclude it (by any).
    pub fn users(&self, s: &super::Subject<'_>) -> (PolicyBits, PolicyBits) {
        let mut inc = self.all_users.clone();
        let mut exc = PolicyBits::empty(self.n);
        inc.union_with(&self.kinds.include[s.kind.index()]);
        exc.union_with(&self.kinds.exclude[s.kind.index()]);
        for key in [s.user_id, s.mail] {
            if let Some(b) = self.users.include.get(key) {
                inc.union_with(b);
            }
            if let Some(b) = self.users.exclude.get(key) {
                exc.union_with(b);
            }
        }
        for g in s.groups {
            if let Some(b) = self.groups.include.get(g.as_str()) {
                inc.union_with(b);
            }
            if let Some(b) = self.groups.exclude.get(g.as_str()) {
                exc.union_with(b);
            }
        }
        if let Some(p) = s.partner {
            inc.union_with(&self.partners.include[p]);
            exc.union_with(&self.partners.exclude[p]);
        }
        (inc, exc)
    }

    /// Policies assigned to `app` and not excluding it.
    pub fn apps(&self, app: &str) -> PolicyBits {
        let mut b = self.all_apps.clone();
        if let Some(i) = self.apps.include.get(app) {
            b.union_with(i);
        }
        if let Some(e) = self.apps.exclude.get(app) {
            b.subtract(e);
        }
        b
    }

    /// Policies whose location condition the address passes; `matching` are the indexes of
    /// the named locations that contain it.
    pub fn locations(&self, matching: impl Iterator<Item = usize>) -> PolicyBits {
        let mut pass = self.any_location.clone();
        let mut excluded = PolicyBits::empty(self.n);
        for l in matching {
            pass.union_with(&self.locations.include[l]);
            excluded.union_with(&self.locations.exclude[l]);
        }
        pass.subtract(&excluded);
        pass
    }

    pub fn platforms(&self, p: Platform) -> PolicyBits {
        let mut pass = self.any_platform.clone();
        pass.union_with(&self.platforms.include[p.index()]);
        pass.subtract(&self.platforms.exclude[p.index()]);
        pass
    }

    pub fn idps(&self, idp: &str) -> PolicyBits {
        let mut pass = self.any_idp.clone();
        if let Some(i) = self.idps.include.get(idp) {
            pass.union_with(i);
        }
        if let Some(e) = self.idps.exclude.get(idp) {
            pass.subtract(e);
        }
        pass
    }

    /// Every lookup for one request.
    pub fn select(
        &self,
        s: &super::Subject<'_>,
        c: &super::Context<'_>,
        locations: &[NamedLocation],
    ) -> Selected {
        let (users, excluded_users) = self.users(s);
        let mut conditions = if self.uses_locations {
            self.locations(
                locations
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.contains(c.ip))
                    .map(|(i, _)| i),
            )
        } else {
            self.any_location.clone()
        };
        conditions.intersect_with(&self.platforms(c.platform));
        conditions.intersect_with(&self.idps(c.idp));
        Selected {
            users,
            excluded_users,
            apps: self.apps(c.app),
            conditions,
        }
    }
}
