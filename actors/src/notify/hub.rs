//! The notification sockets open on this node, by user, and the live push to them.
//!
//! A socket registers with [`NotificationHub::register`] and gets a bounded receiver of
//! ready-to-send JSON frames. [`NotificationHub::deliver`] handles a `Notified` bus event
//! (from this node's fan-out or, with Redis, another node's): it looks up the unread counts of
//! the users connected here (one query per event) and `try_send`s each of their sockets a
//! frame. A socket whose queue is full is kicked (its client reconnects and re-reads the
//! unread count); the fan-out never waits on a socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};
use streamhall_entities::{Notification, notification};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::protocol::{NotificationDto, NotifyServerMsg};
use crate::bus::NotificationPush;
use crate::locks::lock;

/// Frames queued for one socket before it is closed as a slow consumer.
pub const SOCKET_QUEUE: usize = 64;
/// Sockets one user may hold on one node (a tab each).
pub const MAX_SOCKETS_PER_USER: usize = 16;

struct Socket {
    id: u64,
    tx: mpsc::Sender<Arc<str>>,
    kick: CancellationToken,
}

#[derive(Default)]
struct Inner {
    users: HashMap<i64, Vec<Socket>>,
    sockets: usize,
}

#[derive(Clone, Default)]
pub struct NotificationHub {
    inner: Arc<Mutex<Inner>>,
    next_id: Arc<AtomicU64>,
    pushed: Arc<AtomicU64>,
    kicked: Arc<AtomicU64>,
}

/// A registered socket: frames to send, and a token cancelled when the hub drops it.
pub struct Registration {
    pub id: u64,
    pub user_id: i64,
    pub rx: mpsc::Receiver<Arc<str>>,
    pub kick: CancellationToken,
}

impl NotificationHub {
    pub fn new() -> Self {
        Self::default()
    }

    /// `None` when the user already holds [`MAX_SOCKETS_PER_USER`] sockets here.
    pub fn register(&self, user_id: i64) -> Option<Registration> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
        let kick = CancellationToken::new();
        let mut inner = lock(&self.inner);
        let list = inner.users.entry(user_id).or_default();
        if list.len() >= MAX_SOCKETS_PER_USER {
            return None;
        }
        list.push(Socket {
            id,
            tx,
            kick: kick.clone(),
        });
        inner.sockets += 1;
        Some(Registration {
            id,
            user_id,
            rx,
            kick,
        })
    }

    pub fn unregister(&self, user_id: i64, id: u64) {
        let mut inner = lock(&self.inner);
        let Some(list) = inner.users.get_mut(&user_id) else {
            return;
        };
        let before = list.len();
        list.retain(|s| s.id != id);
        let removed = before - list.len();
        if list.is_empty() {
            inner.users.remove(&user_id);
        }
        inner.sockets -= removed;
    }

    pub fn sockets(&self) -> usize {
        lock(&self.inner).sockets
    }

    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }

    pub fn kicked(&self) -> u64 {
        self.kicked.load(Ordering::Relaxed)
    }

    /// Which of `users` have a socket here.
    fn connected(&self, users: &[(i64, i64)]) -> Vec<(i64, i64)> {
        let inner = lock(&self.inner);
        users
            .iter()
            .filter(|(u, _)| inner.users.contains_key(u))
            .copied()
            .collect()
    }

    /// Pushes `n` to the sockets of `users` ((user id, notification id) pairs) open here.
    pub async fn deliver(
        &self,
        db: &DatabaseConnection,
        users: &[(i64, i64)],
        n: &NotificationPush,
    ) -> Result<usize, DbErr> {
        let here = self.connected(users);
        if here.is_empty() {
            return Ok(0);
        }
        let unread = unread_counts(db, here.iter().map(|(u, _)| *u)).await?;
        let mut sent = 0;
        let mut inner = lock(&self.inner);
        for (user_id, id) in here {
            let Some(list) = inner.users.get_mut(&user_id) else {
                continue;
            };
            let msg = NotifyServerMsg::Notification {
                notification: NotificationDto::from_push(id, n),
                unread: unread.get(&user_id).copied().unwrap_or(1),
            };
            let Ok(json) = serde_json::to_string(&msg) else {
                continue;
            };
            let frame: Arc<str> = json.into();
            for s in list.iter() {
                match s.tx.try_send(frame.clone()) {
                    Ok(()) => sent += 1,
                    Err(_) => {
                        s.kick.cancel();
                        self.kicked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        drop(inner);
        self.pushed.fetch_add(sent as u64, Ordering::Relaxed);
        Ok(sent)
    }
}

#[derive(FromQueryResult)]
struct UnreadRow {
    user_id: i64,
    n: i64,
}

/// Unread notifications per user.
pub async fn unread_counts(
    db: &DatabaseConnection,
    users: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, i64>, DbErr> {
    let ids: Vec<i64> = users.into_iter().collect();
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let rows = Notification::find()
            .select_only()
            .column(notification::Column::UserId)
            .column_as(
                Expr::expr(Func::count(Expr::col(notification::Column::Id))),
                "n",
            )
            .filter(notification::Column::UserId.is_in(chunk.iter().copied()))
            .filter(notification::Column::ReadAt.is_null())
            .group_by(notification::Column::UserId)
            .into_model::<UnreadRow>()
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|r| (r.user_id, r.n)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn register_and_unregister_keep_the_count() {
        let hub = NotificationHub::new();
        let a = hub.register(1).unwrap();
        let b = hub.register(1).unwrap();
        let c = hub.register(2).unwrap();
        assert_eq!(hub.sockets(), 3);
        assert_eq!(
            hub.connected(&[(1, 10), (3, 11), (2, 12)]),
            vec![(1, 10), (2, 12)]
        );
        hub.unregister(1, a.id);
        hub.unregister(1, a.id);
        assert_eq!(hub.sockets(), 2);
        hub.unregister(1, b.id);
        hub.unregister(2, c.id);
        assert_eq!(hub.sockets(), 0);
        assert!(hub.connected(&[(1, 10)]).is_empty());
        // A cap per user.
        let held: Vec<_> = (0..MAX_SOCKETS_PER_USER)
            .map(|_| hub.register(3).unwrap())
            .collect();
        assert!(hub.register(3).is_none());
        hub.unregister(3, held[0].id);
        assert!(hub.register(3).is_some());
    }
}
