//! MFA the gateway performs itself, for guests whose own organisation's MFA is not trusted:
//! TOTP authenticators (RFC 6238) with single-use recovery codes. The secrets are sealed at
//! rest (`sealing`); the methods, codes and lock-outs live in the directory
//! (`directory::mfa`); the pages are the sign-in plane's (`signin::mfa`).

pub mod recovery;
pub mod sealing;
pub mod totp;

pub use sealing::Sealer;

/// Wrong codes an account may send before its second factor locks.
pub const MAX_FAILURES: i64 = 5;
/// The first lock-out; each further wrong code after it doubles it, up to `MAX_LOCKOUT_SECS`.
pub const FIRST_LOCKOUT_SECS: i64 = 60;
pub const MAX_LOCKOUT_SECS: i64 = 3600;

/// How long the account stays locked after its `failures`-th wrong code (0: not locked).
pub fn lockout_secs(failures: i64) -> i64 {
    if failures < MAX_FAILURES {
        return 0;
    }
    let doublings = (failures - MAX_FAILURES).min(10) as u32;
    (FIRST_LOCKOUT_SECS << doublings).min(MAX_LOCKOUT_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_wrong_code_locks_and_each_further_one_doubles_up_to_an_hour() {
        assert_eq!(lockout_secs(4), 0);
        assert_eq!(lockout_secs(5), 60);
        assert_eq!(lockout_secs(6), 120);
        assert_eq!(lockout_secs(9), 960);
        assert_eq!(lockout_secs(11), 3600);
        assert_eq!(lockout_secs(1000), 3600);
    }
}
