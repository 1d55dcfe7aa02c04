//! A session's attributes in three allocations, whatever their number: one text holding every
//! name and value, an index of attributes and an index of value spans. A million cached
//! sessions is the design point (docs/benchmarks.md): a map of `String`s to `Vec<String>`
//! cost some thirty allocations and ~1.5 KB per session; this is read-only once built, which
//! is all a session needs.
//!
//! Serialised as the map it replaces (`{"name": ["value", …]}`), so stored sessions read back
//! unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Attribute name → values, as providers and the directory produce them.
pub type AttributeMap = BTreeMap<String, Vec<String>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    name: Span,
    /// Index of the first value span and how many there are.
    first: u32,
    count: u32,
}

/// Read-only attributes, sorted by name (as the map they come from).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    text: Box<str>,
    entries: Box<[Entry]>,
    values: Box<[Span]>,
}

impl Attributes {
    pub fn get(&self, name: &str) -> Option<Values<'_>> {
        let i = self
            .entries
            .binary_search_by(|e| self.str(e.name).cmp(name))
            .ok()?;
        Some(self.values_of(&self.entries[i]))
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.get(name)?.next()
    }

    /// Every attribute in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Values<'_>)> {
        self.entries
            .iter()
            .map(|e| (self.str(e.name), self.values_of(e)))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The map form, to change and build again.
    pub fn to_map(&self) -> AttributeMap {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string).collect()))
            .collect()
    }

    fn str(&self, s: Span) -> &str {
        let start = s.start as usize;
        self.text.get(start..start + s.len as usize).unwrap_or("")
    }

    fn values_of(&self, e: &Entry) -> Values<'_> {
        let first = e.first as usize;
        Values {
            attrs: self,
            spans: self
                .values
                .get(first..first + e.count as usize)
                .unwrap_or(&[]),
        }
    }
}

impl From<&AttributeMap> for Attributes {
    fn from(map: &AttributeMap) -> Self {
        let mut text = String::new();
        let mut entries = Vec::with_capacity(map.len());
        let mut values = Vec::new();
        // Offsets are u32: attributes of one session are far below 4 GiB (headers cap
        // what is sent anyway); anything past it would be cut, never misread.
        let span = |text: &mut String, s: &str| {
            let start = u32::try_from(text.len()).unwrap_or(u32::MAX);
            text.push_str(s);
            Span {
                start,
                len: u32::try_from(s.len()).unwrap_or(0),
            }
        };
        for (name, vals) in map {
            let name = span(&mut text, name);
            let first = u32::try_from(values.len()).unwrap_or(u32::MAX);
            for v in vals {
                values.push(span(&mut text, v));
            }
            entries.push(Entry {
                name,
                first,
                count: u32::try_from(vals.len()).unwrap_or(0),
            });
        }
        Attributes {
            text: text.into_boxed_str(),
            entries: entries.into_boxed_slice(),
            values: values.into_boxed_slice(),
        }
    }
}

impl From<AttributeMap> for Attributes {
    fn from(map: AttributeMap) -> Self {
        Self::from(&map)
    }
}

impl FromIterator<(String, Vec<String>)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (String, Vec<String>)>>(iter: I) -> Self {
        Self::from(&iter.into_iter().collect::<AttributeMap>())
    }
}

impl<const N: usize> From<[(&str, &[&str]); N]> for Attributes {
    fn from(pairs: [(&str, &[&str]); N]) -> Self {
        let map: AttributeMap = pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect();
        Self::from(&map)
    }
}

impl std::fmt::Debug for Attributes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (k, v.collect::<Vec<_>>())))
            .finish()
    }
}

/// The values of one attribute.
#[derive(Clone)]
pub struct Values<'a> {
    attrs: &'a Attributes,
    spans: &'a [Span],
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let (first, rest) = self.spans.split_first()?;
        self.spans = rest;
        Some(self.attrs.str(*first))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.spans.len(), Some(self.spans.len()))
    }
}

impl ExactSizeIterator for Values<'_> {}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            m.serialize_entry(k, &v.collect::<Vec<_>>())?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        AttributeMap::deserialize(d).map(|m| Self::from(&m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_was_built_from() {
        let mut map = AttributeMap::new();
        map.insert("groups".into(), vec!["a".into(), "b,c".into(), "".into()]);
        map.insert("email".into(), vec!["x@y.example".into()]);
        map.insert("empty".into(), vec![]);
        map.insert("名前".into(), vec!["Zoë".into()]);
        let a = Attributes::from(&map);
        assert_eq!(a.len(), 4);
        assert_eq!(a.first("email"), Some("x@y.example"));
        assert_eq!(
            a.get("groups").map(|v| v.collect::<Vec<_>>()),
            Some(vec!["a", "b,c", ""])
        );
        assert_eq!(a.get("empty").map(|v| v.len()), Some(0));
        assert_eq!(a.first("名前"), Some("Zoë"));
        assert!(a.get("missing").is_none());
        assert_eq!(a.to_map(), map);
        let names: Vec<&str> = a.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["email", "empty", "groups", "名前"], "name order");
        let json = serde_json::to_string(&a).expect("json");
        assert_eq!(
            json,
            serde_json::to_string(&map).expect("json"),
            "stored as the map"
        );
        let back: Attributes = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, a);
        assert!(Attributes::default().is_empty());
    }
}
