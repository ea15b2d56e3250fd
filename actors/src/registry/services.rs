//! The registry's service children (the chat directory, presence, the notifier): their slots,
//! counters and handles, how each is started again, stopped on request, or made to fail in
//! tests.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::*;

/// What starts presence again.
pub(crate) struct PresenceSpec {
    pub handle: PresenceHandle,
    pub hls: crate::HlsDirectory,
    pub db: sea_orm::DatabaseConnection,
    pub redis: Option<RedisPresence>,
    pub analytics: AnalyticsConfig,
}

impl PresenceSpec {
    fn start(
        &self,
        stats: Arc<ActorStats>,
        exit: ExitReport,
        restarted: bool,
    ) -> Mailbox<Presence> {
        let addr = Presence::new(
            self.handle.clone(),
            self.hls.clone(),
            self.db.clone(),
            self.redis.clone(),
            self.analytics.clone(),
        )
        .supervised(Arc::clone(&stats), exit, restarted)
        .start();
        Mailbox::new(addr, stats)
    }
}

/// The registry's service children: their slots, counters and handles.
pub(crate) struct Services {
    pub(super) records: HashMap<ServiceKind, ChildRecord<ServiceKind>>,
    pub(super) stats: HashMap<ServiceKind, Arc<ActorStats>>,
    parent: CountedRecipient<ServiceExited>,
    pub presence: Current<Presence>,
    presence_spec: PresenceSpec,
    pub chat: ChatHandle,
    pub notifier: NotifierHandle,
}

impl Services {
    /// Starts the three services as children of the registry at `parent` (which may not run
    /// yet: their reports wait in its mailbox).
    pub(crate) fn start(
        parent: CountedRecipient<ServiceExited>,
        dead_letters: &DeadLetters,
        presence_spec: PresenceSpec,
        chat: impl FnOnce(Arc<ActorStats>, ExitReport) -> ChatHandle,
        notifier: impl FnOnce(Arc<ActorStats>, ExitReport) -> anyhow::Result<NotifierHandle>,
    ) -> anyhow::Result<Self> {
        let now = Instant::now();
        let mut records = HashMap::new();
        let mut stats = HashMap::new();
        let mut first = HashMap::new();
        for kind in ServiceKind::ALL {
            let mut rec = ChildRecord::new(kind, kind.as_str().to_owned());
            let generation = rec.starting(now);
            records.insert(kind, rec);
            stats.insert(kind, ActorStats::new(kind.as_str(), dead_letters.clone()));
            first.insert(kind, ExitReport::new(kind, generation, parent.clone()));
        }
        let mut take = |kind| {
            (
                Arc::clone(&stats[&kind]),
                first
                    .remove(&kind)
                    .unwrap_or_else(|| ExitReport::detached(kind)),
            )
        };
        let (s, e) = take(ServiceKind::Notifier);
        let notifier = notifier(s, e)?;
        let (s, e) = take(ServiceKind::ChatDirectory);
        let chat = chat(s, e);
        let (s, e) = take(ServiceKind::Presence);
        let presence = Current::new(presence_spec.start(s, e, false));
        Ok(Self {
            records,
            stats,
            parent,
            presence,
            presence_spec,
            chat,
            notifier,
        })
    }

    /// Starts the next incarnation of `kind`.
    pub(super) fn restart(&mut self, kind: ServiceKind) {
        let Some(rec) = self.records.get_mut(&kind) else {
            return;
        };
        let generation = rec.starting(Instant::now());
        let exit = ExitReport::new(kind, generation, self.parent.clone());
        let stats = Arc::clone(&self.stats[&kind]);
        tracing::warn!(
            service = kind.as_str(),
            restarts = rec.restarts,
            "restarting a service"
        );
        match kind {
            ServiceKind::Presence => self
                .presence
                .set(self.presence_spec.start(stats, exit, true)),
            ServiceKind::ChatDirectory => self.chat.restart(stats, exit),
            ServiceKind::Notifier => self.notifier.restart(stats, exit),
        }
    }

    /// Asks `kind` to stop; its exit report brings the restart.
    pub(super) fn stop(&self, kind: ServiceKind, why: &str) -> bool {
        if !self.records.get(&kind).is_some_and(|r| r.running) {
            return false;
        }
        let msg = StopService(why.to_owned());
        match kind {
            ServiceKind::Presence => self.presence.get().do_send(msg),
            ServiceKind::ChatDirectory => self.chat.directory().do_send(msg),
            ServiceKind::Notifier => self.notifier.stop(msg),
        }
        true
    }

    /// Test builds only: make `kind` fail.
    #[cfg(any(test, feature = "fault-injection"))]
    pub(super) fn inject_fault(&self, kind: ServiceKind, why: &str, panic: bool) {
        let msg = crate::supervision::InjectFault::new(why, panic);
        match kind {
            ServiceKind::Presence => self.presence.get().do_send(msg),
            ServiceKind::ChatDirectory => self.chat.directory().do_send(msg),
            ServiceKind::Notifier => self.notifier.inject_fault(why, panic),
        }
    }
}
