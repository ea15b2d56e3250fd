//! What notification sockets and the notifications API send: serde-tagged JSON, exported to
//! TypeScript for the web app.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::bus::NotificationPush;

/// One in-app notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct NotificationDto {
    pub id: i64,
    /// `stream_online`, or `report_resolved` (a report the user made was decided; `title`
    /// says how).
    pub kind: String,
    pub channel_slug: String,
    pub channel_title: String,
    /// Who streams on the channel, as people see them: the owner's display name (their
    /// username when they set none). What the go-live toast names.
    pub streamer_name: String,
    /// The broadcast's title.
    pub title: String,
    pub broadcast_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

/// How a notification names the streamer: the display name, else the username.
pub fn streamer_name(display_name: &str, username: &str) -> String {
    let name = display_name.trim();
    if name.is_empty() {
        username.to_owned()
    } else {
        name.to_owned()
    }
}

impl NotificationDto {
    pub fn from_push(id: i64, n: &NotificationPush) -> Self {
        Self {
            id,
            kind: n.kind.clone(),
            channel_slug: n.channel_slug.clone(),
            channel_title: n.channel_title.clone(),
            streamer_name: n.streamer_name.clone(),
            title: n.title.clone(),
            broadcast_id: n.broadcast_id,
            created_at: n.created_at,
            read: false,
        }
    }
}

/// Client to server on `WS /api/v1/notifications/ws`. The first message must be `auth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NotifyClientMsg {
    Auth { token: String },
    Ping,
}

/// Server to client on `WS /api/v1/notifications/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NotifyServerMsg {
    /// Authenticated; the user's unread count now.
    Ready {
        unread: i64,
    },
    /// A new notification, and the unread count with it.
    Notification {
        notification: NotificationDto,
        unread: i64,
    },
    Pong,
    /// Then the socket closes.
    Error {
        code: String,
        message: String,
    },
}
