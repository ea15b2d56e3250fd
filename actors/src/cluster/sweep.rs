//! Sweeping: what every node does every half lease about the others. Orphaned broadcasts
//! (their lease gone, or held by another node than the row's owner, seen so twice) are closed
//! exactly once across nodes, dead nodes' recordings are claimed and finished, and this node's
//! leases and heartbeat are renewed ([`run`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use streamhall_entities::{Broadcast, Video, broadcast, channel, video};

use super::*;

// ---------------------------------------------------------------------------------------------
// Sweeping: plain logic

/// An open broadcast as the sweep sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBroadcast {
    pub id: i64,
    pub slug: String,
    pub owner: Option<String>,
}

/// Decides which open broadcasts and recordings are orphans: gone twice in a row, so one
/// lost or late renewal never ends a live broadcast.
#[derive(Debug, Default)]
pub struct SweepCore {
    node_id: String,
    suspect_broadcasts: HashSet<i64>,
    suspect_nodes: HashSet<String>,
}

impl SweepCore {
    pub fn new(node_id: String) -> Self {
        Self {
            node_id,
            ..Self::default()
        }
    }

    /// The broadcasts to close now, given the open ones and the leases found for their slugs.
    /// Not this node's (the registry ends those); orphaned when no lease exists for the slug
    /// or the lease is another node's than the row's owner.
    pub fn orphans(
        &mut self,
        open: &[OpenBroadcast],
        leases: &HashMap<String, RemoteLive>,
    ) -> Vec<i64> {
        let mut suspects = HashSet::new();
        let mut close = Vec::new();
        for b in open {
            if b.owner.as_deref() == Some(self.node_id.as_str()) {
                continue;
            }
            let held = leases
                .get(&b.slug)
                .is_some_and(|l| Some(l.node.as_str()) == b.owner.as_deref());
            if held {
                continue;
            }
            if self.suspect_broadcasts.contains(&b.id) {
                close.push(b.id);
            } else {
                suspects.insert(b.id);
            }
        }
        self.suspect_broadcasts = suspects;
        close
    }

    /// The nodes whose recordings to take over, given the nodes recordings name and those
    /// with a heartbeat.
    pub fn dead_nodes(&mut self, named: &HashSet<String>, alive: &HashSet<String>) -> Vec<String> {
        let mut suspects = HashSet::new();
        let mut dead = Vec::new();
        for n in named {
            if *n == self.node_id || alive.contains(n) {
                continue;
            }
            if self.suspect_nodes.contains(n) {
                dead.push(n.clone());
            } else {
                suspects.insert(n.clone());
            }
        }
        self.suspect_nodes = suspects;
        dead.sort();
        dead
    }
}

// ---------------------------------------------------------------------------------------------
// Sweeping: I/O

/// Open broadcasts with their channel's slug.
pub async fn open_broadcasts(db: &DatabaseConnection) -> Result<Vec<OpenBroadcast>, DbErr> {
    let rows = Broadcast::find()
        .filter(broadcast::Column::EndedAt.is_null())
        .find_also_related(streamhall_entities::Channel)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(b, c): (broadcast::Model, Option<channel::Model>)| {
            Some(OpenBroadcast {
                id: b.id,
                slug: c?.slug,
                owner: b.owner_node,
            })
        })
        .collect())
}

/// The nodes that recordings still in progress belong to.
async fn recording_nodes(db: &DatabaseConnection) -> Result<HashSet<String>, DbErr> {
    let rows = Video::find()
        .filter(video::Column::Status.is_in(["recording", "processing"]))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|v| v.node_id).collect())
}

/// Claims the unfinished recordings of `dead` for this node; returns the claimed rows.
async fn claim_recordings(
    db: &DatabaseConnection,
    dead: &str,
    me: &str,
) -> Result<Vec<video::Model>, DbErr> {
    let rows = Video::find()
        .filter(video::Column::Status.is_in(["recording", "processing"]))
        .filter(video::Column::NodeId.eq(dead))
        .all(db)
        .await?;
    let mut claimed = Vec::new();
    for v in rows {
        let won = Video::update_many()
            .col_expr(video::Column::NodeId, Expr::value(me))
            .filter(video::Column::Id.eq(v.id.as_str()))
            .filter(video::Column::NodeId.eq(dead))
            .exec(db)
            .await?
            .rows_affected
            == 1;
        if won {
            claimed.push(video::Model {
                node_id: me.to_owned(),
                ..v
            });
        }
    }
    Ok(claimed)
}

/// This node must stop running `slug`: another node took its lease, or closed its broadcast
/// while this node's lease was expired. The registry ends the stream here.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct LeaseLost {
    pub slug: String,
}

/// Runs on every node with Redis: renews this node's leases and heartbeat every
/// [`ClusterConfig::renew_every`], refreshes the other nodes' broadcasts, and every
/// [`ClusterConfig::sweep_every`] closes orphaned broadcasts and finishes dead nodes'
/// recordings.
pub(crate) async fn run(
    cluster: Cluster,
    deps: Arc<crate::LiveDeps>,
    registry: CountedRecipient<LeaseLost>,
) {
    let mut sweep = SweepCore::new(cluster.node_id.clone());
    let mut tick = tokio::time::interval(cluster.cfg.renew_every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sweep = Instant::now();
    let mut failing = false;
    loop {
        tick.tick().await;
        let mine: Vec<(String, i64, LiveInfo, bool)> = deps
            .hls
            .slugs()
            .into_iter()
            .filter_map(|slug| {
                let (id, info, dvr) = deps.hls.lease_view(&slug)?;
                Some((slug, id, info, dvr))
            })
            .collect();
        let renewed = cluster.renew(mine).await;
        let refreshed = match renewed {
            Ok(renewed) => {
                for (slug, broadcast_id, r) in renewed {
                    match r {
                        Renewed::Kept => {}
                        Renewed::Retaken => {
                            tracing::warn!(channel = %slug, broadcast_id, "the stream's lease had expired (Redis unreachable?); taken again");
                            end_if_closed(&deps.db, &registry, &slug, broadcast_id).await;
                        }
                        Renewed::Lost => {
                            tracing::error!(channel = %slug, broadcast_id, "another node took this stream's lease after it expired; ending it here");
                            registry.do_send(LeaseLost { slug });
                        }
                    }
                }
                cluster.refresh_remote().await.map(|_| ())
            }
            Err(e) => Err(e),
        };
        match refreshed {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("cluster: Redis is back; stream leases renewed");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cluster: renewing stream leases failed; other nodes cannot see this node's streams until Redis answers");
            }
            Err(_) => {}
        }
        if failing || last_sweep.elapsed() < cluster.cfg.sweep_every() {
            continue;
        }
        last_sweep = Instant::now();
        if let Err(e) = sweep_once(&cluster, &deps, &mut sweep).await {
            tracing::warn!(error = %e, "cluster: looking for orphaned broadcasts failed");
        }
    }
}

/// After re-taking an expired lease: if another node closed the broadcast meanwhile, this
/// node's copy ends too (its row, VOD and viewers were already handed off).
async fn end_if_closed(
    db: &DatabaseConnection,
    registry: &CountedRecipient<LeaseLost>,
    slug: &str,
    broadcast_id: i64,
) {
    if let Ok(Some(b)) = Broadcast::find_by_id(broadcast_id).one(db).await
        && b.ended_at.is_some()
    {
        tracing::error!(channel = %slug, broadcast_id, "another node closed this broadcast while its lease was expired; ending it here");
        registry.do_send(LeaseLost {
            slug: slug.to_owned(),
        });
    }
}

async fn sweep_once(
    cluster: &Cluster,
    deps: &crate::LiveDeps,
    sweep: &mut SweepCore,
) -> Result<(), String> {
    let err = |e: DbErr| e.to_string();
    let open = open_broadcasts(&deps.db).await.map_err(err)?;
    let slugs: Vec<String> = open.iter().map(|b| b.slug.clone()).collect();
    let leases = cluster.leases(&slugs).await?;
    for id in sweep.orphans(&open, &leases) {
        close_orphan(&deps.db, &deps.bus, id, cluster.node_id()).await;
    }
    let named = recording_nodes(&deps.db).await.map_err(err)?;
    let named_list: Vec<String> = named.iter().cloned().collect();
    let alive = cluster.alive(&named_list).await?;
    for dead in sweep.dead_nodes(&named, &alive) {
        let claimed = claim_recordings(&deps.db, &dead, cluster.node_id())
            .await
            .map_err(err)?;
        if !claimed.is_empty() {
            tracing::warn!(node = %dead, recordings = claimed.len(), "finishing the recordings of a node that stopped renewing its heartbeat");
            crate::recording::finish_orphans(
                deps.db.clone(),
                Arc::clone(&deps.objects),
                deps.cfg.recording.clone(),
                claimed,
            );
        }
    }
    Ok(())
}

/// Closes broadcast `id` if it is still open (exactly once across nodes) and tells the bus.
pub(crate) async fn close_orphan(
    db: &DatabaseConnection,
    bus: &crate::Bus,
    id: i64,
    me: &str,
) -> bool {
    match crate::db::close_orphaned_broadcast(db, id).await {
        Ok(Some((b, slug))) => {
            tracing::warn!(channel = %slug, broadcast_id = id, owner = b.owner_node.as_deref().unwrap_or("?"), closed_by = %me, "closed an orphaned broadcast: its node stopped renewing the lease");
            if b.went_live_at.is_some() {
                bus.publish(crate::BusEvent::StreamWentOffline {
                    channel_id: b.channel_id,
                    slug,
                    broadcast_id: id,
                });
            }
            true
        }
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(broadcast_id = id, error = %e, "closing an orphaned broadcast failed; the next sweep retries");
            false
        }
    }
}
