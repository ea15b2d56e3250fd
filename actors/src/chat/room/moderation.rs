//! The room's side of moderation: [`policy`] decides, these perform the plan's reads,
//! writes and announcements.

use super::*;

impl ChatRoom {
    /// A moderation command from `actor`; `Ok` once it is stored and announced. The policy
    /// decides; this performs the plan's reads, writes and announcements.
    pub(super) fn moderate(
        &mut self,
        actor: JoinUser,
        msg: ClientMsg,
    ) -> ResponseActFuture<Self, Result<(), Rejection>> {
        let Some(core) = self.core.as_ref() else {
            return reject(RejectCode::Unavailable, "the room is starting");
        };
        let role = core.role_of(actor.id, actor.is_admin);
        match policy::authorize(role, msg, Utc::now()) {
            Err(r) => Box::pin(fut::ready(Err(r))),
            Ok(Plan::Delete { id }) => self.delete(actor, role, id),
            Ok(Plan::Restrict {
                user,
                until,
                reason,
            }) => self.restrict(actor, role, user, until, reason),
            Ok(Plan::Unban { user }) => self.unban(actor, user),
            Ok(Plan::SetMode(mode)) => self.set_mode(actor, mode),
        }
    }

    /// [`Plan::Delete`]: the author from memory or the database, [`policy::check_delete`],
    /// then store, log and announce.
    fn delete(
        &mut self,
        actor: JoinUser,
        role: ChatRole,
        id: i64,
    ) -> ResponseActFuture<Self, Result<(), Rejection>> {
        let db = self.deps.db.clone();
        let channel_id = self.key.channel_id;
        let by = actor.username.clone();
        let local = self.core.as_ref().and_then(|c| c.message_author(id));
        let fut = async move {
            let author = match local {
                Some(a) => Some(a),
                None => store::message_author(&db, channel_id, id)
                    .await
                    .map_err(unavailable)?,
            };
            let DeleteStep::Delete { author_id } = policy::check_delete(actor.id, role, author)?
            else {
                return Ok(false);
            };
            store::delete_message(&db, channel_id, id, actor.id)
                .await
                .map_err(unavailable)?;
            log(
                &db,
                channel_id,
                actor.id,
                "delete",
                Some(author_id),
                Some(id),
                None,
            )
            .await;
            Ok(true)
        };
        Box::pin(fut.into_actor(self).map(move |res, act, ctx| {
            if res? {
                if let Some(core) = act.core.as_mut() {
                    core.apply_deleted(id, &by);
                }
                act.publish(RoomEvent::Deleted { id, by });
                act.schedule_flush(ctx);
            }
            Ok(())
        }))
    }

    /// [`Plan::Unban`]: the user and the ban in force, [`policy::check_unban`], then remove,
    /// log and announce.
    fn unban(
        &mut self,
        actor: JoinUser,
        user: String,
    ) -> ResponseActFuture<Self, Result<(), Rejection>> {
        let db = self.deps.db.clone();
        let channel_id = self.key.channel_id;
        let by = actor.username.clone();
        let fut = async move {
            let (target_id, target_name, _) = store::find_user(&db, &user)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| Rejection::new(RejectCode::NotFound, "no such user"))?;
            let in_force = store::active_ban(&db, channel_id, target_id)
                .await
                .map_err(unavailable)?
                .map(|ban| ban.expires_at);
            let action = policy::check_unban(&target_name, in_force)?;
            store::remove_ban(&db, channel_id, target_id)
                .await
                .map_err(unavailable)?;
            log(
                &db,
                channel_id,
                actor.id,
                action,
                Some(target_id),
                None,
                None,
            )
            .await;
            Ok((target_id, target_name))
        };
        Box::pin(fut.into_actor(self).map(move |res, act, ctx| {
            let (user_id, user) = res?;
            if let Some(core) = act.core.as_mut() {
                core.apply_unban(user_id, &user, &by);
            }
            act.publish(RoomEvent::Unban { user_id, user, by });
            act.schedule_flush(ctx);
            Ok(())
        }))
    }

    /// [`Plan::SetMode`]: store, log and announce.
    fn set_mode(
        &mut self,
        actor: JoinUser,
        mode: RoomMode,
    ) -> ResponseActFuture<Self, Result<(), Rejection>> {
        let db = self.deps.db.clone();
        let channel_id = self.key.channel_id;
        let fut = async move {
            store::set_mode(&db, channel_id, mode)
                .await
                .map_err(unavailable)?;
            let details = serde_json::to_string(&mode).ok();
            log(&db, channel_id, actor.id, "set_mode", None, None, details).await;
            Ok(())
        };
        Box::pin(fut.into_actor(self).map(move |res, act, ctx| {
            res?;
            if let Some(core) = act.core.as_mut() {
                core.apply_mode(mode);
            }
            act.publish(RoomEvent::Mode(mode));
            act.schedule_flush(ctx);
            Ok(())
        }))
    }

    /// [`Plan::Restrict`], a ban (`until` = None) or a timeout: the user (their role needs
    /// the room's moderator list), [`policy::check_restrict`], then store, log and announce.
    fn restrict(
        &mut self,
        actor: JoinUser,
        role: ChatRole,
        user: String,
        until: Option<chrono::DateTime<Utc>>,
        reason: Option<String>,
    ) -> ResponseActFuture<Self, Result<(), Rejection>> {
        let db = self.deps.db.clone();
        let channel_id = self.key.channel_id;
        let by = actor.username.clone();
        let lookup = async move { store::find_user(&db, &user).await };
        Box::pin(
            lookup
                .into_actor(self)
                .then({
                    let reason = reason.clone();
                    move |res, act, _| {
                        let checked = (|| {
                            let (target_id, target_name, target_admin) =
                                res.map_err(unavailable)?.ok_or_else(|| {
                                    Rejection::new(RejectCode::NotFound, "no such user")
                                })?;
                            let core = act.core.as_ref().ok_or_else(|| {
                                Rejection::new(RejectCode::Unavailable, "the room is starting")
                            })?;
                            policy::check_restrict(role, core.role_of(target_id, target_admin))?;
                            Ok((target_id, target_name))
                        })();
                        let db = act.deps.db.clone();
                        async move {
                            let (target_id, target_name) = checked?;
                            store::upsert_ban(
                                &db,
                                channel_id,
                                target_id,
                                actor.id,
                                reason.clone(),
                                until,
                            )
                            .await
                            .map_err(unavailable)?;
                            let (action, details) = policy::restrict_log(until, reason);
                            log(
                                &db,
                                channel_id,
                                actor.id,
                                action,
                                Some(target_id),
                                None,
                                details,
                            )
                            .await;
                            Ok((target_id, target_name))
                        }
                        .into_actor(act)
                    }
                })
                .map(move |res: Result<(i64, String), Rejection>, act, ctx| {
                    let (user_id, user) = res?;
                    if let Some(core) = act.core.as_mut() {
                        core.apply_ban(user_id, &user, until, reason.clone(), &by, Utc::now());
                    }
                    act.publish(RoomEvent::Ban {
                        user_id,
                        user,
                        until,
                        reason,
                        by,
                    });
                    act.schedule_flush(ctx);
                    Ok(())
                }),
        )
    }
}

/// The moderation log is best effort: the action itself is already stored.
async fn log(
    db: &sea_orm::DatabaseConnection,
    channel_id: i64,
    actor_id: i64,
    action: &str,
    target: Option<i64>,
    message_id: Option<i64>,
    details: Option<String>,
) {
    if let Err(e) = store::log_action(
        db, channel_id, actor_id, action, target, message_id, details,
    )
    .await
    {
        tracing::warn!(error = %e, action, "chat: could not write the moderation log");
    }
}
