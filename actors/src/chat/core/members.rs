//! Members: joining, leaving, history and resume, and the fan-out of shared frames.

use super::*;

impl RoomCore {
    pub(super) fn send_to(
        &mut self,
        session: SessionId,
        frames: Vec<ByteString>,
        max_id: Option<i64>,
    ) {
        let batch = Outbound::Batch(Arc::new(Batch::new(frames, max_id)));
        let full = match self.members.get(&session) {
            Some(m) => match m.handle.tx.try_send(batch) {
                Ok(()) => false,
                Err(TrySendError::Full(_)) => true,
                Err(TrySendError::Closed(_)) => {
                    self.members.remove(&session);
                    false
                }
            },
            None => false,
        };
        if full {
            self.kick(session);
        }
    }

    /// Queues a frame for one member (`ack`, `rejected`, `pong`); it goes out with the next
    /// flush, after the broadcasts queued before it.
    pub fn reply(&mut self, session: SessionId, msg: &ServerMsg) {
        if self.members.contains_key(&session) {
            self.replies.entry(session).or_default().push(frame(msg));
        }
    }

    pub(super) fn kick(&mut self, session: SessionId) {
        if let Some(m) = self.members.remove(&session) {
            m.handle.kick.cancel();
            self.counters.kicked += 1;
        }
    }

    /// Queues a frame for everyone; sent by [`RoomCore::flush`].
    pub(super) fn broadcast(&mut self, msg: &ServerMsg) {
        self.outbox.push(frame(msg));
    }

    pub fn has_outbox(&self) -> bool {
        !self.outbox.is_empty() || !self.replies.is_empty()
    }

    /// Sends everything queued since the last flush to every member as one shared batch.
    /// Returns the sessions kicked for being too slow.
    pub fn flush(&mut self) -> Vec<SessionId> {
        let mut kicked = Vec::new();
        let mut closed = Vec::new();
        if !self.outbox.is_empty() {
            let batch = Arc::new(Batch::new(
                std::mem::take(&mut self.outbox),
                self.outbox_max_id.take(),
            ));
            let n = batch.frames.len() as u64;
            for (id, m) in &self.members {
                match m.handle.tx.try_send(Outbound::Batch(batch.clone())) {
                    Ok(()) => self.counters.delivered_frames += n,
                    Err(TrySendError::Full(_)) => kicked.push(*id),
                    Err(TrySendError::Closed(_)) => closed.push(*id),
                }
            }
        }
        for (id, frames) in std::mem::take(&mut self.replies) {
            let Some(m) = self.members.get(&id) else {
                continue;
            };
            let batch = Outbound::Batch(Arc::new(Batch::new(frames, None)));
            match m.handle.tx.try_send(batch) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => kicked.push(id),
                Err(TrySendError::Closed(_)) => closed.push(id),
            }
        }
        for id in closed {
            self.members.remove(&id);
        }
        kicked.sort_unstable();
        kicked.dedup();
        for id in &kicked {
            self.kick(*id);
        }
        kicked
    }

    /// A member joins: it gets `welcome` and `history` (the last few messages, or with
    /// `resume_from` exactly the ones after it), then every later broadcast.
    pub fn join(
        &mut self,
        session: SessionId,
        handle: MemberHandle,
        user: Option<JoinUser>,
        resume_from: Option<i64>,
    ) {
        // Whatever is queued is already in the ring: send it to those who were here, so the
        // newcomer does not get it twice.
        self.flush();
        let you = user.as_ref().map(|u| ChatUser {
            id: u.id,
            username: u.username.clone(),
            role: self.role_of(u.id, u.is_admin),
        });
        self.members.insert(
            session,
            Member {
                handle,
                user,
                known_from: self.head + 1,
            },
        );
        let welcome = frame(&ServerMsg::Welcome {
            channel: self.slug.clone(),
            you,
            mode: self.mode,
            last_id: self.head,
        });
        let (history, max_id) = match resume_from {
            Some(last_id) => self.missed_since(session, last_id),
            None => self.recent_history(session),
        };
        self.send_to(session, vec![welcome, history], max_id);
    }

    pub(super) fn recent_history(&mut self, session: SessionId) -> (ByteString, Option<i64>) {
        let skip = self.ring.len().saturating_sub(self.limits.history_on_join);
        let window_start = self.ring.get(skip).map_or(self.head + 1, |m| m.msg.id);
        let messages: Vec<ChatMessage> = self
            .ring
            .iter()
            .skip(skip)
            .filter(|m| !m.deleted)
            .map(|m| m.msg.clone())
            .collect();
        if let Some(m) = self.members.get_mut(&session) {
            m.known_from = window_start;
        }
        let more = window_start > 1;
        let max_id = messages.last().map(|m| m.id);
        (frame(&ServerMsg::History { messages, more }), max_id)
    }

    /// The messages after `last_id` this connection has not been sent, newest
    /// `resume_max` of them.
    pub(super) fn missed_since(
        &mut self,
        session: SessionId,
        last_id: i64,
    ) -> (ByteString, Option<i64>) {
        let Some(known_from) = self.members.get(&session).map(|m| m.known_from) else {
            return (
                frame(&ServerMsg::History {
                    messages: Vec::new(),
                    more: false,
                }),
                None,
            );
        };
        let upto = known_from - 1;
        let mut messages: Vec<ChatMessage> = self
            .ring
            .iter()
            .filter(|m| m.msg.id > last_id && m.msg.id <= upto && !m.deleted)
            .map(|m| m.msg.clone())
            .collect();
        let mut from = last_id + 1;
        if messages.len() > self.limits.resume_max {
            let cut = messages.len() - self.limits.resume_max;
            from = messages[cut].id;
            messages.drain(..cut);
        }
        let more = from < self.ring_first() && last_id < upto;
        let new_known = if more {
            self.ring_first().max(from)
        } else {
            from
        };
        if let Some(m) = self.members.get_mut(&session) {
            m.known_from = m.known_from.min(new_known.max(1));
        }
        let max_id = messages.last().map(|m| m.id);
        (frame(&ServerMsg::History { messages, more }), max_id)
    }

    /// `resume {last_id}` on an open connection.
    pub fn resume(&mut self, session: SessionId, last_id: i64) {
        let (history, max_id) = self.missed_since(session, last_id);
        self.send_to(session, vec![history], max_id);
    }

    pub fn leave(&mut self, session: SessionId) {
        self.members.remove(&session);
        self.replies.remove(&session);
    }

    pub fn member_user(&self, session: SessionId) -> Option<&JoinUser> {
        self.members.get(&session).and_then(|m| m.user.as_ref())
    }

    pub fn is_member(&self, session: SessionId) -> bool {
        self.members.contains_key(&session)
    }

    /// Every open session, for shutdown.
    pub fn sessions(&self) -> Vec<SessionId> {
        self.members.keys().copied().collect()
    }
}
