//! Posting: the checks a message passes, batches for the database, and delivery in id order.

use super::*;

impl RoomCore {
    pub(super) fn ban_of(&mut self, user_id: i64, now: DateTime<Utc>) -> Option<BanState> {
        let ban = *self.bans.get(&user_id)?;
        match ban.until {
            Some(until) if until <= now => {
                self.bans.remove(&user_id);
                None
            }
            _ => Some(ban),
        }
    }

    /// Decides a `send` from `user`. `now` drives rate limits, `wall` bans.
    pub fn check_send(
        &mut self,
        session: SessionId,
        user: &JoinUser,
        client_id: &str,
        raw_text: &str,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> SendDecision {
        let reject = |code, msg: &str| SendDecision::Rejected(Rejection::new(code, msg));
        if client_id.is_empty() || client_id.chars().count() > 64 {
            return reject(RejectCode::Invalid, "client_id must be 1 to 64 characters");
        }
        let key = (user.id, client_id.to_owned());
        if let Some(id) = self.stored_keys.get(&key) {
            return SendDecision::AlreadyStored(*id);
        }
        if self.pending_keys.contains(&key) {
            for p in self.pending.iter_mut().chain(self.in_flight.iter_mut()) {
                if p.user_id == user.id && p.client_id == client_id {
                    if !p.reply_to.contains(&session) {
                        p.reply_to.push(session);
                    }
                    return SendDecision::Attached;
                }
            }
        }
        let role = self.role_of(user.id, user.is_admin);
        if !role.can_moderate()
            && let Some(ban) = self.ban_of(user.id, wall)
        {
            self.counters.rejected += 1;
            return match ban.until {
                None => reject(RejectCode::Banned, "you are banned from this chat"),
                Some(until) => SendDecision::Rejected(
                    Rejection::new(
                        RejectCode::TimedOut,
                        format!(
                            "you are timed out for another {}",
                            text::duration_words(
                                (until - wall).num_seconds().max(1).unsigned_abs()
                            )
                        ),
                    )
                    .retry_after((until - wall).to_std().unwrap_or_default()),
                ),
            };
        }
        let text = match text::clean(raw_text) {
            Ok(t) => t,
            Err(TextError::Empty) => {
                self.counters.rejected += 1;
                return reject(RejectCode::Invalid, "the message is empty");
            }
            Err(TextError::TooLong(n)) => {
                self.counters.rejected += 1;
                return SendDecision::Rejected(Rejection::new(
                    RejectCode::Invalid,
                    format!(
                        "messages are at most {} characters; this one has {n}",
                        super::super::protocol::MAX_MESSAGE_CHARS
                    ),
                ));
            }
        };
        if !role.can_moderate() {
            if self.mode.emote_only && !text::is_emote_only(&text) {
                self.counters.rejected += 1;
                return reject(RejectCode::EmoteOnly, "the chat is in emote-only mode");
            }
            if let Some(minutes) = self.mode.followers_only {
                let Some((followed, read_at)) = self.follows.get(&user.id) else {
                    return SendDecision::NeedsFollow;
                };
                // "Not following" is re-read sooner: the user may have just clicked Follow.
                let fresh = if followed.is_some() {
                    FOLLOW_FRESH
                } else {
                    NOT_FOLLOWING_FRESH
                };
                if now.saturating_duration_since(*read_at) > fresh {
                    return SendDecision::NeedsFollow;
                }
                let Some(since) = followed else {
                    self.counters.rejected += 1;
                    return reject(
                        RejectCode::FollowersOnly,
                        "the chat is in followers-only mode: follow the channel to chat",
                    );
                };
                let need = chrono::Duration::minutes(i64::from(minutes));
                let age = wall - *since;
                if age < need {
                    self.counters.rejected += 1;
                    let wait = (need - age).to_std().unwrap_or_default();
                    return SendDecision::Rejected(
                        Rejection::new(
                            RejectCode::FollowersOnly,
                            format!(
                                "the chat is in followers-only mode: you can chat {} after following (in {})",
                                text::duration_words(u64::from(minutes) * 60),
                                text::duration_words(wait.as_secs().max(1))
                            ),
                        )
                        .retry_after(wait),
                    );
                }
            }
            // The term itself is not named: that would teach ways around it.
            if text::find_blocked(&text, &self.blocked_normalized).is_some() {
                self.counters.rejected += 1;
                return reject(
                    RejectCode::BlockedTerm,
                    "the message contains a term this channel blocks",
                );
            }
        }
        // Rate limit and slow mode, counted only for messages that get this far.
        let limit = if role.can_moderate() {
            self.limits.rate_messages_moderator
        } else {
            self.limits.rate_messages
        };
        let window = self.limits.rate_window;
        let slow = Duration::from_secs(u64::from(self.mode.slow_seconds));
        let act = self.activity.entry(user.id).or_default();
        if !role.can_moderate()
            && !slow.is_zero()
            && let Some(last) = act.last_sent
        {
            let since = now.saturating_duration_since(last);
            if since < slow {
                self.counters.rejected += 1;
                return SendDecision::Rejected(
                    Rejection::new(
                        RejectCode::SlowMode,
                        format!(
                            "slow mode: one message every {}",
                            text::duration_words(u64::from(self.mode.slow_seconds))
                        ),
                    )
                    .retry_after(slow - since),
                );
            }
        }
        match act.window_start {
            Some(start) if now.saturating_duration_since(start) < window => {
                if act.count >= limit {
                    let wait = window - now.saturating_duration_since(start);
                    self.counters.rejected += 1;
                    return SendDecision::Rejected(
                        Rejection::new(
                            RejectCode::RateLimited,
                            format!(
                                "at most {limit} messages per {}",
                                text::duration_words(window.as_secs())
                            ),
                        )
                        .retry_after(wait),
                    );
                }
            }
            _ => {
                act.window_start = Some(now);
                act.count = 0;
            }
        }
        if self.pending.len() + self.in_flight.len() >= self.limits.max_pending {
            self.counters.rejected += 1;
            return reject(
                RejectCode::Overloaded,
                "too many messages are waiting to be stored; try again shortly",
            );
        }
        act.count += 1;
        act.last_sent = Some(now);
        self.pending_keys.insert(key);
        self.pending.push_back(PendingSend {
            user_id: user.id,
            username: user.username.clone(),
            role,
            text,
            client_id: client_id.to_owned(),
            reply_to: vec![session],
        });
        SendDecision::Queued
    }

    /// Takes the next batch to store, unless one is being stored.
    pub fn take_batch(&mut self) -> Option<Vec<PendingSend>> {
        if !self.in_flight.is_empty() || self.pending.is_empty() {
            return None;
        }
        let n = self.pending.len().min(self.limits.batch_max);
        self.in_flight = self.pending.drain(..n).collect();
        Some(self.in_flight.clone())
    }

    /// The batch taken by [`RoomCore::take_batch`] was committed with ids
    /// `first_id..first_id+len`: ack each sender and deliver the messages in order.
    /// Returns the stored messages (to publish to other nodes).
    pub fn batch_committed(&mut self, first_id: i64, sent_at: DateTime<Utc>) -> Vec<StoredMessage> {
        let batch = std::mem::take(&mut self.in_flight);
        let mut stored = Vec::with_capacity(batch.len());
        for (i, p) in batch.into_iter().enumerate() {
            let id = first_id + i as i64;
            self.pending_keys.remove(&(p.user_id, p.client_id.clone()));
            let ack = ServerMsg::Ack {
                client_id: p.client_id.clone(),
                id,
            };
            for s in &p.reply_to {
                self.reply(*s, &ack);
            }
            let m = StoredMessage {
                msg: ChatMessage {
                    id,
                    user_id: p.user_id,
                    username: p.username,
                    role: p.role,
                    text: p.text,
                    sent_at,
                },
                client_id: Some(p.client_id),
                deleted: false,
            };
            stored.push(m.clone());
            self.accept(m, Instant::now());
        }
        stored
    }

    /// Storing the batch failed: every sender gets `rejected` with code `unavailable` and may
    /// retry with the same `client_id`. Nothing was delivered.
    pub fn batch_failed(&mut self, why: &str) {
        let batch = std::mem::take(&mut self.in_flight);
        for p in batch {
            self.pending_keys.remove(&(p.user_id, p.client_id.clone()));
            let msg = Rejection::new(
                RejectCode::Unavailable,
                format!("the message could not be stored ({why}); retry"),
            )
            .into_msg("send", Some(p.client_id.clone()));
            for s in &p.reply_to {
                self.reply(*s, &msg);
            }
            self.counters.rejected += 1;
        }
    }

    /// Every send still waiting (none is being stored) is refused like a failed batch: the
    /// room could not make sure which of them are stored already.
    pub fn fail_waiting(&mut self, why: &str) {
        debug_assert!(self.in_flight.is_empty());
        self.in_flight = self.pending.drain(..).collect();
        self.batch_failed(why);
    }

    /// After a failed store the commit may still have gone through (the reply was lost). The
    /// room reads what the database holds past [`RoomCore::head`], [`accept`](Self::accept)s
    /// it, then calls this: a waiting send whose `client_id` turned out to be stored is acked
    /// with the stored id instead of being stored twice. Returns how many were.
    pub fn settle_stored(&mut self) -> usize {
        let mut settled = 0;
        for p in std::mem::take(&mut self.pending) {
            let key = (p.user_id, p.client_id.clone());
            let Some(&id) = self.stored_keys.get(&key) else {
                self.pending.push_back(p);
                continue;
            };
            self.pending_keys.remove(&key);
            let ack = ServerMsg::Ack {
                client_id: p.client_id,
                id,
            };
            for s in &p.reply_to {
                self.reply(*s, &ack);
            }
            settled += 1;
        }
        settled
    }

    /// A stored message (from this node's batch, another node or the database), delivered in
    /// id order. Returns false if it was a duplicate.
    pub fn accept(&mut self, m: StoredMessage, now: Instant) -> bool {
        let id = m.msg.id;
        if id <= self.head || self.reorder.contains_key(&id) {
            return false;
        }
        self.reorder.insert(id, m);
        while let Some(entry) = self.reorder.first_entry() {
            if *entry.key() != self.head + 1 {
                break;
            }
            let mut m = entry.remove();
            self.head = m.msg.id;
            if self.early_deletes.remove(&m.msg.id) {
                m.deleted = true;
            }
            if !m.deleted {
                self.broadcast(&ServerMsg::Message(m.msg.clone()));
                self.outbox_max_id = Some(m.msg.id);
            }
            self.counters.messages += 1;
            self.push_ring(m);
        }
        if self.reorder.is_empty() {
            self.gap_since = None;
        } else if self.gap_since.is_none() {
            self.gap_since = Some(now);
        }
        true
    }

    /// A gap older than `patience` (or too many messages waiting behind one): the ids to load
    /// from the database, inclusive.
    pub fn gap_to_fill(&self, now: Instant, patience: Duration) -> Option<(i64, i64)> {
        let first_waiting = *self.reorder.keys().next()?;
        let overdue = self
            .gap_since
            .is_some_and(|t| now.saturating_duration_since(t) >= patience);
        (overdue || self.reorder.len() >= self.limits.max_reorder)
            .then_some((self.head + 1, first_waiting - 1))
    }

    /// Forgets rate-limit state older than the window.
    pub fn prune(&mut self, now: Instant) {
        let keep = self
            .limits
            .rate_window
            .max(Duration::from_secs(u64::from(self.mode.slow_seconds)));
        self.activity.retain(|_, a| {
            a.last_sent
                .is_some_and(|t| now.saturating_duration_since(t) < keep)
        });
    }
}
