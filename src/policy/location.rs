//! Named locations: lists of IPv4 and IPv6 ranges a policy can include or exclude. The
//! address they are matched against is the client's, as the gateway determined it (the
//! socket peer, or the hop trusted proxies vouch for), never a header taken on its word.

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Clone, Debug)]
pub struct NamedLocation {
    pub name: String,
    pub ranges: Vec<IpNet>,
}

impl NamedLocation {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client reached over an IPv6 socket is written ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.ranges.iter().any(|r| r.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_v6_and_mapped_addresses() {
        let office = NamedLocation {
            name: "office".into(),
            ranges: vec![
                "203.0.113.0/24".parse().unwrap(),
                "2001:db8:10::/48".parse().unwrap(),
            ],
        };
        assert!(office.contains("203.0.113.7".parse().unwrap()));
        assert!(office.contains("::ffff:203.0.113.7".parse().unwrap()));
        assert!(office.contains("2001:db8:10:1::5".parse().unwrap()));
        assert!(!office.contains("203.0.114.7".parse().unwrap()));
        assert!(!office.contains("2001:db8:11::5".parse().unwrap()));
    }
}
