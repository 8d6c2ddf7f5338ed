//! The address a request came from, for limits on endpoints anyone can reach (login, token,
//! invitation, password reset). `X-Forwarded-For` is believed only when the peer is one of the
//! configured trusted proxies: from anyone else the header is a value the caller chose, and
//! honouring it would let one client pose as many (or as the victim whose login it throttles).
use std::net::IpAddr;

use actix_web::HttpRequest;

/// An IP block, `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| "not an IP address".to_string())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("prefix must be 0-{max}"))?,
        };
        Ok(Self { net, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                masked(u32::from(n).into(), self.prefix, 32)
                    == masked(u32::from(i).into(), self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                masked(u128::from(n), self.prefix, 128) == masked(u128::from(i), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// From the setting `http_trusted_proxies` (validated when settings load, so a block that
    /// does not parse is skipped here).
    pub fn new(proxies: &[String]) -> Self {
        Self(proxies.iter().filter_map(|p| Cidr::parse(p).ok()).collect())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client's address: the peer, or — when the peer is a trusted proxy — the right-most
    /// address in `X-Forwarded-For` that is not itself a trusted proxy (addresses further left
    /// were written by the client and prove nothing).
    pub fn client(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        let peer = canonical(peer?);
        if !self.trusts(peer) {
            return Some(peer);
        }
        let mut hops = forwarded_for
            .into_iter()
            .flat_map(|h| h.split(','))
            .map(str::trim)
            .rev();
        let mut last = peer;
        for hop in hops.by_ref() {
            let Ok(ip) = hop.parse::<IpAddr>().map(canonical) else {
                // A garbled hop: nothing to its left can be attributed; blame the last good one.
                return Some(last);
            };
            if !self.trusts(ip) {
                return Some(ip);
            }
            last = ip;
        }
        Some(last)
    }

    /// The client address of `req` (see `client`), as text for limiter and lockout keys.
    pub fn of(&self, req: &HttpRequest) -> String {
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        self.client(req.peer_addr().map(|a| a.ip()), forwarded)
            .map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| panic!("{s}"))
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies(
            list.iter()
                .map(|c| Cidr::parse(c).unwrap_or_else(|e| panic!("{e}")))
                .collect(),
        )
    }

    #[test]
    fn blocks_match_their_addresses_only() {
        let c = Cidr::parse("192.0.2.0/24").unwrap_or_else(|e| panic!("{e}"));
        assert!(c.contains(ip("192.0.2.77")));
        assert!(c.contains(ip("::ffff:192.0.2.1")));
        assert!(!c.contains(ip("192.0.3.1")));
        assert!(Cidr::parse("0.0.0.0/0").is_ok_and(|c| c.contains(ip("203.0.113.9"))));
        assert!(Cidr::parse("2001:db8::/32").is_ok_and(|c| c.contains(ip("2001:db8::1"))));
        assert!(Cidr::parse("192.0.2.0/33").is_err());
        assert!(Cidr::parse("proxy.local").is_err());
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let trusted = proxies(&["127.0.0.1", "198.51.100.0/24"]);
        // From an untrusted peer the header is the caller's own claim.
        assert_eq!(
            trusted.client(Some(ip("203.0.113.5")), Some("192.0.2.1")),
            Some(ip("203.0.113.5"))
        );
        // Through two trusted hops: the right-most untrusted address.
        assert_eq!(
            trusted.client(
                Some(ip("127.0.0.1")),
                Some("192.0.2.66, 203.0.113.7, 198.51.100.3")
            ),
            Some(ip("203.0.113.7"))
        );
        // No header behind a trusted proxy: the proxy itself.
        assert_eq!(
            trusted.client(Some(ip("127.0.0.1")), None),
            Some(ip("127.0.0.1"))
        );
        // Nothing trusted: the peer, whatever the header says.
        assert_eq!(
            TrustedProxies::default().client(Some(ip("127.0.0.1")), Some("192.0.2.1")),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(
            trusted.client(Some(ip("127.0.0.1")), Some("garbage, 192.0.2.9")),
            Some(ip("192.0.2.9"))
        );
    }
}
