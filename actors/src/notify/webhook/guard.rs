//! The SSRF guard: which URLs webhooks (and restream and camera URLs) may reach. A host is
//! resolved, every address checked against the internal ranges and the allow list, and the
//! request pinned to the checked addresses.

use super::super::config::WebhookConfig;
use super::ranges::{Cidr, special_purpose};
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
    refuse_internal(allow, &addrs)?;
    Ok(addrs)
}

/// Refuses the first address that is not public ([`special_purpose`]) and not allowed,
/// naming its kind: "127.0.0.1 is a loopback address".
fn refuse_internal(allow: &[Cidr], addrs: &[SocketAddr]) -> Result<(), UrlError> {
    for addr in addrs {
        let ip = addr.ip();
        if let Some(why) = special_purpose(ip)
            && !allow.iter().any(|c| c.contains(ip))
        {
            return Err(UrlError::NotAllowed(format!(
                "{ip} is not a public address ({why}); an administrator can allow it with allow_private"
            )));
        }
    }
    Ok(())
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
        Self {
            allow: parse_allow_list("notify.webhooks.allow_private", &cfg.allow_private),
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
        refuse_internal(&self.allow, &addrs)?;
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
