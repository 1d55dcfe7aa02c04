//! A session as the store keeps it for reading back: one binary value (postcard) in the
//! `record` column, beside the readable columns that queries and operators use.
//!
//! Just after a restart every browser's first request reads its session from the store.
//! Read from the thirteen columns, each session cost thirteen values copied out of SQLite,
//! converted by sqlx's `Any` driver and decoded (the attributes as JSON into a map of
//! `String`s): about 40 k instructions, a quarter of such a request (docs/benchmarks.md).
//! The record is two values (its id and these bytes) and decodes borrowing from the bytes.
//!
//! The format starts with a version byte, so that a later layout can tell old records
//! from new ones; a record that cannot be decoded is reported as corrupt, never guessed at.

use serde::{Deserialize, Serialize};

use super::{Session, packed};
use crate::policy::Strength;

/// The layout below; a change of layout takes the next number.
const VERSION: u8 = 1;

#[derive(Serialize, Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    idp: &'a str,
    #[serde(borrow)]
    issuer: &'a str,
    #[serde(borrow)]
    user_key: &'a str,
    #[serde(borrow)]
    subject: &'a str,
    #[serde(borrow)]
    acr: Option<&'a str>,
    #[serde(borrow)]
    amr: Vec<&'a str>,
    /// Sorted by name, no name twice.
    #[serde(borrow)]
    attributes: Vec<(&'a str, Vec<&'a str>)>,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    #[serde(borrow)]
    mfa: Option<(&'a str, i64)>,
}

/// The stored form of `s`.
pub fn encode(s: &Session) -> Result<Vec<u8>, String> {
    let record = Record {
        idp: &s.idp,
        issuer: &s.issuer,
        user_key: s.user_key(),
        subject: s.subject(),
        acr: s.acr(),
        amr: s.amr().collect(),
        attributes: s
            .attributes()
            .iter()
            .map(|(k, v)| (k, v.collect()))
            .collect(),
        auth_time: s.auth_time,
        created_at: s.created_at,
        expires_at: s.expires_at,
        mfa: s.mfa.map(|(strength, at)| (strength.name(), at)),
    };
    postcard::to_extend(&record, vec![VERSION]).map_err(|e| format!("session record: {e}"))
}

/// The session stored as `bytes`, or why it cannot be read.
pub fn decode(bytes: &[u8]) -> Result<Session, String> {
    let (version, body) = bytes.split_first().ok_or("an empty session record")?;
    if *version != VERSION {
        return Err(format!(
            "session record version {version}, expected {VERSION}"
        ));
    }
    let r: Record<'_> = postcard::from_bytes(body).map_err(|e| format!("session record: {e}"))?;
    if !r.attributes.is_sorted_by(|a, b| a.0 < b.0) {
        return Err("session record: attribute names out of order or repeated".into());
    }
    let mfa = match r.mfa {
        Some((name, at)) => Some((
            Strength::parse(name).ok_or_else(|| format!("unknown MFA strength {name}"))?,
            at,
        )),
        None => None,
    };
    Ok(Session {
        idp: super::interned::intern(r.idp),
        issuer: super::interned::intern(r.issuer),
        auth_time: r.auth_time,
        created_at: r.created_at,
        expires_at: r.expires_at,
        mfa,
        strings: packed::Packed::from_sorted(r.user_key, r.subject, r.acr, &r.amr, &r.attributes),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::session::{AttributeMap, NewSession};

    fn session(mfa: Option<(Strength, i64)>, acr: Option<&str>) -> Session {
        let mut attributes = AttributeMap::new();
        attributes.insert("groups".into(), vec!["a".into(), "b,c".into(), "".into()]);
        attributes.insert("email".into(), vec!["x@partner.example".into()]);
        attributes.insert("empty".into(), vec![]);
        attributes.insert("名前".into(), vec!["Zoë".into()]);
        Session::from(NewSession {
            user_key: "user-1".into(),
            idp: "partner-oidc".into(),
            issuer: "https://op.partner.example".into(),
            subject: "00u1".into(),
            attributes,
            amr: vec!["pwd".into(), "mfa".into()],
            acr: acr.map(str::to_string),
            auth_time: 1_800_000_000,
            created_at: 1_800_000_005,
            expires_at: 1_800_028_805,
            mfa,
        })
    }

    #[test]
    fn a_session_reads_back_whole() {
        for s in [
            session(Some((Strength::PhishingResistant, 1_800_000_100)), Some("")),
            session(None, None),
            session(Some((Strength::Mfa, -1)), Some("urn:acr:silver")),
        ] {
            let bytes = encode(&s).expect("encode");
            assert_eq!(decode(&bytes).expect("decode"), s);
        }
    }

    #[test]
    fn records_that_are_not_this_layout_are_refused_by_name() {
        let good = encode(&session(None, None)).expect("encode");
        let refused = |bytes: &[u8]| decode(bytes).err().unwrap_or_default();
        assert_eq!(refused(&[]), "an empty session record");
        let mut next = good.clone();
        next[0] = VERSION + 1;
        assert!(refused(&next).contains("version 2, expected 1"));
        assert!(refused(&good[..good.len() - 1]).starts_with("session record:"));
        // Attribute names out of order: `Attributes::get` would miss them.
        let unsorted = Record {
            attributes: vec![("b", vec![]), ("a", vec![])],
            ..record_of_nothing()
        };
        let bytes = postcard::to_extend(&unsorted, vec![VERSION]).expect("encode");
        assert!(refused(&bytes).contains("out of order or repeated"));
        let twice = Record {
            attributes: vec![("a", vec!["1"]), ("a", vec!["2"])],
            ..record_of_nothing()
        };
        let bytes = postcard::to_extend(&twice, vec![VERSION]).expect("encode");
        assert!(refused(&bytes).contains("out of order or repeated"));
        let strength = Record {
            mfa: Some(("superstrong", 1)),
            ..record_of_nothing()
        };
        let bytes = postcard::to_extend(&strength, vec![VERSION]).expect("encode");
        assert_eq!(refused(&bytes), "unknown MFA strength superstrong");
    }

    fn record_of_nothing() -> Record<'static> {
        Record {
            idp: "",
            issuer: "",
            user_key: "",
            subject: "",
            acr: None,
            amr: vec![],
            attributes: vec![],
            auth_time: 0,
            created_at: 0,
            expires_at: 0,
            mfa: None,
        }
    }

    proptest! {
        /// Whatever a session holds comes back, through the same decoder that reads a
        /// damaged record without panicking (below).
        #[test]
        fn any_session_reads_back(
            user_key in ".*", subject in ".*", acr in proptest::option::of(".*"),
            amr in proptest::collection::vec(".*", 0..4),
            attributes in proptest::collection::btree_map(".*", proptest::collection::vec(".*", 0..3), 0..5),
            times in any::<(i64, i64, i64)>(), mfa in proptest::option::of(any::<(bool, i64)>()),
        ) {
            let s = Session::from(NewSession {
                user_key, idp: "idp".into(), issuer: "iss".into(), subject, attributes, amr, acr,
                auth_time: times.0, created_at: times.1, expires_at: times.2,
                mfa: mfa.map(|(strong, at)| {
                    (if strong { Strength::PhishingResistant } else { Strength::Mfa }, at)
                }),
            });
            let bytes = encode(&s).expect("encode");
            prop_assert_eq!(decode(&bytes).expect("decode"), s);
        }

        #[test]
        fn damaged_records_are_errors_not_panics(
            cut in any::<prop::sample::Index>(), flips in proptest::collection::vec(any::<(prop::sample::Index, u8)>(), 0..4),
            junk in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut bytes = encode(&session(Some((Strength::Mfa, 7)), Some("acr"))).expect("encode");
            for (at, x) in flips {
                let i = at.index(bytes.len());
                bytes[i] ^= x;
            }
            bytes.truncate(cut.index(bytes.len() + 1));
            let _ = decode(&bytes);
            let _ = decode(&[&[VERSION][..], &junk].concat());
        }
    }
}
