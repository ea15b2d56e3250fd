//! Every node's supervision tree, for the admin page of any node.
//!
//! With several nodes, each one writes its own tree (the registry's `GetHealth` answer: the
//! root, its children, dead letters) to Redis every [`WRITE_EVERY`] as
//! `{prefix}tree:{node}`, expiring after [`KEEP_FOR`], and notes the expiry in the index
//! `{prefix}trees` (node -> expiry, ms). A node's admin page reads the others from there: a
//! node that stops writing (crashed, partitioned) drops out of the list within [`KEEP_FOR`],
//! and the page says how old each tree is.
//!
//! Why Redis keys rather than the bus: the bus carries events every node consumes; a tree per
//! node every two seconds would be traffic for every consumer whether or not an admin looks,
//! where a key is read only by the page that shows it. Actions (restart, stop, close) stay
//! with the node that runs the actor: the page offers them on its own node's tree only.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_redis::redis;
use serde::{Deserialize, Serialize};

use crate::health::{ActorNode, DeadLetterCount, NodeTree};
use crate::registry::{GetHealth, Registry};
use crate::stats::Mailbox;

/// How often a node writes its tree.
pub const WRITE_EVERY: Duration = Duration::from_secs(2);
/// How long a written tree stays readable: three writes.
pub const KEEP_FOR: Duration = Duration::from_secs(6);
/// The most other nodes' trees a page is sent (the newest first).
const MAX_NODES: usize = 32;

/// What a node writes: its tree and when.
#[derive(Serialize, Deserialize)]
struct Written {
    node: String,
    at_ms: u64,
    root: ActorNode,
    dead_letters: Vec<DeadLetterCount>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// This node's handle on the trees in Redis. Without Redis there is one node and no other
/// tree.
#[derive(Clone)]
pub struct NodeTrees {
    redis: Option<(deadpool_redis::Pool, String)>,
    node_id: String,
}

impl NodeTrees {
    pub fn new(redis: Option<(deadpool_redis::Pool, String)>, node_id: String) -> Self {
        Self { redis, node_id }
    }

    async fn conn(&self) -> Result<Option<(deadpool_redis::Connection, &str)>, String> {
        let Some((pool, prefix)) = &self.redis else {
            return Ok(None);
        };
        let conn = tokio::time::timeout(Duration::from_secs(2), pool.get())
            .await
            .map_err(|_| "Redis timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        Ok(Some((conn, prefix.as_str())))
    }

    /// Writes this node's tree.
    pub async fn write(
        &self,
        root: ActorNode,
        dead_letters: Vec<DeadLetterCount>,
    ) -> Result<(), String> {
        let Some((mut conn, prefix)) = self.conn().await? else {
            return Ok(());
        };
        let at_ms = now_ms();
        let body = serde_json::to_string(&Written {
            node: self.node_id.clone(),
            at_ms,
            root,
            dead_letters,
        })
        .map_err(|e| e.to_string())?;
        let keep_ms = u64::try_from(KEEP_FOR.as_millis()).unwrap_or(u64::MAX);
        redis::pipe()
            .cmd("SET")
            .arg(format!("{prefix}tree:{}", self.node_id))
            .arg(body)
            .arg("PX")
            .arg(keep_ms)
            .ignore()
            .cmd("ZADD")
            .arg(format!("{prefix}trees"))
            .arg(at_ms + keep_ms)
            .arg(&self.node_id)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(format!("{prefix}trees"))
            .arg("-inf")
            .arg(at_ms)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    }

    /// The other nodes' trees that have not expired, by node id.
    pub async fn others(&self) -> Result<Vec<NodeTree>, String> {
        let Some((mut conn, prefix)) = self.conn().await? else {
            return Ok(Vec::new());
        };
        let now = now_ms();
        let mut nodes: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(format!("{prefix}trees"))
            .arg(now)
            .arg("+inf")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        nodes.retain(|n| *n != self.node_id);
        nodes.truncate(MAX_NODES);
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = nodes.iter().map(|n| format!("{prefix}tree:{n}")).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let mut trees: Vec<NodeTree> = values
            .into_iter()
            .flatten()
            .filter_map(|v| match serde_json::from_str::<Written>(&v) {
                Ok(w) => Some(NodeTree {
                    node: w.node,
                    age_s: now.saturating_sub(w.at_ms) as f64 / 1000.0,
                    root: w.root,
                    dead_letters: w.dead_letters,
                }),
                Err(e) => {
                    // A node on another version may write another shape: skipped, said once
                    // per read.
                    tracing::warn!(error = %e, "a node's tree could not be read");
                    None
                }
            })
            .collect();
        trees.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(trees)
    }
}

/// Writes this node's tree every [`WRITE_EVERY`] while the registry runs. A failed write is
/// logged when it starts failing and when it works again, not every time.
pub(crate) async fn run(trees: NodeTrees, registry: Mailbox<Registry>) {
    let mut failing = false;
    let mut tick = tokio::time::interval(WRITE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !registry.connected() {
            return;
        }
        let Ok(tree) = tokio::time::timeout(KEEP_FOR, registry.send(GetHealth)).await else {
            continue;
        };
        let Ok(tree) = tree else {
            return;
        };
        match trees.write(tree.root, tree.dead_letters).await {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("writing this node's tree to Redis works again");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "writing this node's tree to Redis failed: other nodes' admin pages do not show it");
            }
            Err(_) => {}
        }
    }
}
