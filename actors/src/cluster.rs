//! Several nodes, one audience: which node owns each live broadcast, and what the other nodes
//! do about it.
//!
//! A broadcast's owner is the node whose ingest holds it. It says so twice: on the broadcast
//! row (`owner_node`) and with a lease in Redis, `{prefix}lease:{slug}`, which it renews every
//! second and which expires `cluster.lease_secs` after the owner stops renewing it (crash,
//! network partition). The lease's value names the node, the broadcast and the owner's HTTP
//! address (`cluster.advertise_url`), and carries what a page shows about the broadcast
//! ([`LiveInfo`]), so any node can list it and serve its HLS by fetching from the owner. Each
//! node also keeps `{prefix}node:{id}` alive the same way (its heartbeat), and the index
//! `{prefix}leases` (slug -> expiry) lets every node list the leases without scanning keys.
//!
//! - **Publishing.** Before a node opens a broadcast it takes the lease (a Lua script: set it
//!   if absent or already this node's). Held by another node: the publish is refused with a
//!   reason the encoder shows. Absent (the owner died or never was): this node takes over and
//!   first closes what the old owner left open.
//! - **Sweeping.** Every node, every half lease: open broadcasts whose lease is gone, or held by
//!   a node other than the row's owner, are orphans once seen so twice in a row. Closing one is
//!   a conditional update (`… WHERE ended_at IS NULL`), so whichever node gets there first
//!   closes it, exactly once, and tells the bus (`StreamWentOffline`, if it was announced).
//!   Recordings of a node whose heartbeat is gone (twice) are claimed the same way
//!   (`… WHERE node_id = dead`) and finished from what the object store holds.
//! - **Starting.** A node closes only the broadcasts it owned itself and the orphans (see
//!   [`Cluster::broadcasts_left_open`]), never a live node's.
//! - **Redis down.** Leases cannot be renewed, read or taken. Publishes go ahead unless the
//!   database shows the channel open on another node; sweeps skip (a lease that cannot be
//!   read is not an expired one); the owner re-takes its leases when Redis is back. A lease
//!   found taken by another node after an outage ends this node's copy of the broadcast.
//!
//! Without Redis there is one node: nothing here runs and startup closes every open broadcast.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_redis::redis;
use sea_orm::{DatabaseConnection, DbErr};
use serde::{Deserialize, Serialize};

use crate::directory::LiveInfo;
use crate::locks::{read, write};
use crate::stats::CountedRecipient;

mod sweep;

pub use sweep::{LeaseLost, OpenBroadcast, SweepCore, open_broadcasts};
pub(crate) use sweep::{close_orphan, run};

/// Largest lease value accepted from Redis (a page's worth of rendition info).
const MAX_LEASE_BYTES: usize = 16 * 1024;

/// How this node takes part in a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// How the other nodes reach this node's HTTP server (for the HLS of streams it ingests).
    pub advertise_url: String,
    /// A lease not renewed for this long has expired; renewed every second.
    pub lease: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            advertise_url: "http://127.0.0.1:8080".into(),
            lease: Duration::from_secs(10),
        }
    }
}

impl ClusterConfig {
    /// Leases and heartbeats are renewed this often.
    pub fn renew_every(&self) -> Duration {
        (self.lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }

    /// Orphans are looked for this often.
    pub fn sweep_every(&self) -> Duration {
        (self.lease / 2).max(Duration::from_millis(200))
    }
}

/// The values of `keys`, in order (`None`: absent).
async fn mget(
    conn: &mut deadpool_redis::Connection,
    keys: &[String],
) -> Result<Vec<Option<String>>, String> {
    redis::cmd("MGET")
        .arg(keys)
        .query_async(conn)
        .await
        .map_err(|e| e.to_string())
}

/// A broadcast another node owns, as its lease says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteLive {
    /// The owner's `cluster.node_id`.
    pub node: String,
    /// The owner's HTTP base URL, without a trailing slash.
    pub url: String,
    /// 0 while the owner is still opening it.
    pub broadcast_id: i64,
    /// What a page shows; `None` while the owner is still opening it.
    pub info: Option<LiveInfo>,
    /// The broadcast has a DVR window (`/hls/{slug}/dvr.m3u8`).
    pub dvr: bool,
}

/// Why a lease could not be taken.
#[derive(Debug)]
pub enum LeaseRefused {
    /// Another node holds it.
    HeldBy(RemoteLive),
    /// Redis did not answer.
    Unavailable(String),
}

/// What renewing a lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewed {
    /// Still ours.
    Kept,
    /// It had expired (an outage) and nobody else took it: ours again.
    Retaken,
    /// Another node holds it now.
    Lost,
}

/// Takes the lease if it is free or this node's; else returns the holder's value. Also keeps
/// the index entry. KEYS: lease, index. ARGV: node prefix ("{node}\n"), value, ttl ms, slug,
/// expiry (unix ms).
const ACQUIRE: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, string.len(ARGV[1])) ~= ARGV[1] then
  return cur
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
if cur then return 1 else return 0 end
";

/// Deletes the lease if it is still this node's for this broadcast. KEYS: lease, index. ARGV:
/// "{node}\n{broadcast}\n", slug.
const RELEASE: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, string.len(ARGV[1])) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0
";

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `{node}\n{broadcast}\n{json}`: the prefix lets the scripts compare without JSON.
fn encode_lease(live: &RemoteLive) -> String {
    let json = serde_json::to_string(live).unwrap_or_default();
    format!("{}\n{}\n{json}", live.node, live.broadcast_id)
}

fn decode_lease(raw: &str) -> Option<RemoteLive> {
    if raw.len() > MAX_LEASE_BYTES {
        return None;
    }
    let mut parts = raw.splitn(3, '\n');
    let (_node, _id, json) = (parts.next()?, parts.next()?, parts.next()?);
    serde_json::from_str(json).ok()
}

/// Shared, cheap to clone. Without Redis every method is a no-op that says "this node only".
#[derive(Clone)]
pub struct Cluster {
    node_id: String,
    cfg: ClusterConfig,
    redis: Option<(deadpool_redis::Pool, String)>,
    /// Other nodes' broadcasts by slug, as of the last refresh (every second).
    remote: Arc<RwLock<HashMap<String, Arc<RemoteLive>>>>,
}

impl Cluster {
    /// One node on its own.
    pub fn single(node_id: String) -> Self {
        Self {
            node_id,
            cfg: ClusterConfig::default(),
            redis: None,
            remote: Arc::default(),
        }
    }

    pub fn with_redis(
        node_id: String,
        cfg: ClusterConfig,
        pool: deadpool_redis::Pool,
        prefix: String,
    ) -> Self {
        Self {
            node_id,
            cfg,
            redis: Some((pool, prefix)),
            remote: Arc::default(),
        }
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.cfg
    }

    /// Whether other nodes may exist (Redis is configured).
    pub fn is_shared(&self) -> bool {
        self.redis.is_some()
    }

    /// After a crash, the open broadcasts to close: this node's, and, with other nodes about
    /// ([`Cluster::is_shared`]), those whose owner's lease is gone (never a live node's: their
    /// leases are held); alone, every one. [`crate::db::close_left_open`] closes them.
    pub async fn broadcasts_left_open(&self, db: &DatabaseConnection) -> Result<Vec<i64>, DbErr> {
        let open = open_broadcasts(db).await?;
        let me = self.node_id();
        let close: Vec<i64> = if self.is_shared() {
            let slugs: Vec<String> = open.iter().map(|b| b.slug.clone()).collect();
            match self.leases(&slugs).await {
                Ok(leases) => open
                    .iter()
                    .filter(|b| {
                        b.owner.as_deref() == Some(me)
                            || leases
                                .get(&b.slug)
                                .is_none_or(|l| Some(l.node.as_str()) != b.owner.as_deref())
                    })
                    .map(|b| b.id)
                    .collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "Redis unreachable at startup: closing only this node's own broadcasts; other nodes' orphans are swept later");
                    open.iter()
                        .filter(|b| b.owner.as_deref() == Some(me))
                        .map(|b| b.id)
                        .collect()
                }
            }
        } else {
            open.iter().map(|b| b.id).collect()
        };
        Ok(close)
    }

    /// The broadcast another node owns on `slug`, if any (as of the last second).
    pub fn remote(&self, slug: &str) -> Option<Arc<RemoteLive>> {
        read(&self.remote).get(slug).cloned()
    }

    fn lease_key(prefix: &str, slug: &str) -> String {
        format!("{prefix}lease:{slug}")
    }

    async fn conn(&self) -> Result<Option<(deadpool_redis::Connection, &str)>, String> {
        match &self.redis {
            None => Ok(None),
            Some((pool, prefix)) => {
                let conn = tokio::time::timeout(Duration::from_secs(2), pool.get())
                    .await
                    .map_err(|_| "Redis timed out".to_owned())?
                    .map_err(|e| e.to_string())?;
                Ok(Some((conn, prefix.as_str())))
            }
        }
    }

    /// Takes the lease on `slug` for a broadcast this node is opening.
    pub async fn acquire(&self, slug: &str) -> Result<(), LeaseRefused> {
        let pending = RemoteLive {
            node: self.node_id.clone(),
            url: self.cfg.advertise_url.clone(),
            broadcast_id: 0,
            info: None,
            dvr: false,
        };
        match self.put_lease(slug, &pending).await {
            Ok(None) => Ok(()),
            Ok(Some(Err(holder))) => Err(LeaseRefused::HeldBy(holder)),
            Ok(Some(Ok(_))) => Ok(()),
            Err(e) => Err(LeaseRefused::Unavailable(e)),
        }
    }

    /// Runs [`ACQUIRE`]. `Ok(None)` without Redis; `Some(Err(holder))` when another node has it.
    async fn put_lease(
        &self,
        slug: &str,
        live: &RemoteLive,
    ) -> Result<Option<Result<Renewed, RemoteLive>>, String> {
        let Some((mut conn, prefix)) = self.conn().await? else {
            return Ok(None);
        };
        let ttl = self.cfg.lease.as_millis() as i64;
        let reply: redis::Value = redis::cmd("EVAL")
            .arg(ACQUIRE)
            .arg(2)
            .arg(Self::lease_key(prefix, slug))
            .arg(format!("{prefix}leases"))
            .arg(format!("{}\n", self.node_id))
            .arg(encode_lease(live))
            .arg(ttl)
            .arg(slug)
            .arg(unix_ms() + ttl)
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some(match reply {
            redis::Value::Int(1) => Ok(Renewed::Kept),
            redis::Value::Int(_) => Ok(Renewed::Retaken),
            redis::Value::BulkString(raw) => {
                let raw = String::from_utf8_lossy(&raw);
                Err(decode_lease(&raw).unwrap_or(RemoteLive {
                    node: raw.split('\n').next().unwrap_or("?").to_owned(),
                    url: String::new(),
                    broadcast_id: 0,
                    info: None,
                    dvr: false,
                }))
            }
            other => return Err(format!("unexpected reply {other:?}")),
        }))
    }

    /// Renews the leases of this node's broadcasts with what they show now, and the node's
    /// heartbeat. Per slug: kept, retaken or lost; a Redis error fails the whole round.
    pub async fn renew(
        &self,
        broadcasts: Vec<(String, i64, LiveInfo, bool)>,
    ) -> Result<Vec<(String, i64, Renewed)>, String> {
        let Some((mut conn, prefix)) = self.conn().await? else {
            return Ok(Vec::new());
        };
        let ttl = self.cfg.lease.as_millis() as i64;
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(format!("{prefix}node:{}", self.node_id))
            .arg(&self.cfg.advertise_url)
            .arg("PX")
            .arg(ttl)
            .ignore();
        let expiry = unix_ms() + ttl;
        for (slug, broadcast_id, info, dvr) in &broadcasts {
            let live = RemoteLive {
                node: self.node_id.clone(),
                url: self.cfg.advertise_url.clone(),
                broadcast_id: *broadcast_id,
                info: Some(info.clone()),
                dvr: *dvr,
            };
            pipe.cmd("EVAL")
                .arg(ACQUIRE)
                .arg(2)
                .arg(Self::lease_key(prefix, slug))
                .arg(format!("{prefix}leases"))
                .arg(format!("{}\n", self.node_id))
                .arg(encode_lease(&live))
                .arg(ttl)
                .arg(slug)
                .arg(expiry);
        }
        let replies: Vec<redis::Value> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        Ok(broadcasts
            .into_iter()
            .zip(replies)
            .map(|((slug, id, _, _), reply)| {
                let r = match reply {
                    redis::Value::Int(1) => Renewed::Kept,
                    redis::Value::Int(_) => Renewed::Retaken,
                    _ => Renewed::Lost,
                };
                (slug, id, r)
            })
            .collect())
    }

    /// Gives the lease up at the end of a broadcast (if it is still this one's).
    pub async fn release(&self, slug: &str, broadcast_id: i64) {
        let res = async {
            let Some((mut conn, prefix)) = self.conn().await? else {
                return Ok(());
            };
            redis::cmd("EVAL")
                .arg(RELEASE)
                .arg(2)
                .arg(Self::lease_key(prefix, slug))
                .arg(format!("{prefix}leases"))
                .arg(format!("{}\n{broadcast_id}\n", self.node_id))
                .arg(slug)
                .query_async::<i64>(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        .await;
        if let Err(e) = res {
            tracing::warn!(channel = %slug, error = %e, "releasing the stream's lease failed; it expires on its own");
        }
    }

    /// The current leases of `slugs` (absent: expired or never taken).
    pub async fn leases(&self, slugs: &[String]) -> Result<HashMap<String, RemoteLive>, String> {
        let Some((mut conn, prefix)) = self.conn().await? else {
            return Ok(HashMap::new());
        };
        if slugs.is_empty() {
            return Ok(HashMap::new());
        }
        let keys: Vec<String> = slugs.iter().map(|s| Self::lease_key(prefix, s)).collect();
        let values = mget(&mut conn, &keys).await?;
        Ok(slugs
            .iter()
            .zip(values)
            .filter_map(|(s, v)| Some((s.clone(), decode_lease(&v?)?)))
            .collect())
    }

    /// Which of `nodes` have a heartbeat.
    pub async fn alive(&self, nodes: &[String]) -> Result<HashSet<String>, String> {
        let Some((mut conn, prefix)) = self.conn().await? else {
            return Ok(HashSet::new());
        };
        if nodes.is_empty() {
            return Ok(HashSet::new());
        }
        let keys: Vec<String> = nodes.iter().map(|n| format!("{prefix}node:{n}")).collect();
        let values = mget(&mut conn, &keys).await?;
        Ok(nodes
            .iter()
            .zip(values)
            .filter(|(_, v)| v.is_some())
            .map(|(n, _)| n.clone())
            .collect())
    }

    /// Reloads the other nodes' broadcasts from the index and their leases.
    pub async fn refresh_remote(&self) -> Result<usize, String> {
        let Some((mut conn, prefix)) = self.conn().await? else {
            return Ok(0);
        };
        let index = format!("{prefix}leases");
        let now = unix_ms();
        let slugs: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&index)
            .arg(now)
            .arg("+inf")
            .arg("LIMIT")
            .arg(0)
            .arg(10_000)
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        // Entries long past their expiry: their owners ended without releasing (crashed).
        let _: Result<i64, _> = redis::cmd("ZREMRANGEBYSCORE")
            .arg(&index)
            .arg("-inf")
            .arg(now - 60_000)
            .query_async(&mut conn)
            .await;
        drop(conn);
        let leases = self.leases(&slugs).await?;
        let remote: HashMap<String, Arc<RemoteLive>> = leases
            .into_iter()
            .filter(|(_, l)| l.node != self.node_id && !l.url.is_empty())
            .map(|(s, l)| (s, Arc::new(l)))
            .collect();
        let n = remote.len();
        *write(&self.remote) = remote;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn open(id: i64, slug: &str, owner: Option<&str>) -> OpenBroadcast {
        OpenBroadcast {
            id,
            slug: slug.into(),
            owner: owner.map(Into::into),
        }
    }

    fn lease(node: &str) -> RemoteLive {
        RemoteLive {
            node: node.into(),
            url: format!("http://{node}:8080"),
            broadcast_id: 1,
            info: None,
            dvr: false,
        }
    }

    #[test]
    fn a_broadcast_is_orphaned_after_two_sweeps_without_its_owners_lease() {
        let mut core = SweepCore::new("b".into());
        let rows = [open(1, "alice", Some("a")), open(2, "bob", Some("c"))];
        let mut leases = HashMap::from([("bob".to_owned(), lease("c"))]);
        assert!(core.orphans(&rows, &leases).is_empty(), "first sight only");
        assert_eq!(core.orphans(&rows, &leases), [1]);
        // The lease reappears (a late renewal) before the second sweep: not an orphan.
        let mut core = SweepCore::new("b".into());
        assert!(core.orphans(&rows, &leases).is_empty());
        leases.insert("alice".into(), lease("a"));
        assert!(core.orphans(&rows, &leases).is_empty());
        leases.remove("alice");
        assert!(
            core.orphans(&rows, &leases).is_empty(),
            "suspicion restarts"
        );
    }

    #[test]
    fn a_lease_held_by_another_node_than_the_rows_owner_orphans_the_row() {
        let mut core = SweepCore::new("b".into());
        let rows = [open(1, "alice", Some("a")), open(2, "old", None)];
        let leases = HashMap::from([
            ("alice".to_owned(), lease("c")),
            ("old".to_owned(), lease("c")),
        ]);
        core.orphans(&rows, &leases);
        let mut closed = core.orphans(&rows, &leases);
        closed.sort();
        assert_eq!(closed, [1, 2]);
    }

    #[test]
    fn this_nodes_own_broadcasts_are_never_swept() {
        let mut core = SweepCore::new("a".into());
        let rows = [open(1, "alice", Some("a"))];
        for _ in 0..3 {
            assert!(core.orphans(&rows, &HashMap::new()).is_empty());
        }
    }

    #[test]
    fn a_node_is_dead_after_two_sweeps_without_a_heartbeat() {
        let mut core = SweepCore::new("me".into());
        let named: HashSet<String> = ["me", "a", "b"].map(String::from).into();
        let alive: HashSet<String> = ["b"].map(String::from).into();
        assert!(core.dead_nodes(&named, &alive).is_empty());
        assert_eq!(core.dead_nodes(&named, &alive), ["a"]);
    }

    #[test]
    fn lease_values_round_trip_and_oversized_ones_are_refused() {
        let l = lease("node-1");
        let raw = encode_lease(&l);
        assert!(raw.starts_with("node-1\n1\n"));
        assert_eq!(decode_lease(&raw), Some(l));
        assert_eq!(decode_lease("garbage"), None);
        let big = format!("n\n1\n{}", "x".repeat(MAX_LEASE_BYTES));
        assert_eq!(decode_lease(&big), None);
    }
}
