//! Strings every session of a provider repeats — its id, its issuer, the names of the
//! attributes it maps — kept once per process and shared, instead of once per session.
//! A million cached sessions is the design point (docs/benchmarks.md).
//!
//! The sets are bounded: values come from configuration and IdPs, and an IdP could send
//! names that never repeat. When a set is full, values no session holds any more are
//! dropped; if it is still full, the value is returned unshared (correct, only larger).

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Most distinct values one set keeps.
const CAPACITY: usize = 4096;

pub struct Interner<T: ?Sized> {
    set: Mutex<Option<HashSet<Arc<T>>>>,
}

impl<T: ?Sized + Hash + Eq> Interner<T> {
    pub const fn new() -> Self {
        Self {
            set: Mutex::new(None),
        }
    }

    /// The shared copy of `value`, copied in on first use.
    pub fn get(&self, value: &T) -> Arc<T>
    where
        for<'a> Arc<T>: From<&'a T>,
    {
        self.with_set(|set| match set.get(value) {
            Some(shared) => shared.clone(),
            None => keep(set, Arc::from(value)),
        })
    }

    /// The shared copy of `value`, which becomes it when there is none yet.
    pub fn get_owned(&self, value: T) -> Arc<T>
    where
        T: Sized,
    {
        self.with_set(|set| match set.get(&value) {
            Some(shared) => shared.clone(),
            None => keep(set, Arc::new(value)),
        })
    }

    fn with_set<R>(&self, f: impl FnOnce(&mut HashSet<Arc<T>>) -> R) -> R {
        // A poisoned lock only means another thread panicked while inserting; the set is
        // still a valid set.
        let mut guard = self.set.lock().unwrap_or_else(|e| e.into_inner());
        f(guard.get_or_insert_with(HashSet::new))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let guard = self.set.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map_or(0, HashSet::len)
    }
}

/// Adds `fresh` to `set` if there is room, after dropping what nobody holds when full.
fn keep<T: ?Sized + Hash + Eq>(set: &mut HashSet<Arc<T>>, fresh: Arc<T>) -> Arc<T> {
    if set.len() >= CAPACITY {
        set.retain(|v| Arc::strong_count(v) > 1);
    }
    if set.len() < CAPACITY {
        set.insert(fresh.clone());
    }
    fresh
}

/// Provider ids and issuers.
static STRINGS: Interner<str> = Interner::new();

/// A string shared by every session that has it.
pub fn intern(s: &str) -> Arc<str> {
    STRINGS.get(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_copy_and_the_set_stays_bounded() {
        let set: Interner<str> = Interner::new();
        let get = |s: &str| set.get(s);
        let a = get("https://login.fabrikam.example");
        let b = get("https://login.fabrikam.example");
        assert!(Arc::ptr_eq(&a, &b));
        // Values nobody holds are dropped when the set is full, so it never grows past it.
        for i in 0..CAPACITY * 3 {
            let v = get(format!("name-{i}").as_str());
            assert_eq!(&*v, format!("name-{i}"));
        }
        assert!(set.len() <= CAPACITY);
        // A value still in use survived every clean-up.
        assert!(Arc::ptr_eq(&a, &get("https://login.fabrikam.example")));
        // Values all held: the set is full, and a new one is still returned, unshared.
        let held: Vec<_> = (0..CAPACITY)
            .map(|i| get(format!("held-{i}").as_str()))
            .collect();
        let extra = get("one more");
        assert_eq!(&*extra, "one more");
        assert!(set.len() <= CAPACITY);
        drop(held);
    }
}
