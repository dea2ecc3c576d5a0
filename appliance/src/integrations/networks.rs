//! Address ranges (CIDR) and the rule that decides where outgoing webhooks may connect: the
//! defence against server-side request forgery, applied to the addresses a name resolves to,
//! at connection time, so a name that later points elsewhere gains nothing.

use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr =
            address.trim().parse().map_err(|_| format!("\"{text}\" is not an address or CIDR range"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("\"{text}\": the prefix length must be 0 to {max}"))?,
        };
        Ok(Network { address, prefix })
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            // An IPv4 address written as IPv6 (::ffff:127.0.0.1) is still that IPv4 address.
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Never a webhook target unless an administrator says otherwise: this host, link-local
/// (cloud metadata at 169.254.169.254), unspecified, multicast and broadcast addresses.
pub const DEFAULT_DENIED: &[&str] = &[
    "127.0.0.0/8",
    "::1/128",
    "0.0.0.0/8",
    "::/128",
    "169.254.0.0/16",
    "fe80::/10",
    "224.0.0.0/4",
    "ff00::/8",
    "255.255.255.255/32",
];

/// Where webhooks may connect: `allowed` (when not empty: only there) minus `denied`.
#[derive(Clone, Debug, Default)]
pub struct TargetPolicy {
    pub allowed: Vec<Network>,
    pub denied: Vec<Network>,
}

impl TargetPolicy {
    /// `None` if `ip` may be connected to, else the sentence saying why not.
    pub fn refusal(&self, ip: IpAddr) -> Option<String> {
        if let Some(net) = self.denied.iter().find(|net| net.contains(ip)) {
            return Some(format!("{ip} is in {net}, which webhooks.denied_networks forbids"));
        }
        if !self.allowed.is_empty() && !self.allowed.iter().any(|net| net.contains(ip)) {
            return Some(format!("{ip} is outside webhooks.allowed_networks"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Network {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_contain_what_they_should() {
        assert!(net("10.0.0.0/8").contains("10.200.3.4".parse().unwrap()));
        assert!(!net("10.0.0.0/8").contains("11.0.0.1".parse().unwrap()));
        assert!(net("127.0.0.1").contains("127.0.0.1".parse().unwrap()));
        assert!(net("0.0.0.0/0").contains("8.8.8.8".parse().unwrap()));
        assert!(net("127.0.0.0/8").contains("::ffff:127.0.0.1".parse().unwrap()), "mapped IPv4 is IPv4");
        assert!(net("fe80::/10").contains("fe80::1".parse().unwrap()));
        assert!(!net("10.0.0.0/8").contains("::1".parse().unwrap()));
        assert_eq!("10.0.0.0/33".parse::<Network>().unwrap_err(), "\"10.0.0.0/33\": the prefix length must be 0 to 32");
        assert!("intranet".parse::<Network>().is_err());
    }

    #[test]
    fn the_default_policy_refuses_this_host_and_metadata_but_not_the_lan() {
        let policy = TargetPolicy { allowed: vec![], denied: DEFAULT_DENIED.iter().map(|n| net(n)).collect() };
        assert!(policy.refusal("127.0.0.1".parse().unwrap()).unwrap().contains("127.0.0.0/8"));
        assert!(policy.refusal("169.254.169.254".parse().unwrap()).is_some());
        assert!(policy.refusal("10.1.2.3".parse().unwrap()).is_none());
        let only_lan = TargetPolicy { allowed: vec![net("10.0.0.0/8")], denied: vec![] };
        assert!(only_lan.refusal("192.168.1.1".parse().unwrap()).unwrap().contains("outside"));
    }
}
