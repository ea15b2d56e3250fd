//! Which addresses are not on the public internet: the IANA IPv4 and IPv6 Special-Purpose
//! Address Registries (every block whose "Globally Reachable" is False, or that only makes
//! sense inside one network), multicast, and the IPv6 forms that carry an IPv4 address, which
//! are judged by the address they carry. Networks are `ipnet`'s, not hand-written bit masks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::LazyLock;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// An IPv4 or IPv6 network from configuration, e.g. `10.0.0.0/8`, `fc00::/7`; a bare address
/// is a /32 or /128, and host bits are cleared (`10.1.2.3/8` is `10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(IpNet);

impl Cidr {
    /// Whether `ip` is in this network. A v4 network also covers the v4-mapped form of its
    /// addresses (`::ffff:10.0.0.1`), and a v6 network written for mapped addresses
    /// (`::ffff:10.0.0.0/104`) covers the plain v4 ones.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.0, ip) {
            (IpNet::V4(net), IpAddr::V6(v6)) => {
                v6.to_ipv4_mapped().is_some_and(|v4| net.contains(&v4))
            }
            (IpNet::V6(net), IpAddr::V4(v4)) => net.contains(&v4.to_ipv6_mapped()),
            (net, ip) => net.contains(&ip),
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let net = match s.parse::<IpNet>() {
            Ok(net) => net.trunc(),
            Err(_) if !s.contains('/') => s
                .parse::<IpAddr>()
                .map(IpNet::from)
                .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?,
            Err(_) => return Err(format!("{s:?} is not a CIDR range (address/prefix length)")),
        };
        Ok(Self(net))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// IANA IPv4 Special-Purpose Address Registry, the blocks not globally reachable (the few
/// global anycast addresses inside 192.0.0.0/24, PCP and TURN, are no webhook target either),
/// plus multicast, which the registry leaves to its own.
const NOT_GLOBAL_V4: &[(&str, &str)] = &[
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private use"),
    ("100.64.0.0/10", "shared address space (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link local"),
    ("172.16.0.0/12", "private use"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
    ("192.168.0.0/16", "private use"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited broadcast"),
];

/// IANA IPv6 Special-Purpose Address Registry, the blocks not globally reachable, plus
/// multicast and the deprecated site-local range. The forms that embed an IPv4 address
/// (mapped, translated, compatible, NAT64 64:ff9b::/96, 6to4) are not here: they are judged by
/// the address they carry ([`embedded_v4`]).
const NOT_GLOBAL_V6: &[(&str, &str)] = &[
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "IPv4-IPv6 translation, local use"),
    ("100::/64", "discard only"),
    ("100:0:0:1::/64", "dummy prefix"),
    (
        "2001::/23",
        "IETF protocol assignments (Teredo, benchmarking, ORCHID)",
    ),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing SIDs"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link local"),
    ("fec0::/10", "site local (deprecated)"),
    ("ff00::/8", "multicast"),
];

/// A parsed registry table: each network with the registry's name for it.
type Named<N> = Vec<(N, &'static str)>;

static TABLE: LazyLock<(Named<Ipv4Net>, Named<Ipv6Net>)> = LazyLock::new(|| {
    let v4 = NOT_GLOBAL_V4
        .iter()
        .filter_map(|(net, why)| Some((net.parse().ok()?, *why)))
        .collect();
    let v6 = NOT_GLOBAL_V6
        .iter()
        .filter_map(|(net, why)| Some((net.parse().ok()?, *why)))
        .collect();
    (v4, v6)
});

/// Why `ip` is not a public address (the registry's name for its block), or `None` when it is
/// one. IPv6 that carries an IPv4 address is judged by that address.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => special_v4(v4),
            None => TABLE
                .1
                .iter()
                .find(|(net, _)| net.contains(&v6))
                .map(|(_, why)| *why),
        },
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    TABLE
        .0
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, why)| *why)
}

/// Whether `ip` is loopback, private, link-local, shared, documentation, benchmarking,
/// multicast, reserved or otherwise not on the public internet ([`special_purpose`]).
pub fn is_internal(ip: IpAddr) -> bool {
    special_purpose(ip).is_some()
}

/// The IPv4 address an IPv6 one carries: mapped `::ffff:a.b.c.d`, translated
/// `::ffff:0:a.b.c.d`, compatible `::a.b.c.d` (deprecated), NAT64 `64:ff9b::a.b.c.d`, and 6to4
/// `2002:aabb:ccdd::/48`. Any of them can reach the IPv4 address through a translator or a
/// dual-stack socket, so they are judged as it.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    let zeros = |range: std::ops::Range<usize>| s[range].iter().all(|x| *x == 0);
    if zeros(0..5) && s[5] == 0xffff {
        return Some(low); // mapped
    }
    if zeros(0..4) && s[4] == 0xffff && s[5] == 0 {
        return Some(low); // translated (SIIT)
    }
    if zeros(0..6) && u32::from(low) > 1 {
        return Some(low); // compatible; `::` and `::1` are themselves
    }
    if s[0] == 0x64 && s[1] == 0xff9b && zeros(2..6) {
        return Some(low); // NAT64 well-known prefix
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2]))); // 6to4
    }
    None
}

/// (parsed v4, parsed v6) entries: equal to [`entries`] when every table row parses.
#[cfg(test)]
pub(super) fn table_sizes() -> (usize, usize) {
    (TABLE.0.len(), TABLE.1.len())
}

#[cfg(test)]
pub(super) fn entries() -> (usize, usize) {
    (NOT_GLOBAL_V4.len(), NOT_GLOBAL_V6.len())
}
