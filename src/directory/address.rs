//! Email addresses as the directory accepts them, and the invitation domain policy.
//!
//! Deliberately narrower than RFC 5322: one `@`, a dot-atom local part, an ASCII host name
//! with at least one dot. Quoted local parts, comments, IP literals and anything else a mail
//! system might read differently from us are refused, so that one string names one mailbox.

use std::fmt;

/// Serialized as the address string; deserializing parses it again, so a stored value
/// cannot smuggle in what `parse` refuses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Address {
    /// `local@domain`, lower-cased (mailbox names are matched case-insensitively).
    normalized: String,
    at: usize,
}

impl From<Address> for String {
    fn from(a: Address) -> String {
        a.normalized
    }
}

impl TryFrom<String> for Address {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Address::parse(&s)
    }
}

impl Address {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("the email address is empty".into());
        }
        if s.len() > 254 {
            return Err("the email address is longer than 254 characters".into());
        }
        if s.matches('@').count() != 1 {
            return Err(format!("`{s}` must contain exactly one @"));
        }
        let (local, domain) = s.split_once('@').ok_or("missing @")?;
        if local.is_empty() || local.len() > 64 {
            return Err(format!(
                "`{s}`: the part before @ must be 1 to 64 characters"
            ));
        }
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
        if local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || !local.chars().all(|c| c == '.' || atext(c))
        {
            return Err(format!(
                "`{s}`: the part before @ has characters not allowed"
            ));
        }
        if !is_domain(domain) {
            return Err(format!("`{s}`: `{domain}` is not a valid domain name"));
        }
        let normalized = s.to_ascii_lowercase();
        Ok(Self {
            at: local.len(),
            normalized,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.normalized
    }

    pub fn local(&self) -> &str {
        &self.normalized[..self.at]
    }

    pub fn domain(&self) -> &str {
        &self.normalized[self.at + 1..]
    }

    /// The B2B user principal name: `alice_fabrikam.example#EXT#@contoso.example`.
    pub fn guest_upn(&self, tenant_domain: &str) -> String {
        format!("{}_{}#EXT#@{tenant_domain}", self.local(), self.domain())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized)
    }
}

/// An LDH host name with at least two labels and an alphabetic top-level label.
pub fn is_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()))
}

/// Which email domains may be invited and may redeem (Azure's "collaboration restrictions").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DomainPolicy {
    #[default]
    AnyDomain,
    Allow {
        domains: Vec<String>,
        include_subdomains: bool,
    },
    Deny {
        domains: Vec<String>,
        include_subdomains: bool,
    },
}

impl DomainPolicy {
    /// `Err` carries the reason shown to the inviter or the guest.
    pub fn check(&self, addr: &Address) -> Result<(), String> {
        let d = addr.domain();
        let matches = |list: &[String], subs: bool| {
            list.iter().any(|x| {
                d == x
                    || (subs
                        && d.len() > x.len()
                        && d.ends_with(x.as_str())
                        && d.as_bytes()[d.len() - x.len() - 1] == b'.')
            })
        };
        match self {
            Self::AnyDomain => Ok(()),
            Self::Allow {
                domains,
                include_subdomains,
            } if !matches(domains, *include_subdomains) => Err(format!(
                "the domain {d} is not on this organisation's allow-list for guests"
            )),
            Self::Deny {
                domains,
                include_subdomains,
            } if matches(domains, *include_subdomains) => Err(format!(
                "the domain {d} is blocked by this organisation's guest settings"
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_and_lowercases_them() {
        let a = Address::parse(" Alice.Smith+hr@Fabrikam.Example ").expect("valid");
        assert_eq!(a.as_str(), "alice.smith+hr@fabrikam.example");
        assert_eq!(a.domain(), "fabrikam.example");
        assert_eq!(
            a.guest_upn("contoso.example"),
            "alice.smith+hr_fabrikam.example#EXT#@contoso.example"
        );
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "alice",
            "alice@",
            "@fabrikam.example",
            "alice@bob@fabrikam.example",
            "\"alice@x\"@fabrikam.example",
            "alice@fabrikam",
            "alice@[127.0.0.1]",
            "alice@127.0.0.1",
            ".alice@fabrikam.example",
            "al..ice@fabrikam.example",
            "al ice@fabrikam.example",
            "alice@fab_rikam.example",
            "alice@-fabrikam.example",
            "alice@fabrikam..example",
            "alicé@fabrikam.example",
            "alice@fabrikam.example\r\nBcc: x@y.example",
            "alice@fabrikam.example>",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn domain_lists_match_exactly_unless_subdomains_are_asked_for() {
        let a = |s: &str| Address::parse(s).expect("valid");
        let allow = DomainPolicy::Allow {
            domains: vec!["fabrikam.example".into()],
            include_subdomains: false,
        };
        assert!(allow.check(&a("x@fabrikam.example")).is_ok());
        assert!(allow.check(&a("x@eu.fabrikam.example")).is_err());
        assert!(allow.check(&a("x@evilfabrikam.example")).is_err());
        let allow_subs = DomainPolicy::Allow {
            domains: vec!["fabrikam.example".into()],
            include_subdomains: true,
        };
        assert!(allow_subs.check(&a("x@eu.fabrikam.example")).is_ok());
        assert!(allow_subs.check(&a("x@evilfabrikam.example")).is_err());
        let deny = DomainPolicy::Deny {
            domains: vec!["spam.example".into()],
            include_subdomains: true,
        };
        assert!(deny.check(&a("x@spam.example")).is_err());
        assert!(deny.check(&a("x@mail.spam.example")).is_err());
        assert!(deny.check(&a("x@notspam.example")).is_ok());
    }
}
