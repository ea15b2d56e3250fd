//! The chat wire protocol: JSON text frames, one message per frame, tagged by `type`.
//! Documented for client authors in `docs/CHAT.md`; exported to TypeScript for the web app
//! (`web/src/api/generated/`, checked by `tests/typescript.rs`).
//!
//! Ids are per room and increase by one per message, in the same order on every node, so a
//! client can sort by id, drop what it already has, and resume after the last one it saw.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, TS)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// Post a message. `client_id` (1..=64 characters, unique per message) makes retries
    /// idempotent and is echoed in `ack` / `rejected`.
    Send {
        client_id: String,
        text: String,
    },
    /// Moderators: hide a message for everyone.
    Delete {
        id: i64,
    },
    /// Moderators: keep `user` (a username) from posting for 1..=1209600 seconds.
    Timeout {
        user: String,
        seconds: u32,
        /// Shown in the bans list (at most 200 characters kept).
        #[serde(default)]
        #[ts(optional)]
        reason: Option<String>,
    },
    /// Moderators: keep `user` from posting until unbanned.
    Ban {
        user: String,
        #[serde(default)]
        #[ts(optional)]
        reason: Option<String>,
    },
    /// Moderators: lift a ban or a timeout.
    Unban {
        user: String,
    },
    /// Moderators: change the room's modes.
    SetMode {
        /// Seconds between two messages of one user (0 = off, at most 3600).
        slow_seconds: u32,
        /// Only users following the channel for at least this many minutes may post.
        #[serde(default)]
        #[ts(optional)]
        followers_only: Option<u32>,
        /// Only emote codes (`:wave:`) may be posted.
        emote_only: bool,
    },
    /// Send everything after `last_id` that this connection has not delivered yet. On a
    /// reconnect, `?last_id=` in the socket URL does the same before anything else is sent.
    Resume {
        last_id: i64,
    },
    Ping,
}

impl ClientMsg {
    /// The action name used in `rejected`.
    pub fn action(&self) -> &'static str {
        match self {
            ClientMsg::Send { .. } => "send",
            ClientMsg::Delete { .. } => "delete",
            ClientMsg::Timeout { .. } => "timeout",
            ClientMsg::Ban { .. } => "ban",
            ClientMsg::Unban { .. } => "unban",
            ClientMsg::SetMode { .. } => "set_mode",
            ClientMsg::Resume { .. } => "resume",
            ClientMsg::Ping => "ping",
        }
    }
}

/// A user's standing in one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    Viewer,
    Moderator,
    Owner,
    Admin,
}

impl ChatRole {
    pub fn can_moderate(self) -> bool {
        self != ChatRole::Viewer
    }
}

/// One chat message as every client sees it. `text` is plain text: render it as text, never
/// as HTML; emote codes (`:wave:`) may be replaced by the images listed at
/// `GET /api/v1/chat/emotes`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, TS)]
pub struct ChatMessage {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub role: ChatRole,
    pub text: String,
    pub sent_at: DateTime<Utc>,
}

/// The room's modes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, TS)]
pub struct RoomMode {
    pub slow_seconds: u32,
    /// Minutes a user must have followed the channel to post; `null` = anyone.
    pub followers_only: Option<u32>,
    pub emote_only: bool,
}

/// Who this connection is.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, TS)]
pub struct ChatUser {
    pub id: i64,
    pub username: String,
    pub role: ChatRole,
}

/// Why a request was refused (`rejected.code`, `error.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// Sending needs a login (a ticket in the socket URL).
    LoginRequired,
    /// Moderators only, or not allowed on this user.
    Forbidden,
    /// Empty, too long, or otherwise not a valid message.
    Invalid,
    /// Too many messages: wait `retry_after_ms`.
    RateLimited,
    /// Slow mode: wait `retry_after_ms`.
    SlowMode,
    /// Emote-only mode and the text has something else.
    EmoteOnly,
    /// Followers-only mode and the sender does not qualify.
    FollowersOnly,
    /// The text contains a term the channel blocks.
    BlockedTerm,
    Banned,
    TimedOut,
    /// No such user or message.
    NotFound,
    /// The message could not be stored; nothing was sent. Retry with the same `client_id`.
    Unavailable,
    /// Too many messages waiting to be stored; nothing was sent. Retry shortly.
    Overloaded,
    /// The frame was not a valid `ClientMsg`.
    BadRequest,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First frame on every connection.
    Welcome {
        channel: String,
        /// `null` for anonymous readers.
        you: Option<ChatUser>,
        mode: RoomMode,
        /// The newest message id in the room when this connection joined (0: none yet).
        last_id: i64,
    },
    Message(ChatMessage),
    /// `client_id`'s message is stored and has this id.
    Ack {
        client_id: String,
        id: i64,
    },
    /// A request was refused; nothing happened. `client_id` is set for `send`.
    Rejected {
        client_id: Option<String>,
        /// The `ClientMsg` type that was refused.
        action: String,
        code: RejectCode,
        message: String,
        /// For `rate_limited` and `slow_mode`: when to try again.
        retry_after_ms: Option<u64>,
    },
    Deleted {
        id: i64,
        by: String,
    },
    UserTimedOut {
        user: String,
        user_id: i64,
        seconds: u32,
        until: DateTime<Utc>,
        by: String,
    },
    UserBanned {
        user: String,
        user_id: i64,
        reason: Option<String>,
        by: String,
    },
    UserUnbanned {
        user: String,
        user_id: i64,
        by: String,
    },
    Mode(RoomMode),
    /// Messages this connection had not seen, oldest first, none deleted. `more`: there are
    /// older ones than the limit allowed; page with `GET /api/v1/chat/{slug}/messages`.
    History {
        messages: Vec<ChatMessage>,
        more: bool,
    },
    ViewerCount {
        count: u64,
    },
    /// Something about the connection itself (e.g. a frame that is not JSON); the socket may
    /// close after it.
    Error {
        code: RejectCode,
        message: String,
    },
    Pong,
}

impl ServerMsg {
    pub fn rejected(
        action: &str,
        client_id: Option<String>,
        code: RejectCode,
        message: impl Into<String>,
    ) -> Self {
        ServerMsg::Rejected {
            client_id,
            action: action.to_owned(),
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }
}

/// Close codes the server uses besides the standard ones.
pub mod close {
    /// 1008 policy: the client did not read its messages fast enough ("slow consumer").
    pub const SLOW_CONSUMER_REASON: &str = "slow consumer";
    /// 1009: a frame larger than [`super::MAX_FRAME_BYTES`].
    pub const TOO_BIG_REASON: &str = "frame too large";
}

/// Largest client frame accepted; larger closes the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 4096;
/// Longest message, in characters after trimming.
pub const MAX_MESSAGE_CHARS: usize = 500;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn client_messages_parse_from_documented_json() {
        let m: ClientMsg =
            serde_json::from_str(r#"{"type":"send","client_id":"a1","text":"hi"}"#).unwrap();
        assert_eq!(
            m,
            ClientMsg::Send {
                client_id: "a1".into(),
                text: "hi".into()
            }
        );
        let m: ClientMsg = serde_json::from_str(r#"{"type":"ping"}"#).unwrap();
        assert_eq!(m, ClientMsg::Ping);
        let m: ClientMsg =
            serde_json::from_str(r#"{"type":"set_mode","slow_seconds":5,"emote_only":false}"#)
                .unwrap();
        assert_eq!(
            m,
            ClientMsg::SetMode {
                slow_seconds: 5,
                followers_only: None,
                emote_only: false
            }
        );
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"send","text":"x"}"#).is_err());
        assert!(
            serde_json::from_str::<ClientMsg>(
                r#"{"type":"send","client_id":"a","text":"x","extra":1}"#
            )
            .is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn server_messages_are_flat_tagged_objects() {
        let msg = ServerMsg::Message(ChatMessage {
            id: 7,
            user_id: 3,
            username: "ann".into(),
            role: ChatRole::Moderator,
            text: "hello".into(),
            sent_at: DateTime::from_timestamp(0, 0).unwrap(),
        });
        let v = serde_json::to_value(&msg).unwrap();
        assert_eq!(v["type"], "message");
        assert_eq!(v["id"], 7);
        assert_eq!(v["role"], "moderator");
        assert_eq!(v["sent_at"], "1970-01-01T00:00:00Z");
        let v = serde_json::to_value(ServerMsg::Mode(RoomMode {
            slow_seconds: 3,
            followers_only: None,
            emote_only: true,
        }))
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"mode","slow_seconds":3,"followers_only":null,"emote_only":true})
        );
    }
}
