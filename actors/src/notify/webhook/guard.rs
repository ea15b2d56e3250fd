//! The SSRF guard: which URLs webhooks (and restream and camera URLs) may reach. A host is
//! resolved, every address checked against the internal ranges and the allow list, and the
//! request pinned to the checked addresses.

use super::super::config::WebhookConfig;
use super::*;

// ---------------------------------------------------------------------------------------------
// The SSRF guard

/// Why a URL may not be a webhook target. [`UrlError::code`] is the API's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not an absolute http(s) URL with a host, carries credentials, or is too long.
    #[error("{0}")]
    Invalid(String),
    /// The host is, or resolves to, an address webhooks may not reach.
    #[error("{0}")]
    NotAllowed(String),
    /// The host does not resolve (or not in time).
    #[error("{0}")]
    Unresolvable(String),
}

impl UrlError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_url",
            Self::NotAllowed(_) => "url_not_allowed",
            Self::Unresolvable(_) => "url_unresolvable",
        }
    }
}

/// An IPv4 or IPv6 network, e.g. `10.0.0.0/8`, `fc00::/7`; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    V4 { net: u32, prefix: u8 },
    V6 { net: u128, prefix: u8 },
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip.to_canonical()) {
            (Self::V4 { net, prefix }, IpAddr::V4(ip)) => u32::from(ip) & mask32(prefix) == net,
            (Self::V6 { net, prefix }, IpAddr::V6(ip)) => u128::from(ip) & mask128(prefix) == net,
            // A v6 range given for v4-mapped addresses (`::ffff:10.0.0.0/104`).
            (Self::V6 { net, prefix }, IpAddr::V4(ip)) => {
                u128::from(ip.to_ipv6_mapped()) & mask128(prefix) == net
            }
            (Self::V4 { .. }, IpAddr::V6(_)) => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = String;

    /// Host bits are cleared: `10.1.2.3/8` is `10.0.0.0/8`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0..={max}"))?,
        };
        Ok(match ip {
            IpAddr::V4(ip) => Self::V4 {
                net: u32::from(ip) & mask32(prefix),
                prefix,
            },
            IpAddr::V6(ip) => Self::V6 {
                net: u128::from(ip) & mask128(prefix),
                prefix,
            },
        })
    }
}

/// Loopback, private, link-local, CGNAT, unspecified, broadcast, multicast or reserved:
/// not somewhere a webhook may go unless allowed by configuration. IPv4 embedded in IPv6
/// (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`) is judged
/// as the IPv4 address.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(v6),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_unspecified()
        || a == 0 // "this network"
        || ip.is_loopback() // 127/8
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local() // 169.254/16
        || (a == 100 && (b & 0xc0) == 64) // CGNAT 100.64/10
        || ip.is_broadcast()
        || ip.is_multicast() // 224/4
        || a >= 240 // reserved 240/4
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || ip.is_multicast() // ff00::/8
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let tail = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    let compatible = s[..6].iter().all(|x| *x == 0) && !ip.is_unspecified() && !ip.is_loopback();
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0);
    (compatible || nat64).then_some(tail)
}

/// Parses an `allow_private` list; entries that do not parse are logged under `setting` and
/// ignored (nothing extra is allowed).
pub fn parse_allow_list(setting: &str, entries: &[String]) -> Vec<Cidr> {
    entries
        .iter()
        .filter_map(|entry| match entry.parse::<Cidr>() {
            Ok(cidr) => Some(cidr),
            Err(e) => {
                tracing::error!(error = %e, setting, "allow_private: entry ignored");
                None
            }
        })
        .collect()
}

/// The address policy for any outbound connection the server makes on a user's behalf
/// (webhooks, restream destinations): resolves `host` (a name, an IP literal, or a bracketed
/// IPv6 literal) within `timeout` and refuses it when any address is internal ([`is_internal`])
/// and not in `allow`. Returns the checked addresses.
pub async fn check_host(
    allow: &[Cidr],
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, UrlError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(UrlError::Invalid("the URL has no host".into()));
    }
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
                Ok(Ok(addrs)) => addrs.collect(),
                Ok(Err(_)) => Vec::new(),
                Err(_) => {
                    return Err(UrlError::Unresolvable(
                        "the host did not resolve in time".into(),
                    ));
                }
            }
        }
    };
    if addrs.is_empty() {
        return Err(UrlError::Unresolvable("the host does not resolve".into()));
    }
    let allowed = |ip: IpAddr| !is_internal(ip) || allow.iter().any(|c| c.contains(ip));
    if let Some(bad) = addrs.iter().find(|a| !allowed(a.ip())) {
        return Err(UrlError::NotAllowed(format!(
            "{} is a loopback, private, link-local or reserved address",
            bad.ip()
        )));
    }
    Ok(addrs)
}

/// A URL that passed the guard, with the addresses its host resolved to: the request must go
/// to exactly these (see [`UrlGuard::client`]).
#[derive(Debug, Clone)]
pub struct Target {
    pub url: Url,
    /// The host name when the URL names one (not an IP literal).
    pub domain: Option<String>,
    pub addrs: Vec<SocketAddr>,
}

/// Decides which URLs webhooks may target.
#[derive(Debug, Clone)]
pub struct UrlGuard {
    allow: Vec<Cidr>,
    timeout: Duration,
}

impl UrlGuard {
    /// From `[notify.webhooks]`; entries of `allow_private` that do not parse are logged and
    /// ignored (nothing extra is allowed).
    pub fn new(cfg: &WebhookConfig) -> Self {
        let allow = cfg
            .allow_private
            .iter()
            .filter_map(|entry| match entry.parse::<Cidr>() {
                Ok(cidr) => Some(cidr),
                Err(e) => {
                    tracing::error!(error = %e, "notify.webhooks.allow_private: entry ignored");
                    None
                }
            })
            .collect();
        Self {
            allow,
            timeout: timeout(cfg),
        }
    }

    /// Whether a request may go to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allow.iter().any(|c| c.contains(ip))
    }

    /// Parses `url`, resolves its host and checks every address it resolves to.
    pub async fn check(&self, url: &str) -> Result<Target, UrlError> {
        let url = parse_url(url)?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| UrlError::Invalid("the URL has no port".into()))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| UrlError::Invalid("the URL has no host".into()))?;
        // The parser writes IP hosts in canonical form (`0x7f.1` is `127.0.0.1`, IPv6 in
        // brackets), so anything that does not parse as an address is a name.
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        let (domain, addrs) = match literal {
            Some(ip) => (None, vec![SocketAddr::new(ip, port)]),
            None => {
                let d = host.to_owned();
                let addrs = self.resolve(&d, port).await?;
                (Some(d), addrs)
            }
        };
        if let Some(bad) = addrs.iter().find(|a| !self.allows(a.ip())) {
            return Err(UrlError::NotAllowed(format!(
                "webhooks may not target {} (loopback, private, link-local or reserved)",
                bad.ip()
            )));
        }
        Ok(Target { url, domain, addrs })
    }

    async fn resolve(&self, domain: &str, port: u16) -> Result<Vec<SocketAddr>, UrlError> {
        let lookup = tokio::net::lookup_host((domain, port));
        let addrs: Vec<SocketAddr> = match tokio::time::timeout(self.timeout, lookup).await {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(_)) => Vec::new(),
            Err(_) => {
                return Err(UrlError::Unresolvable(
                    "the host did not resolve in time".into(),
                ));
            }
        };
        if addrs.is_empty() {
            return Err(UrlError::Unresolvable("the host does not resolve".into()));
        }
        Ok(addrs)
    }

    /// A client that connects only to `target`'s checked addresses (a second DNS answer
    /// cannot swap them), follows no redirects, uses no proxy, and gives up after the
    /// configured timeout.
    pub fn client(&self, target: &Target) -> reqwest::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .pool_max_idle_per_host(0)
            .user_agent(USER_AGENT);
        if let Some(domain) = &target.domain {
            builder = builder.resolve_to_addrs(domain, &target.addrs);
        }
        builder.build()
    }
}

fn parse_url(raw: &str) -> Result<Url, UrlError> {
    if raw.len() > MAX_URL_LEN {
        return Err(UrlError::Invalid(format!(
            "the URL is longer than {MAX_URL_LEN} characters"
        )));
    }
    let url =
        Url::parse(raw.trim()).map_err(|e| UrlError::Invalid(format!("not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Invalid(
            "only http and https URLs are allowed".into(),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Invalid(
            "the URL may not contain a user name or password".into(),
        ));
    }
    Ok(url)
}

pub(super) fn timeout(cfg: &WebhookConfig) -> Duration {
    Duration::from_secs(cfg.timeout_secs.max(1))
}
