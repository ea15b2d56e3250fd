//! Platform events (a channel went live or offline) for whoever listens: notifier, chat,
//! WebSocket dashboards. In-process for now: a bounded `tokio::sync::broadcast`; a receiver that
//! falls more than [`BUS_CAPACITY`] events behind is told how many it missed (`Lagged`).
//! Kept behind [`Bus`] so a Redis transport can be added without touching publishers.

use serde::Serialize;
use tokio::sync::broadcast;

/// Events a receiver may fall behind by before it lags.
pub const BUS_CAPACITY: usize = 1024;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BusEvent {
    StreamWentLive {
        channel_id: i64,
        slug: String,
        broadcast_id: i64,
        title: String,
    },
    StreamWentOffline {
        channel_id: i64,
        slug: String,
        broadcast_id: i64,
    },
}

#[derive(Clone)]
pub struct Bus {
    tx: broadcast::Sender<BusEvent>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(BUS_CAPACITY);
        Self { tx }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.tx.subscribe()
    }

    /// Never blocks; with no subscriber the event is simply not delivered.
    pub fn publish(&self, event: BusEvent) {
        tracing::info!(?event, "bus");
        let _ = self.tx.send(event);
    }
}
