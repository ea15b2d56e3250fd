//! Where the load goes and where it comes from: the target (loopback unless `--allow-remote`),
//! several loopback source addresses so one run can open more sockets than one address's
//! ephemeral ports (and than a server's per-address cap) allow, and the file limit.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};
use tokio::net::{TcpSocket, TcpStream};

/// A server to load: `http://host:port` (or `ws://`).
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    /// `ws://host:port`.
    pub ws_base: String,
    pub host: String,
    pub addr: SocketAddr,
}

impl Target {
    /// Parses and resolves `url`; refuses an address that is not loopback unless `allow_remote`.
    pub async fn resolve(url: &str, allow_remote: bool) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("ws://"))
            .with_context(|| format!("target {url:?}: only http:// (or ws://) URLs"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            bail!("target {url:?} has no host");
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&with_port)
            .await
            .with_context(|| format!("resolve {with_port}"))?
            .collect();
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .with_context(|| format!("{with_port} resolves to nothing"))?;
        if !allow_remote && !addrs.iter().all(|a| a.ip().is_loopback()) {
            bail!(
                "target {url} is not a loopback address ({}): pass --allow-remote to load a remote server",
                addr.ip()
            );
        }
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(h, _)| h)
            .to_owned();
        Ok(Self {
            base: format!("http://{authority}"),
            ws_base: format!("ws://{authority}"),
            host,
            addr,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.ws_base)
    }
}

/// Source addresses for outgoing connections: 127.0.0.2, 127.0.0.3, … with at most
/// `per_address` connections each, when the target is on IPv4 loopback; the system's choice
/// otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Sources {
    loopback: bool,
    per_address: usize,
}

impl Sources {
    pub fn new(target: &Target, per_address: usize) -> Self {
        Self {
            loopback: matches!(target.addr.ip(), IpAddr::V4(ip) if ip.is_loopback()),
            per_address: per_address.max(1),
        }
    }

    /// The source address of the `i`-th connection of a run.
    pub fn for_conn(&self, i: usize) -> Option<IpAddr> {
        self.loopback.then(|| {
            let k = u32::try_from(i / self.per_address).unwrap_or(u32::MAX);
            // 127.0.0.2 upwards, staying inside 127.0.0.0/8.
            let v = 0x7f00_0002u32.saturating_add(k).min(0x7fff_fffe);
            IpAddr::V4(Ipv4Addr::from(v))
        })
    }

    /// How many distinct addresses `n` connections use.
    pub fn addresses_for(&self, n: usize) -> usize {
        if self.loopback {
            n.div_ceil(self.per_address).max(1)
        } else {
            1
        }
    }
}

/// A TCP connection from `src` (when given) to `dst`, Nagle off.
pub async fn connect(src: Option<IpAddr>, dst: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match dst {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(ip) = src {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket.set_nodelay(true)?;
    socket.connect(dst).await
}

/// HTTP clients, one per source address, for `conns` concurrent connections in all.
pub fn http_clients(sources: &Sources, conns: usize) -> anyhow::Result<Vec<reqwest::Client>> {
    let n = sources.addresses_for(conns);
    (0..n)
        .map(|k| {
            let mut b = reqwest::Client::builder()
                .tcp_nodelay(true)
                .pool_max_idle_per_host(usize::MAX)
                .pool_idle_timeout(std::time::Duration::from_secs(30))
                .timeout(std::time::Duration::from_secs(30))
                .connect_timeout(std::time::Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent("streamhall-load");
            if let Some(ip) = sources.for_conn(k * sources.per_address) {
                b = b.local_address(ip);
            }
            b.build().context("http client")
        })
        .collect()
}

/// Raises the open-file limit towards `want` (as far as the hard limit allows); returns it.
pub fn raise_file_limit(want: u64) -> u64 {
    rlimit::increase_nofile_limit(want).unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_only_unless_allowed() {
        let t = Target::resolve("http://127.0.0.1:8080", false)
            .await
            .unwrap();
        assert_eq!(t.base, "http://127.0.0.1:8080");
        assert_eq!(t.ws_url("/x"), "ws://127.0.0.1:8080/x");
        let t = Target::resolve("http://localhost:9001/", false)
            .await
            .unwrap();
        assert!(t.addr.ip().is_loopback());
        let err = Target::resolve("http://192.0.2.7:80", false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("--allow-remote"), "{err}");
        assert!(Target::resolve("ftp://127.0.0.1", false).await.is_err());
        // Allowed, but not contacted: resolving a literal needs no network.
        assert!(Target::resolve("http://192.0.2.7:80", true).await.is_ok());
    }

    #[tokio::test]
    async fn sources_fill_each_address_up_to_the_cap() {
        let t = Target::resolve("http://127.0.0.1:1", false).await.unwrap();
        let s = Sources::new(&t, 100);
        assert_eq!(s.for_conn(0), Some("127.0.0.2".parse().unwrap()));
        assert_eq!(s.for_conn(99), Some("127.0.0.2".parse().unwrap()));
        assert_eq!(s.for_conn(100), Some("127.0.0.3".parse().unwrap()));
        assert_eq!(s.for_conn(100 * 300), Some("127.0.1.46".parse().unwrap()));
        assert_eq!(s.addresses_for(50_000), 500);
    }

    #[tokio::test]
    async fn connects_from_another_loopback_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dst = listener.local_addr().unwrap();
        let src: IpAddr = "127.0.0.9".parse().unwrap();
        let (c, accepted) = tokio::join!(connect(Some(src), dst), listener.accept());
        assert_eq!(c.unwrap().local_addr().unwrap().ip(), src);
        assert_eq!(accepted.unwrap().1.ip(), src);
    }
}
