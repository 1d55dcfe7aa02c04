//! Partner (cross-tenant) settings: a default entry and one per partner organisation,
//! matched by the IdP issuer a guest signed in with or by the domain of the guest's address.
//! They say whether the partner's users may come in at all, which apps they may reach, and
//! which of the partner's own authentication claims count as MFA here.

// Keyed by config values and looked up per request: a fast hasher (see Cargo.toml).
use foldhash::HashMap;

/// The protocol a session's claims came in, which decides which trust list applies: an
/// OIDC `acr` and a SAML `AuthnContextClassRef` are both stored as the session's `acr`,
/// but a value trusted for one must not count for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Oidc,
    Saml,
    /// OAuth 2 profiles and email passcodes: no authentication claims to trust.
    Other,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Inbound {
    #[default]
    Allow,
    Block,
}

/// Which of a partner's claims count as MFA. Empty lists: none do, whatever the partner's
/// IdP says.
#[derive(Clone, Debug, Default)]
pub struct MfaTrust {
    /// OIDC `amr` values, e.g. `mfa`, `hwk`, `otp`.
    pub amr: Vec<String>,
    /// OIDC `acr` values.
    pub acr: Vec<String>,
    /// SAML `AuthnContextClassRef` values.
    pub authn_context: Vec<String>,
}

impl MfaTrust {
    pub fn is_empty(&self) -> bool {
        self.amr.is_empty() && self.acr.is_empty() && self.authn_context.is_empty()
    }

    /// Whether a session's claims include one this entry trusts as MFA.
    pub fn counts_as_mfa<'a>(
        &self,
        protocol: Protocol,
        mut amr: impl Iterator<Item = &'a str>,
        acr: Option<&str>,
    ) -> bool {
        match protocol {
            Protocol::Oidc => {
                acr.is_some_and(|a| self.acr.iter().any(|t| t == a))
                    || amr.any(|a| self.amr.iter().any(|t| t == a))
            }
            Protocol::Saml => acr.is_some_and(|a| self.authn_context.iter().any(|t| t == a)),
            Protocol::Other => false,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct PartnerSettings {
    /// The partner's name; `default` for the default entry.
    pub name: String,
    pub inbound: Inbound,
    /// App ids the partner's users may reach; `None`: every app.
    pub apps: Option<Vec<String>>,
    /// Directory groups the partner's users must belong to (one of them) to reach any app;
    /// `None`: no such restriction.
    pub groups: Option<Vec<String>>,
    pub mfa_trust: MfaTrust,
}

/// The default entry and the partners, with their match indexes.
#[derive(Clone, Debug, Default)]
pub struct Partners {
    pub default: PartnerSettings,
    pub entries: Vec<PartnerSettings>,
    by_issuer: HashMap<String, usize>,
    /// Lower-case domains.
    by_domain: HashMap<String, usize>,
}

impl Partners {
    /// `matchers[i]` are partner `i`'s (issuers, lower-case domains).
    pub fn new(
        default: PartnerSettings,
        entries: Vec<(PartnerSettings, Vec<String>, Vec<String>)>,
    ) -> Self {
        let mut out = Self {
            default,
            ..Self::default()
        };
        for (i, (settings, issuers, domains)) in entries.into_iter().enumerate() {
            for iss in issuers {
                out.by_issuer.insert(iss, i);
            }
            for d in domains {
                out.by_domain.insert(d, i);
            }
            out.entries.push(settings);
        }
        out
    }

    /// The partner a guest belongs to: by the issuer of the identity they signed in with,
    /// else by the domain of their address. `None`: the default entry applies.
    pub fn find(&self, issuer: &str, mail: &str) -> Option<usize> {
        if let Some(i) = self.by_issuer.get(issuer) {
            return Some(*i);
        }
        let domain = mail.rsplit_once('@')?.1;
        if domain.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.by_domain.get(&domain.to_ascii_lowercase()).copied();
        }
        self.by_domain.get(domain).copied()
    }

    pub fn settings(&self, partner: Option<usize>) -> &PartnerSettings {
        partner
            .and_then(|i| self.entries.get(i))
            .unwrap_or(&self.default)
    }

    /// The index of the partner named `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust() -> MfaTrust {
        MfaTrust {
            amr: vec!["mfa".into()],
            acr: vec!["urn:fabrikam:loa:2".into()],
            authn_context: vec!["urn:oasis:names:tc:SAML:2.0:ac:classes:X509".into()],
        }
    }

    #[test]
    fn a_claim_counts_only_in_its_own_protocol() {
        let t = trust();
        assert!(t.counts_as_mfa(Protocol::Oidc, ["pwd", "mfa"].into_iter(), None));
        assert!(t.counts_as_mfa(Protocol::Oidc, [].into_iter(), Some("urn:fabrikam:loa:2")));
        assert!(!t.counts_as_mfa(
            Protocol::Oidc,
            ["pwd"].into_iter(),
            Some("urn:fabrikam:loa:1")
        ));
        // A SAML assertion's class counts only from the SAML list, and the OIDC lists do not
        // reach it.
        assert!(t.counts_as_mfa(
            Protocol::Saml,
            [].into_iter(),
            Some("urn:oasis:names:tc:SAML:2.0:ac:classes:X509")
        ));
        assert!(!t.counts_as_mfa(
            Protocol::Saml,
            ["mfa"].into_iter(),
            Some("urn:fabrikam:loa:2")
        ));
        assert!(!t.counts_as_mfa(Protocol::Other, ["mfa"].into_iter(), None));
        assert!(!MfaTrust::default().counts_as_mfa(Protocol::Oidc, ["mfa"].into_iter(), None));
    }

    #[test]
    fn issuer_wins_over_domain_and_domains_ignore_case() {
        let p = Partners::new(
            PartnerSettings::default(),
            vec![
                (
                    PartnerSettings {
                        name: "fabrikam".into(),
                        ..Default::default()
                    },
                    vec![],
                    vec!["fabrikam.example".into()],
                ),
                (
                    PartnerSettings {
                        name: "woodgrove".into(),
                        ..Default::default()
                    },
                    vec!["https://idp.woodgrove.example".into()],
                    vec![],
                ),
            ],
        );
        assert_eq!(p.find("https://other", "a@Fabrikam.Example"), Some(0));
        assert_eq!(
            p.find("https://idp.woodgrove.example", "a@fabrikam.example"),
            Some(1)
        );
        assert_eq!(p.find("https://other", "a@contoso.example"), None);
        assert_eq!(p.settings(None).name, "");
        assert_eq!(p.position("woodgrove"), Some(1));
    }
}
