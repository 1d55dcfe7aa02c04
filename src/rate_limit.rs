//! Rate limits on what an anonymous or low-privileged client can make the gateway do:
//! start sign-ins (each holds a pending flow), guess admin API keys, send invitations.
//! governor's GCRA limiters, in memory and per process; nothing here touches the database,
//! so a flood costs the flooder more than it costs us.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Limits;

/// A client address as rate limits see it: one IPv4 address, or the /64 an IPv6 client
/// gets from its provider (it can pick any address in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(u32),
    V6Prefix(u64),
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4.into()),
                None => Self::V6Prefix((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// A quota is used up: what was limited, and when the client may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub what: &'static str,
    pub retry_after_secs: u64,
}

/// How long a client that used up its API-key failures is refused outright.
const API_KEY_BLOCK: Duration = Duration::from_secs(60);

pub struct RateLimits {
    sign_ins: DefaultKeyedRateLimiter<ClientKey>,
    api_key_failures: DefaultKeyedRateLimiter<ClientKey>,
    /// Clients over their failure quota: refused before their key is even looked up.
    api_key_blocked: moka::sync::Cache<ClientKey, ()>,
    invitations: DefaultKeyedRateLimiter<String>,
    passcodes_per_client: DefaultKeyedRateLimiter<ClientKey>,
    passcodes_per_address: DefaultKeyedRateLimiter<String>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

fn per_hour(n: u32) -> Quota {
    Quota::per_hour(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl RateLimits {
    pub fn new(limits: &Limits) -> Self {
        Self {
            sign_ins: RateLimiter::keyed(per_minute(limits.sign_ins_per_minute)),
            api_key_failures: RateLimiter::keyed(per_minute(limits.api_key_failures_per_minute)),
            api_key_blocked: moka::sync::Cache::builder()
                .time_to_live(API_KEY_BLOCK)
                .max_capacity(100_000)
                .build(),
            invitations: RateLimiter::keyed(per_hour(limits.invitations_per_hour)),
            passcodes_per_client: RateLimiter::keyed(per_hour(
                limits.passcodes_per_client_per_hour,
            )),
            passcodes_per_address: RateLimiter::keyed(per_hour(
                limits.passcodes_per_address_per_hour,
            )),
        }
    }

    /// One more sign-in started by `client`.
    pub fn sign_in(&self, client: IpAddr) -> Result<(), Limited> {
        check(&self.sign_ins, &client.into(), "sign-in attempts")
    }

    /// Whether `client` is refused for sending too many wrong API keys.
    pub fn api_key_blocked(&self, client: IpAddr) -> bool {
        self.api_key_blocked.contains_key(&ClientKey::from(client))
    }

    /// `client` sent a wrong API key.
    pub fn api_key_failed(&self, client: IpAddr) {
        let key = client.into();
        if self.api_key_failures.check_key(&key).is_err() {
            self.api_key_blocked.insert(key, ());
        }
    }

    /// One more invitation by the non-admin `inviter`.
    pub fn invitation(&self, inviter: &str) -> Result<(), Limited> {
        check(&self.invitations, &inviter.to_string(), "invitations")
    }

    /// One more passcode mailed to `address` at `client`'s request. Both quotas hold for
    /// every address alike, known or not, so hitting one says nothing about a guest.
    pub fn passcode(&self, client: IpAddr, address: &str) -> Result<(), Limited> {
        check(
            &self.passcodes_per_client,
            &client.into(),
            "passcode emails",
        )?;
        check(
            &self.passcodes_per_address,
            &address.to_string(),
            "passcode emails to this address",
        )
    }

    /// Forgets clients whose quota is whole again, so the maps do not grow without bound.
    pub fn forget_idle(&self) {
        self.sign_ins.retain_recent();
        self.sign_ins.shrink_to_fit();
        self.api_key_failures.retain_recent();
        self.api_key_failures.shrink_to_fit();
        self.invitations.retain_recent();
        self.invitations.shrink_to_fit();
        self.passcodes_per_client.retain_recent();
        self.passcodes_per_client.shrink_to_fit();
        self.passcodes_per_address.retain_recent();
        self.passcodes_per_address.shrink_to_fit();
    }
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    what: &'static str,
) -> Result<(), Limited> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        Limited {
            what,
            retry_after_secs: wait.as_secs().max(1),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(ClientKey::from(a), ClientKey::from(b));
        assert_ne!(ClientKey::from(a), ClientKey::from(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        let v4: IpAddr = "192.0.2.1".parse().expect("ip");
        assert_eq!(ClientKey::from(mapped), ClientKey::from(v4));
    }
}
