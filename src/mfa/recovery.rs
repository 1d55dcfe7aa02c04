//! Recovery codes: ten single-use codes shown once at enrollment, for a lost authenticator.
//! Each is ten symbols of 31 (about 50 random bits) in two groups of five; only their
//! SHA-256 is stored (they are random, so a slow hash would add nothing).

use rand::Rng;
use sha2::{Digest, Sha256};

pub const COUNT: usize = 10;
/// No 0/o, 1/l/i: read off a screen or paper, a code should not be ambiguous.
const ALPHABET: &[u8; 31] = b"23456789abcdefghjkmnpqrstuvwxyz";

/// Ten new codes, formatted `xxxxx-xxxxx`.
pub fn generate() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..COUNT)
        .map(|_| {
            let mut s = String::with_capacity(11);
            for i in 0..10 {
                if i == 5 {
                    s.push('-');
                }
                s.push(ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
            }
            s
        })
        .collect()
}

/// What a typed code is compared as: lower-case, without spaces and dashes.
fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a typed value is meant as a recovery code (rather than a six-digit TOTP code).
pub fn looks_like(code: &str) -> bool {
    let n = normalize(code);
    n.len() == 10 && n.bytes().all(|b| ALPHABET.contains(&b))
}

pub fn hash(code: &str) -> String {
    Sha256::digest(normalize(code).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_typeable_and_hash_however_typed() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), COUNT);
        for c in &codes {
            assert_eq!(c.len(), 11);
            assert!(looks_like(c), "{c}");
            assert_eq!(hash(c), hash(&c.to_uppercase().replace('-', " ")));
        }
        assert!(!looks_like("123456"));
        assert_ne!(hash(&codes[0]), hash(&codes[1]));
    }
}
