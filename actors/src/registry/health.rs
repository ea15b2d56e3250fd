//! The registry's answer to `GetHealth`: the whole tree with itself as the root, each stream
//! and service asked with a timeout, each service's slot (restarts, restarting) laid over its
//! own answer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::*;

/// How long `GetHealth` waits for each stream.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

impl Registry {
    pub(super) fn own_health(&self) -> ActorHealth {
        // Every sender holds a counting handle (a `Mailbox` or `CountedRecipient`), so the
        // depth is real.
        ActorHealth {
            uptime_s: self.started.elapsed().as_secs_f64(),
            last_error: self.last_error.clone(),
            ..ActorHealth::new("registry", "registry", "running")
        }
        .with_stats(self.stats.snapshot(Instant::now()))
    }
}

/// A stream as a node of the tree: its figures and its children.
fn stream_node(s: &StreamHealth) -> ActorNode {
    let mut node = ActorNode {
        actor: s.actor.clone(),
        figures: Vec::new(),
        children: s.children.iter().cloned().map(ActorNode::leaf).collect(),
    };
    if let Some(i) = &s.ingest {
        node = node
            .figure("bitrate_kbps", i.bitrate_kbps)
            .figure("fps", i.fps);
        if let Some(k) = i.keyframe_interval_s {
            node = node.figure("keyframe_interval_s", k);
        }
    }
    if let Some(speed) = s.ffmpeg_speed {
        node = node.figure("speed", speed);
    }
    if let Some(cpu) = s.ffmpeg_cpu_percent {
        node = node.figure("cpu_percent", cpu);
    }
    node.figure("segments", s.segments_produced as f64)
        .figure("viewers", s.viewers as f64)
        .figure("dropped_frames", s.dropped_frames as f64)
        .figure("queued", s.queued as f64)
}

impl Handler<GetHealth> for Registry {
    type Result = ResponseFuture<HealthTree>;

    fn handle(&mut self, _: GetHealth, _ctx: &mut Self::Context) -> Self::Result {
        let _h = self.stats.handling();
        let registry = self.own_health();
        let streams = self.core.addrs();
        let presence = self.services.presence.get();
        let chat = self.services.chat.clone();
        let notifier = self.services.notifier.clone();
        let node = self.deps.cfg.node_id.clone();
        let dead_letters = self.dead_letters.clone();
        // Each service's slot (restarts, restarting) as of now, laid over its own answer.
        let now = Instant::now();
        let overlay = {
            let slots: HashMap<ServiceKind, ActorHealth> = ServiceKind::ALL
                .into_iter()
                .filter_map(|k| Some((k, self.services.records.get(&k)?.health(now, None))))
                .collect();
            move |kind: ServiceKind, mut actor: ActorHealth| {
                if let Some(slot) = slots.get(&kind) {
                    actor.restarts = slot.restarts;
                    if slot.state != "running" {
                        actor.state = slot.state.clone();
                        actor.uptime_s = 0.0;
                    }
                    if actor.last_error.is_none() {
                        actor.last_error = slot.last_error.clone();
                    }
                }
                actor
            }
        };
        Box::pin(async move {
            let asks = streams
                .iter()
                .map(|s| tokio::time::timeout(HEALTH_TIMEOUT, s.send(GetStreamHealth)));
            let presence_ask =
                tokio::time::timeout(HEALTH_TIMEOUT, presence.send(GetPresenceHealth));
            let (streams, presence, mut chat, mut notifier) = futures_util::future::join4(
                futures_util::future::join_all(asks),
                presence_ask,
                chat.health(),
                notifier.health(),
            )
            .await;
            let mut streams: Vec<StreamHealth> =
                streams.into_iter().filter_map(|r| r.ok()?.ok()).collect();
            streams.sort_by(|a, b| a.slug.cmp(&b.slug));
            let presence = overlay(
                ServiceKind::Presence,
                match presence {
                    Ok(Ok(h)) => h,
                    _ => ActorHealth::new("presence", "presence", "unresponsive"),
                },
            );
            chat.directory = overlay(ServiceKind::ChatDirectory, chat.directory);
            notifier.actor = overlay(ServiceKind::Notifier, notifier.actor);
            let mut children: Vec<ActorNode> = streams.iter().map(stream_node).collect();
            children.push(chat.node());
            children.push(ActorNode::leaf(presence.clone()));
            children.push(notifier.node());
            let root = ActorNode {
                actor: registry.clone(),
                figures: Vec::new(),
                children,
            }
            .figure("streams", streams.len() as f64);
            HealthTree {
                node,
                root,
                dead_letters: dead_letters.counts(),
                registry,
                streams,
                presence,
                chat: Some(chat),
                notifier: Some(notifier),
                other_nodes: Vec::new(),
                other_nodes_error: None,
                // Filled in by `Live::health`: the pulls are not the registry's children.
                pulls: Vec::new(),
            }
        })
    }
}
