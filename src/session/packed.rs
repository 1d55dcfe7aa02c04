//! A session's own strings — user key, subject, `acr`, `amr` and every attribute value —
//! in two allocations whatever their number: one text and one index of where each string
//! ends. Attribute names are the same for every session of a provider, so they are shared
//! (interned) rather than copied. A million cached sessions is the design point
//! (docs/benchmarks.md): a map of `String`s to `Vec<String>` cost some thirty allocations
//! per session. The record is read-only once built, which is all a session needs.
//!
//! Attributes are serialised as the map they come from (`{"name": ["value", …]}`), so
//! stored sessions read back unchanged.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use super::interned::Interner;

/// Attribute name → values, as providers and the directory produce them.
pub type AttributeMap = BTreeMap<String, Vec<String>>;

/// The sorted attribute names of a session, shared by every session with the same names.
#[derive(PartialEq, Eq, Hash, Debug)]
struct Names(Box<[Box<str>]>);

static NAMES: Interner<Names> = Interner::new();

thread_local! {
    /// The names this thread looked up last. Sessions of one provider have the same names,
    /// so a session read back from the store mostly finds them here, without building the
    /// key for the shared set (a string per name) and hashing it under its lock.
    static LAST_NAMES: RefCell<Option<Arc<Names>>> = const { RefCell::new(None) };
}

/// The shared copy of the `count` names `names` yields.
fn shared_names<'s>(names: impl Iterator<Item = &'s str> + Clone, count: usize) -> Arc<Names> {
    LAST_NAMES.with(|last| {
        let mut last = last.borrow_mut();
        if let Some(known) = last.as_ref()
            && known.0.len() == count
            && known.0.iter().zip(names.clone()).all(|(k, n)| **k == *n)
        {
            return known.clone();
        }
        let shared = NAMES.get_owned(Names(names.map(Into::into).collect()));
        *last = Some(shared.clone());
        shared
    })
}

/// What a session's strings are made from.
pub struct Fields<'a> {
    pub user_key: &'a str,
    pub subject: &'a str,
    pub acr: Option<&'a str>,
    pub amr: &'a [String],
    pub attributes: &'a AttributeMap,
}

/// Strings of one session. In `text`, in this order: user key, subject, `acr` (empty when
/// there is none), the `amr` values, then the values of each attribute in name order.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Packed {
    names: Arc<Names>,
    text: Box<str>,
    /// First the end of each string in `text` (a string starts where the one before ends),
    /// then, per attribute and one past the last, the number of its first value string.
    index: Box<[u32]>,
    amr_count: u16,
    has_acr: bool,
}

const USER_KEY: usize = 0;
const SUBJECT: usize = 1;
const ACR: usize = 2;
const AMR: usize = 3;

impl Packed {
    pub fn new(f: Fields<'_>) -> Self {
        Self::build(
            f.user_key,
            f.subject,
            f.acr,
            f.amr.iter().map(String::as_str),
            f.attributes
                .iter()
                .map(|(name, values)| (name.as_str(), values.iter().map(String::as_str))),
        )
    }

    /// The same from borrowed lists, as a stored record holds them. `attributes` must be
    /// sorted by name with no name twice (`Attributes::get` searches the names); the caller
    /// checks that, since only it knows what to report.
    pub fn from_sorted(
        user_key: &str,
        subject: &str,
        acr: Option<&str>,
        amr: &[&str],
        attributes: &[(&str, Vec<&str>)],
    ) -> Self {
        Self::build(
            user_key,
            subject,
            acr,
            amr.iter().copied(),
            attributes
                .iter()
                .map(|(name, values)| (*name, values.iter().copied())),
        )
    }

    fn build<'s, V: Iterator<Item = &'s str>>(
        user_key: &str,
        subject: &str,
        acr: Option<&str>,
        amr: impl Iterator<Item = &'s str> + Clone,
        attributes: impl Iterator<Item = (&'s str, V)> + Clone,
    ) -> Self {
        // A provider asserts a handful of `amr` values; more than u16 would be an attack.
        let amr = amr.take(usize::from(u16::MAX));
        // Sized up front, so that neither is copied while growing nor shrunk at the end.
        let (mut strings, mut text_len) = (AMR, user_key.len() + subject.len());
        text_len += acr.map_or(0, str::len) + amr.clone().map(str::len).sum::<usize>();
        strings += amr.clone().count();
        let mut attribute_count = 0;
        for (_, values) in attributes.clone() {
            attribute_count += 1;
            for v in values {
                strings += 1;
                text_len += v.len();
            }
        }
        let mut text = String::with_capacity(text_len);
        let mut index = Vec::with_capacity(strings + attribute_count + 1);
        // Offsets are u32: the strings of one session are far below 4 GiB (headers cap what
        // is sent anyway); anything past it would read as empty, never as another string.
        let mut push = |text: &mut String, s: &str| {
            text.push_str(s);
            index.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
        };
        push(&mut text, user_key);
        push(&mut text, subject);
        push(&mut text, acr.unwrap_or(""));
        let mut amr_count = 0u16;
        for v in amr {
            push(&mut text, v);
            amr_count += 1;
        }
        let mut firsts = Vec::with_capacity(attribute_count + 1);
        let mut next = AMR + usize::from(amr_count);
        for (_, values) in attributes.clone() {
            firsts.push(u32::try_from(next).unwrap_or(u32::MAX));
            for v in values {
                push(&mut text, v);
                next += 1;
            }
        }
        firsts.push(u32::try_from(next).unwrap_or(u32::MAX));
        index.extend(firsts);
        let names = shared_names(attributes.map(|(name, _)| name), attribute_count);
        Self {
            names,
            text: text.into_boxed_str(),
            index: index.into_boxed_slice(),
            amr_count,
            has_acr: acr.is_some(),
        }
    }

    pub fn user_key(&self) -> &str {
        self.string(USER_KEY)
    }

    pub fn subject(&self) -> &str {
        self.string(SUBJECT)
    }

    pub fn acr(&self) -> Option<&str> {
        self.has_acr.then(|| self.string(ACR))
    }

    pub fn amr(&self) -> Values<'_> {
        Values {
            packed: self,
            next: AMR,
            end: AMR + usize::from(self.amr_count),
        }
    }

    pub fn attributes(&self) -> Attributes<'_> {
        Attributes { packed: self }
    }

    /// Where the per-attribute part of `index` starts.
    fn firsts(&self) -> &[u32] {
        let n = self.names.0.len() + 1;
        self.index
            .get(self.index.len().saturating_sub(n)..)
            .unwrap_or(&[])
    }

    fn string(&self, i: usize) -> &str {
        let start = match i {
            0 => 0,
            _ => self.index.get(i - 1).copied().unwrap_or(0) as usize,
        };
        let end = self.index.get(i).copied().unwrap_or(0) as usize;
        self.text.get(start..end).unwrap_or("")
    }

    fn values(&self, attribute: usize) -> Values<'_> {
        let firsts = self.firsts();
        let at = |i: usize| firsts.get(i).copied().unwrap_or(0) as usize;
        Values {
            packed: self,
            next: at(attribute),
            end: at(attribute + 1),
        }
    }
}

/// A session's attributes, sorted by name.
#[derive(Clone, Copy)]
pub struct Attributes<'a> {
    packed: &'a Packed,
}

impl<'a> Attributes<'a> {
    pub fn get(&self, name: &str) -> Option<Values<'a>> {
        let i = self
            .packed
            .names
            .0
            .binary_search_by(|n| (**n).cmp(name))
            .ok()?;
        Some(self.packed.values(i))
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&'a str> {
        self.get(name)?.next()
    }

    /// Every attribute in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Values<'a>)> + use<'a> {
        let packed = self.packed;
        packed
            .names
            .0
            .iter()
            .enumerate()
            .map(move |(i, n)| (&**n, packed.values(i)))
    }

    pub fn is_empty(&self) -> bool {
        self.packed.names.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.packed.names.0.len()
    }

    /// The map form, to change and build again.
    pub fn to_map(&self) -> AttributeMap {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string).collect()))
            .collect()
    }
}

impl std::fmt::Debug for Attributes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (k, v.collect::<Vec<_>>())))
            .finish()
    }
}

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            m.serialize_entry(k, &v.collect::<Vec<_>>())?;
        }
        m.end()
    }
}

/// The values of one attribute (or of `amr`).
#[derive(Clone)]
pub struct Values<'a> {
    packed: &'a Packed,
    next: usize,
    end: usize,
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.next >= self.end {
            return None;
        }
        self.next += 1;
        Some(self.packed.string(self.next - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end.saturating_sub(self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Values<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(map: &AttributeMap, acr: Option<&str>, amr: &[String]) -> Packed {
        Packed::new(Fields {
            user_key: "user-1",
            subject: "00u1",
            acr,
            amr,
            attributes: map,
        })
    }

    #[test]
    fn reads_back_what_it_was_built_from() {
        let mut map = AttributeMap::new();
        map.insert("groups".into(), vec!["a".into(), "b,c".into(), "".into()]);
        map.insert("email".into(), vec!["x@y.example".into()]);
        map.insert("empty".into(), vec![]);
        map.insert("名前".into(), vec!["Zoë".into()]);
        let amr = vec!["pwd".to_string(), "mfa".to_string()];
        let p = packed(&map, Some("urn:acr:silver"), &amr);
        assert_eq!(p.user_key(), "user-1");
        assert_eq!(p.subject(), "00u1");
        assert_eq!(p.acr(), Some("urn:acr:silver"));
        assert_eq!(p.amr().collect::<Vec<_>>(), ["pwd", "mfa"]);
        let a = p.attributes();
        assert_eq!(a.len(), 4);
        assert_eq!(a.first("email"), Some("x@y.example"));
        assert_eq!(
            a.get("groups").map(|v| v.collect::<Vec<_>>()),
            Some(vec!["a", "b,c", ""])
        );
        assert_eq!(a.get("empty").map(|v| v.len()), Some(0));
        assert_eq!(a.first("名前"), Some("Zoë"));
        assert!(a.get("missing").is_none());
        assert!(a.get("pwd").is_none(), "amr values are not attributes");
        assert_eq!(a.to_map(), map);
        let names: Vec<&str> = a.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["email", "empty", "groups", "名前"], "name order");
        assert_eq!(
            serde_json::to_string(&a).expect("json"),
            serde_json::to_string(&map).expect("json"),
            "stored as the map"
        );
    }

    #[test]
    fn no_acr_is_not_an_empty_acr_and_names_are_shared() {
        let map = AttributeMap::from([("email".to_string(), vec!["a@b.example".to_string()])]);
        let none = packed(&map, None, &[]);
        let empty = packed(&map, Some(""), &[]);
        assert_eq!(none.acr(), None);
        assert_eq!(empty.acr(), Some(""));
        assert_eq!(none.amr().len(), 0);
        assert!(
            Arc::ptr_eq(&none.names, &empty.names),
            "one copy of the names"
        );
        // A session with other names after one with these gets its own, not the last ones.
        let other = AttributeMap::from([("mail".to_string(), vec!["a@b.example".to_string()])]);
        let longer = AttributeMap::from([
            ("email".to_string(), vec!["a@b.example".to_string()]),
            ("groups".to_string(), vec![]),
        ]);
        for (map, names) in [
            (&other, vec!["mail"]),
            (&longer, vec!["email", "groups"]),
            (&map, vec!["email"]),
        ] {
            let p = packed(map, None, &[]);
            let got: Vec<&str> = p.attributes().iter().map(|(k, _)| k).collect();
            assert_eq!(got, names);
        }
        let bare = packed(&AttributeMap::new(), None, &[]);
        assert!(bare.attributes().is_empty());
        assert_eq!(bare.user_key(), "user-1");
    }
}
