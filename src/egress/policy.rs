//! Which addresses workers may connect to. Deny wins over allow; built-in classes
//! (link-local, metadata, unspecified, multicast, broadcast) are refused unless an
//! allow entry names them; private ranges and loopback are allowed unless
//! `egress_allow_private` is off.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address range in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address or CIDR range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has a bad prefix length"))?,
            None => max,
        };
        Ok(Cidr {
            network: canonical(network),
            prefix,
        })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:169.254.169.254`) are judged as the IPv4 address they carry.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

pub fn parse_list(text: &str) -> Result<Vec<Cidr>, String> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// Why an address is refused; the message names the class, never what listens there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    DenyList,
    LinkLocal,
    Metadata,
    Unspecified,
    Multicast,
    Broadcast,
    Private,
    Loopback,
    /// onramp's own PostgreSQL, RabbitMQ, Redis or API: never a datasource.
    OwnService,
}

impl Refusal {
    pub fn class(self) -> &'static str {
        match self {
            Refusal::DenyList => "an address on the deny list",
            Refusal::LinkLocal => "a link-local address (where cloud metadata services live)",
            Refusal::Metadata => "a cloud metadata service address",
            Refusal::Unspecified => "an unspecified address",
            Refusal::Multicast => "a multicast address",
            Refusal::Broadcast => "a broadcast address",
            Refusal::Private => "a private network address",
            Refusal::Loopback => "a loopback address",
            Refusal::OwnService => {
                "one of onramp's own services (its database, broker, cache or API)"
            }
        }
    }

    /// The setting an operator changes to allow it.
    pub fn hint(self) -> &'static str {
        match self {
            Refusal::DenyList => {
                "the address is listed in ONRAMP_EGRESS_DENY; ask the operator if it should be reachable"
            }
            Refusal::OwnService => {
                "onramp never connects a datasource to its own database, broker, cache or API, whatever the egress settings say; give the address of the datasource's own server"
            }
            Refusal::Private | Refusal::Loopback => {
                "private and loopback addresses are refused by ONRAMP_EGRESS_ALLOW_PRIVATE=false; the operator can allow a range with ONRAMP_EGRESS_ALLOW"
            }
            _ => {
                "this class of address is refused unless the operator allows the range in ONRAMP_EGRESS_ALLOW"
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    pub allow: Vec<Cidr>,
    pub deny: Vec<Cidr>,
    pub allow_private: bool,
}

const METADATA: [IpAddr; 2] = [
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
];

impl EgressPolicy {
    pub fn new(allow: &str, deny: &str, allow_private: bool) -> Result<EgressPolicy, String> {
        Ok(EgressPolicy {
            allow: parse_list(allow).map_err(|e| format!("egress_allow: {e}"))?,
            deny: parse_list(deny).map_err(|e| format!("egress_deny: {e}"))?,
            allow_private,
        })
    }

    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = canonical(ip);
        if self.deny.iter().any(|c| c.contains(ip)) {
            return Err(Refusal::DenyList);
        }
        if self.allow.iter().any(|c| c.contains(ip)) {
            return Ok(());
        }
        if let Some(refusal) = builtin(ip) {
            return Err(refusal);
        }
        if !self.allow_private {
            if ip.is_loopback() {
                return Err(Refusal::Loopback);
            }
            if is_private(ip) {
                return Err(Refusal::Private);
            }
        }
        Ok(())
    }
}

fn builtin(ip: IpAddr) -> Option<Refusal> {
    if METADATA.contains(&ip) {
        return Some(Refusal::Metadata);
    }
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if o[0] == 0 {
                Some(Refusal::Unspecified)
            } else if v4.is_link_local() {
                Some(Refusal::LinkLocal)
            } else if v4.is_multicast() {
                Some(Refusal::Multicast)
            } else if v4.is_broadcast() {
                Some(Refusal::Broadcast)
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if v6.is_unspecified() {
                Some(Refusal::Unspecified)
            } else if v6.segments()[0] & 0xffc0 == 0xfe80 {
                Some(Refusal::LinkLocal)
            } else if v6.is_multicast() {
                Some(Refusal::Multicast)
            } else {
                None
            }
        }
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            // RFC 1918, and shared address space (RFC 6598), which carriers and clouds use internally.
            v4.is_private() || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        // Unique local addresses (fc00::/7).
        IpAddr::V6(v6) => v6.segments()[0] & 0xfe00 == 0xfc00,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn builtin_classes_are_refused_and_private_ranges_allowed_by_default() {
        let p = EgressPolicy::new("", "", true).unwrap();
        for (addr, refusal) in [
            ("169.254.169.254", Refusal::LinkLocal),
            ("::ffff:169.254.169.254", Refusal::LinkLocal),
            ("fe80::1", Refusal::LinkLocal),
            ("fd00:ec2::254", Refusal::Metadata),
            ("100.100.100.200", Refusal::Metadata),
            ("0.0.0.0", Refusal::Unspecified),
            ("0.1.2.3", Refusal::Unspecified),
            ("::", Refusal::Unspecified),
            ("224.0.0.1", Refusal::Multicast),
            ("ff02::1", Refusal::Multicast),
            ("255.255.255.255", Refusal::Broadcast),
        ] {
            assert_eq!(p.check(ip(addr)), Err(refusal), "{addr}");
        }
        for addr in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "fd12::1",
            "8.8.8.8",
        ] {
            assert_eq!(p.check(ip(addr)), Ok(()), "{addr}");
        }
    }

    #[test]
    fn deny_wins_allow_opens_a_builtin_class_and_private_can_be_refused() {
        let p = EgressPolicy::new("169.254.10.0/24, 10.0.0.0/8", "10.9.0.0/16", false).unwrap();
        assert_eq!(p.check(ip("169.254.10.7")), Ok(()));
        assert_eq!(p.check(ip("169.254.169.254")), Err(Refusal::LinkLocal));
        assert_eq!(p.check(ip("10.1.1.1")), Ok(()));
        assert_eq!(p.check(ip("10.9.1.1")), Err(Refusal::DenyList));
        assert_eq!(p.check(ip("192.168.1.1")), Err(Refusal::Private));
        assert_eq!(p.check(ip("127.0.0.1")), Err(Refusal::Loopback));
        assert_eq!(p.check(ip("::ffff:127.0.0.1")), Err(Refusal::Loopback));
        assert_eq!(p.check(ip("100.64.0.1")), Err(Refusal::Private));
        assert_eq!(p.check(ip("8.8.8.8")), Ok(()));
    }

    #[test]
    fn bad_ranges_are_named() {
        assert!(
            EgressPolicy::new("10.0.0.0/33", "", true)
                .unwrap_err()
                .contains("prefix")
        );
        assert!(
            EgressPolicy::new("", "nonsense", true)
                .unwrap_err()
                .contains("egress_deny")
        );
        assert!(parse_list("::/0").unwrap()[0].contains(ip("2001:db8::1")));
        assert!(parse_list("0.0.0.0/0").unwrap()[0].contains(ip("1.2.3.4")));
    }
}
