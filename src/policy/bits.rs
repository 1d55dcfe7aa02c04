//! A set of policies as bits: the compiled policy set indexes every assignment and condition
//! value by the policies it names, so a request finds the policies that apply to it with a
//! few hash lookups and word-wide ANDs instead of walking every policy's lists.

/// One bit per policy, in the order of the config file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyBits(Box<[u64]>);

impl PolicyBits {
    /// An empty set for `n` policies.
    pub fn empty(n: usize) -> Self {
        Self(vec![0; n.div_ceil(64)].into_boxed_slice())
    }

    /// Every one of `n` policies.
    pub fn full(n: usize) -> Self {
        let mut b = Self::empty(n);
        for i in 0..n {
            b.insert(i);
        }
        b
    }

    pub fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub fn union_with(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a |= b;
        }
    }

    pub fn intersect_with(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a &= b;
        }
    }

    pub fn subtract(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a &= !b;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// The policy indexes in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                Some(w * 64 + bit)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations_over_more_than_one_word() {
        let mut a = PolicyBits::empty(130);
        a.insert(0);
        a.insert(64);
        a.insert(129);
        let mut b = PolicyBits::empty(130);
        b.insert(64);
        b.insert(100);
        let mut u = a.clone();
        u.union_with(&b);
        assert_eq!(u.iter().collect::<Vec<_>>(), [0, 64, 100, 129]);
        let mut i = a.clone();
        i.intersect_with(&b);
        assert_eq!(i.iter().collect::<Vec<_>>(), [64]);
        let mut d = a.clone();
        d.subtract(&b);
        assert_eq!(d.iter().collect::<Vec<_>>(), [0, 129]);
        assert!(PolicyBits::empty(130).is_empty());
        assert_eq!(PolicyBits::full(65).iter().count(), 65);
        assert!(!a.contains(1) && a.contains(129) && !a.contains(500));
    }
}
