//! Moderation put in force (deletions, bans, timeouts, modes), whether it was decided on this
//! node or another.

use super::*;

impl RoomCore {
    /// Marks a message deleted (locally or from another node) and tells everyone.
    pub fn apply_deleted(&mut self, id: i64, by: &str) {
        if id > self.head {
            self.early_deletes.insert(id);
            if let Some(m) = self.reorder.get_mut(&id) {
                m.deleted = true;
            }
            return;
        }
        if let Some(m) = self.ring.iter_mut().find(|m| m.msg.id == id) {
            if m.deleted {
                return;
            }
            m.deleted = true;
        }
        self.broadcast(&ServerMsg::Deleted {
            id,
            by: by.to_owned(),
        });
    }

    /// The role a message's author had, if the message is in memory.
    pub fn message_author(&self, id: i64) -> Option<(i64, ChatRole, bool)> {
        self.ring
            .iter()
            .find(|m| m.msg.id == id)
            .map(|m| (m.msg.user_id, m.msg.role, m.deleted))
    }

    pub fn apply_ban(
        &mut self,
        user_id: i64,
        user: &str,
        until: Option<DateTime<Utc>>,
        reason: Option<String>,
        by: &str,
        wall: DateTime<Utc>,
    ) {
        self.bans.insert(user_id, BanState { until });
        let msg = match until {
            Some(until) => ServerMsg::UserTimedOut {
                user: user.to_owned(),
                user_id,
                seconds: ((until - wall).num_milliseconds().max(0) + 999).div_euclid(1000) as u32,
                until,
                by: by.to_owned(),
            },
            None => ServerMsg::UserBanned {
                user: user.to_owned(),
                user_id,
                reason,
                by: by.to_owned(),
            },
        };
        self.broadcast(&msg);
    }

    pub fn apply_unban(&mut self, user_id: i64, user: &str, by: &str) {
        self.bans.remove(&user_id);
        self.broadcast(&ServerMsg::UserUnbanned {
            user: user.to_owned(),
            user_id,
            by: by.to_owned(),
        });
    }

    pub fn apply_mode(&mut self, mode: RoomMode) {
        self.mode = mode;
        self.broadcast(&ServerMsg::Mode(mode));
    }

    pub fn broadcast_viewer_count(&mut self, count: u64) {
        self.broadcast(&ServerMsg::ViewerCount { count });
    }
}
