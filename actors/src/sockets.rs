//! The signed-in sockets of this node (chat, notifications, the admin health view) by user,
//! so that a password change (and, later, a suspension or a deleted account) closes every one
//! of them on every node: the change publishes [`BusEvent::SessionsRevoked`], and each node's
//! listener ([`UserSockets::follow`]) cancels the sockets it holds for that user. A token
//! issued before the change is refused afterwards (its `ver` is old), so a closed socket
//! cannot come back without signing in again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, BusEvent};

/// Why a user's sockets are closed; shown as the close reason.
pub const REVOKED_REASON: &str = "signed out: sign in again";

type Table = HashMap<i64, HashMap<u64, CancellationToken>>;

#[derive(Clone, Default)]
pub struct UserSockets {
    table: Arc<Mutex<Table>>,
    next: Arc<AtomicU64>,
}

/// One registered socket: `revoked` fires when its user's sessions are revoked. Dropping it
/// unregisters the socket.
pub struct SocketGrant {
    pub revoked: CancellationToken,
    user_id: i64,
    id: u64,
    table: Arc<Mutex<Table>>,
}

impl UserSockets {
    pub fn register(&self, user_id: i64) -> SocketGrant {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let revoked = CancellationToken::new();
        self.lock()
            .entry(user_id)
            .or_default()
            .insert(id, revoked.clone());
        SocketGrant {
            revoked,
            user_id,
            id,
            table: self.table.clone(),
        }
    }

    /// Closes this node's sockets of `user_id`; returns how many.
    pub fn revoke(&self, user_id: i64) -> usize {
        let sockets = self.lock().remove(&user_id).unwrap_or_default();
        for token in sockets.values() {
            token.cancel();
        }
        if !sockets.is_empty() {
            tracing::info!(
                user_id,
                sockets = sockets.len(),
                "sessions revoked: sockets closed"
            );
        }
        sockets.len()
    }

    /// Sockets registered for `user_id` on this node.
    pub fn count(&self, user_id: i64) -> usize {
        self.lock().get(&user_id).map_or(0, HashMap::len)
    }

    /// Revokes on every [`BusEvent::SessionsRevoked`], this node's and (with Redis) the
    /// others'. Runs as long as the bus does.
    pub fn follow(&self, bus: &Bus) {
        let mut rx = bus.subscribe();
        let sockets = self.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(BusEvent::SessionsRevoked { user_id }) => {
                        sockets.revoke(user_id);
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => {
                        // A revocation may be among the missed events: the sockets it was for
                        // stay open until they reconnect, when their old token is refused.
                        tracing::warn!(missed = n, "sockets: fell behind the bus");
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for SocketGrant {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(user) = table.get_mut(&self.user_id) {
            user.remove(&self.id);
            if user.is_empty() {
                table.remove(&self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn revoking_a_user_closes_only_their_sockets_on_every_listener() {
        let bus = Bus::new();
        let sockets = UserSockets::default();
        sockets.follow(&bus);
        let a1 = sockets.register(1);
        let a2 = sockets.register(1);
        let b = sockets.register(2);
        assert_eq!(sockets.count(1), 2);
        drop(a2);
        assert_eq!(sockets.count(1), 1);

        bus.publish(BusEvent::SessionsRevoked { user_id: 1 });
        tokio::time::timeout(std::time::Duration::from_secs(5), a1.revoked.cancelled())
            .await
            .expect("user 1's socket was not revoked");
        assert!(!b.revoked.is_cancelled());
        assert_eq!(sockets.count(1), 0);
        assert_eq!(sockets.count(2), 1);
        drop(a1);
        drop(b);
        assert_eq!(sockets.count(2), 0);
    }
}
