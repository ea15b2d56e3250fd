//! Moderation, decided without I/O: who may do what to whom in a room, with which limits, and
//! what the room then has to write, log and announce.
//!
//! A moderation command goes through two steps, both here, with the room's I/O between them:
//! [`authorize`] checks the actor's standing and the command's own values and returns a
//! [`Plan`] (or a [`Rejection`]); the room reads what the plan needs (the target user, the
//! message's author, the ban in force) and asks the matching check ([`check_delete`],
//! [`check_restrict`], [`check_unban`]) before it writes. [`ChatRoom`](super::ChatRoom) only
//! performs the reads, writes and announcements.

use chrono::{DateTime, Utc};

use super::core::Rejection;
use super::protocol::{ChatRole, ClientMsg, RejectCode, RoomMode};

/// Longest timeout.
pub const MAX_TIMEOUT_SECS: u32 = 14 * 24 * 3600;
/// Longest slow mode.
pub const MAX_SLOW_SECS: u32 = 3600;
/// The longest follow age followers-only mode may ask for (90 days).
pub const MAX_FOLLOW_MINUTES: u32 = 90 * 24 * 60;
/// Characters of a ban's or timeout's reason kept.
pub const MAX_REASON_CHARS: usize = 200;

/// An authorized moderation command: what the room does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Hide message `id`: read its author (from memory or the database), then
    /// [`check_delete`].
    Delete { id: i64 },
    /// Ban (`until` = None) or time out `user`: look the user up, then [`check_restrict`];
    /// stored and logged as [`restrict_log`] says.
    Restrict {
        user: String,
        until: Option<DateTime<Utc>>,
        reason: Option<String>,
    },
    /// Lift `user`'s ban or timeout: look the user and the ban in force up, then
    /// [`check_unban`].
    Unban { user: String },
    /// Put these modes in force (stored, logged with the modes as JSON, announced).
    SetMode(RoomMode),
}

/// Whether `actor` may moderate `target` (who has `target` standing in the same room).
pub fn may_act_on(actor: ChatRole, target: ChatRole) -> bool {
    match actor {
        ChatRole::Viewer => false,
        ChatRole::Moderator => target == ChatRole::Viewer,
        ChatRole::Owner => matches!(target, ChatRole::Viewer | ChatRole::Moderator),
        ChatRole::Admin => target != ChatRole::Admin,
    }
}

/// The first step: may someone of `role` give `command` at `now`, and with these values?
pub fn authorize(
    role: ChatRole,
    command: ClientMsg,
    now: DateTime<Utc>,
) -> Result<Plan, Rejection> {
    if !role.can_moderate() {
        return Err(Rejection::new(
            RejectCode::Forbidden,
            "only the channel's moderators can do that",
        ));
    }
    match command {
        ClientMsg::Delete { id } => Ok(Plan::Delete { id }),
        ClientMsg::Timeout {
            user,
            seconds,
            reason,
        } => {
            if seconds == 0 || seconds > MAX_TIMEOUT_SECS {
                return Err(Rejection::new(
                    RejectCode::Invalid,
                    "a timeout lasts from 1 second to 2 weeks",
                ));
            }
            Ok(Plan::Restrict {
                user,
                until: Some(now + chrono::Duration::seconds(i64::from(seconds))),
                reason: clean_reason(reason),
            })
        }
        ClientMsg::Ban { user, reason } => Ok(Plan::Restrict {
            user,
            until: None,
            reason: clean_reason(reason),
        }),
        ClientMsg::Unban { user } => Ok(Plan::Unban { user }),
        ClientMsg::SetMode {
            slow_seconds,
            followers_only,
            emote_only,
        } => {
            if slow_seconds > MAX_SLOW_SECS {
                return Err(Rejection::new(
                    RejectCode::Invalid,
                    "slow mode is at most 1 hour",
                ));
            }
            if followers_only.is_some_and(|m| m > MAX_FOLLOW_MINUTES) {
                return Err(Rejection::new(
                    RejectCode::Invalid,
                    "followers-only mode asks for at most 90 days of following",
                ));
            }
            Ok(Plan::SetMode(RoomMode {
                slow_seconds,
                followers_only,
                emote_only,
            }))
        }
        ClientMsg::Send { .. } | ClientMsg::Resume { .. } | ClientMsg::Ping => Err(Rejection::new(
            RejectCode::BadRequest,
            "not a moderation command",
        )),
    }
}

/// What a delete does, once the message's author is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteStep {
    /// Store the deletion, log it against `author_id`, announce it.
    Delete { author_id: i64 },
    /// Already deleted: nothing to write or announce, and not an error.
    AlreadyDone,
}

/// The second step of [`Plan::Delete`]: `author` is (author id, the author's role when they
/// posted, whether the message is already deleted), `None` if there is no such message. Anyone
/// who may moderate may delete their own messages.
pub fn check_delete(
    actor_id: i64,
    role: ChatRole,
    author: Option<(i64, ChatRole, bool)>,
) -> Result<DeleteStep, Rejection> {
    let Some((author_id, author_role, deleted)) = author else {
        return Err(Rejection::new(RejectCode::NotFound, "no such message"));
    };
    if deleted {
        return Ok(DeleteStep::AlreadyDone);
    }
    if author_id != actor_id && !may_act_on(role, author_role) {
        return Err(Rejection::new(
            RejectCode::Forbidden,
            "you cannot delete that user's messages",
        ));
    }
    Ok(DeleteStep::Delete { author_id })
}

/// The second step of [`Plan::Restrict`], once the target's role in the room is known.
pub fn check_restrict(role: ChatRole, target: ChatRole) -> Result<(), Rejection> {
    if may_act_on(role, target) {
        Ok(())
    } else {
        Err(Rejection::new(
            RejectCode::Forbidden,
            format!("you cannot ban or time out a {target:?}").to_lowercase(),
        ))
    }
}

/// The moderation log's action and details for a [`Plan::Restrict`].
pub fn restrict_log(
    until: Option<DateTime<Utc>>,
    reason: Option<String>,
) -> (&'static str, Option<String>) {
    let action = if until.is_some() { "timeout" } else { "ban" };
    let details = match (until, reason) {
        (Some(u), Some(r)) => Some(format!("{}: {r}", u.to_rfc3339())),
        (Some(u), None) => Some(u.to_rfc3339()),
        (None, r) => r,
    };
    (action, details)
}

/// The second step of [`Plan::Unban`]: `in_force` is the ban in force, if any, with its
/// expiry (`None`: a ban, `Some`: a timeout). Lifting nothing is refused, so "/unban x" never
/// says done for nothing. Returns the moderation log's action.
pub fn check_unban(
    target_name: &str,
    in_force: Option<Option<DateTime<Utc>>>,
) -> Result<&'static str, Rejection> {
    match in_force {
        None => Err(Rejection::new(
            RejectCode::NotFound,
            format!("{target_name} is not banned or timed out"),
        )),
        Some(Some(_)) => Ok("untimeout"),
        Some(None) => Ok("unban"),
    }
}

/// A ban's or timeout's reason as stored: trimmed, at most [`MAX_REASON_CHARS`] characters,
/// none if empty.
pub fn clean_reason(reason: Option<String>) -> Option<String> {
    reason
        .map(|r| r.trim().chars().take(MAX_REASON_CHARS).collect::<String>())
        .filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use ChatRole::{Admin, Moderator, Owner, Viewer};

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn code(r: Result<impl std::fmt::Debug, Rejection>) -> RejectCode {
        r.unwrap_err().code
    }

    fn timeout(seconds: u32, reason: Option<&str>) -> ClientMsg {
        ClientMsg::Timeout {
            user: "bob".into(),
            seconds,
            reason: reason.map(str::to_owned),
        }
    }

    fn mode(slow_seconds: u32, followers_only: Option<u32>) -> ClientMsg {
        ClientMsg::SetMode {
            slow_seconds,
            followers_only,
            emote_only: true,
        }
    }

    #[test]
    fn who_may_moderate_whom() {
        assert!(!may_act_on(Viewer, Viewer));
        assert!(may_act_on(Moderator, Viewer));
        assert!(!may_act_on(Moderator, Moderator));
        assert!(!may_act_on(Moderator, Owner));
        assert!(may_act_on(Owner, Moderator));
        assert!(!may_act_on(Owner, Admin));
        assert!(may_act_on(Admin, Owner));
        assert!(!may_act_on(Admin, Admin));
    }

    #[test]
    fn viewers_may_give_no_moderation_command() {
        for cmd in [
            ClientMsg::Delete { id: 1 },
            timeout(60, None),
            ClientMsg::Ban {
                user: "bob".into(),
                reason: None,
            },
            ClientMsg::Unban { user: "bob".into() },
            mode(0, None),
        ] {
            let r = authorize(Viewer, cmd, now()).unwrap_err();
            assert_eq!(r.code, RejectCode::Forbidden);
            assert_eq!(r.message, "only the channel's moderators can do that");
        }
    }

    #[test]
    fn chat_commands_are_not_moderation() {
        for cmd in [
            ClientMsg::Ping,
            ClientMsg::Resume { last_id: 3 },
            ClientMsg::Send {
                client_id: "c".into(),
                text: "hi".into(),
            },
        ] {
            assert_eq!(
                code(authorize(Moderator, cmd, now())),
                RejectCode::BadRequest
            );
        }
        // The standing is checked first, whatever the command.
        assert_eq!(
            code(authorize(Viewer, ClientMsg::Ping, now())),
            RejectCode::Forbidden
        );
    }

    #[test]
    fn a_timeout_lasts_one_second_to_two_weeks_from_now() {
        assert_eq!(
            code(authorize(Moderator, timeout(0, None), now())),
            RejectCode::Invalid
        );
        assert_eq!(
            code(authorize(
                Moderator,
                timeout(MAX_TIMEOUT_SECS + 1, None),
                now()
            )),
            RejectCode::Invalid
        );
        let plan = authorize(
            Moderator,
            timeout(MAX_TIMEOUT_SECS, Some("  spam  ")),
            now(),
        );
        assert_eq!(
            plan.unwrap(),
            Plan::Restrict {
                user: "bob".into(),
                until: Some(now() + chrono::Duration::days(14)),
                reason: Some("spam".into()),
            }
        );
    }

    #[test]
    fn a_ban_has_no_end_and_a_blank_reason_is_none() {
        let plan = authorize(
            Owner,
            ClientMsg::Ban {
                user: "bob".into(),
                reason: Some("   ".into()),
            },
            now(),
        );
        assert_eq!(
            plan.unwrap(),
            Plan::Restrict {
                user: "bob".into(),
                until: None,
                reason: None,
            }
        );
        let long = "x".repeat(MAX_REASON_CHARS + 50);
        assert_eq!(
            clean_reason(Some(long)).unwrap().chars().count(),
            MAX_REASON_CHARS
        );
    }

    #[test]
    fn modes_are_bounded() {
        assert_eq!(
            code(authorize(Moderator, mode(MAX_SLOW_SECS + 1, None), now())),
            RejectCode::Invalid
        );
        assert_eq!(
            code(authorize(
                Moderator,
                mode(0, Some(MAX_FOLLOW_MINUTES + 1)),
                now()
            )),
            RejectCode::Invalid
        );
        assert_eq!(
            authorize(
                Moderator,
                mode(MAX_SLOW_SECS, Some(MAX_FOLLOW_MINUTES)),
                now()
            )
            .unwrap(),
            Plan::SetMode(RoomMode {
                slow_seconds: MAX_SLOW_SECS,
                followers_only: Some(MAX_FOLLOW_MINUTES),
                emote_only: true,
            })
        );
        assert_eq!(
            authorize(Moderator, ClientMsg::Delete { id: 9 }, now()).unwrap(),
            Plan::Delete { id: 9 }
        );
        assert_eq!(
            authorize(Moderator, ClientMsg::Unban { user: "b".into() }, now()).unwrap(),
            Plan::Unban { user: "b".into() }
        );
    }

    #[test]
    fn deletes_follow_the_author_standing_except_for_ones_own() {
        assert_eq!(code(check_delete(1, Moderator, None)), RejectCode::NotFound);
        assert_eq!(
            check_delete(1, Moderator, Some((2, Viewer, true))).unwrap(),
            DeleteStep::AlreadyDone
        );
        assert_eq!(
            check_delete(1, Moderator, Some((2, Viewer, false))).unwrap(),
            DeleteStep::Delete { author_id: 2 }
        );
        assert_eq!(
            code(check_delete(1, Moderator, Some((2, Owner, false)))),
            RejectCode::Forbidden
        );
        assert_eq!(
            check_delete(1, Moderator, Some((1, Moderator, false))).unwrap(),
            DeleteStep::Delete { author_id: 1 },
            "a moderator may delete their own message"
        );
    }

    #[test]
    fn bans_and_timeouts_reach_only_lower_standing() {
        check_restrict(Moderator, Viewer).unwrap();
        check_restrict(Admin, Owner).unwrap();
        let r = check_restrict(Moderator, Moderator).unwrap_err();
        assert_eq!(r.code, RejectCode::Forbidden);
        assert_eq!(r.message, "you cannot ban or time out a moderator");
    }

    #[test]
    fn the_log_says_what_was_done_and_until_when() {
        let until = now();
        assert_eq!(
            restrict_log(Some(until), Some("spam".into())),
            ("timeout", Some(format!("{}: spam", until.to_rfc3339())))
        );
        assert_eq!(
            restrict_log(Some(until), None),
            ("timeout", Some(until.to_rfc3339()))
        );
        assert_eq!(
            restrict_log(None, Some("r".into())),
            ("ban", Some("r".into()))
        );
        assert_eq!(restrict_log(None, None), ("ban", None));
    }

    #[test]
    fn lifting_nothing_is_refused_and_a_lift_says_what_it_lifted() {
        let r = check_unban("bob", None).unwrap_err();
        assert_eq!(r.code, RejectCode::NotFound);
        assert_eq!(r.message, "bob is not banned or timed out");
        assert_eq!(check_unban("bob", Some(Some(now()))).unwrap(), "untimeout");
        assert_eq!(check_unban("bob", Some(None)).unwrap(), "unban");
    }
}
