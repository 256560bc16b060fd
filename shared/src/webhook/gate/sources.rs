//! Who may call, by where they call from: the optional allow-list of source addresses.

use std::net::IpAddr;

use ipnet::IpNet;

/// The networks calls may come from (`ALLOWED_SOURCE_CIDRS`); empty allows every address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceAllowList(Vec<IpNet>);

/// `ALLOWED_SOURCE_CIDRS` holds something that is not a CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ALLOWED_SOURCE_CIDRS: {0:?} is not an IPv4 or IPv6 CIDR (e.g. 203.0.113.0/24)")]
pub struct InvalidCidr(pub String);

impl SourceAllowList {
    /// Parses comma-separated CIDRs; blanks are ignored, a bare address is one host.
    pub fn parse(raw: &str) -> Result<Self, InvalidCidr> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| InvalidCidr(s.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether a call from `source` (API Gateway's `sourceIp`, if any) is allowed: always with an
    /// empty list; otherwise only from a listed network, never from an unknown address.
    pub fn allows(&self, source: Option<&str>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let Some(ip) = source.and_then(|s| s.trim().parse::<IpAddr>().ok()) else {
            return false;
        };
        // An IPv4 client seen as IPv4-mapped IPv6 matches IPv4 networks.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_admits_only_listed_networks() {
        let open = SourceAllowList::parse(" ").unwrap();
        assert!(open.allows(None) && open.allows(Some("198.51.100.7")));
        let list = SourceAllowList::parse("203.0.113.0/24, 2001:db8::/32,198.51.100.7").unwrap();
        assert!(list.allows(Some("203.0.113.10")));
        assert!(list.allows(Some("::ffff:203.0.113.10")));
        assert!(list.allows(Some("2001:db8::1")));
        assert!(list.allows(Some("198.51.100.7")));
        assert!(!list.allows(Some("198.51.100.8")));
        assert!(!list.allows(Some("203.0.114.1")));
        assert!(!list.allows(Some("not an address")));
        assert!(!list.allows(None));
        assert_eq!(
            SourceAllowList::parse("10.0.0.0/33"),
            Err(InvalidCidr("10.0.0.0/33".into()))
        );
    }
}
