//! What a camera pull's state looks like to the streamer (ingest settings) and the admin (the
//! health tree): a leaf module, so the registry's [`HealthTree`](crate::registry::HealthTree)
//! names it without depending on [`crate::pull`].

use chrono::{DateTime, Utc};
use serde::Serialize;
use ts_rs::TS;

/// Where a channel's pull stands, as the streamer's dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum PullState {
    /// Not pulling: on demand with nobody watching, or stopped.
    Idle,
    Connecting,
    /// Frames are flowing into the stream.
    Live,
    /// The last attempt failed (see `last_error`); the next one is scheduled.
    Retrying,
    /// Not pulling because the owner may not stream now: suspended, or their email address is
    /// unverified where that is required (`last_error` says which). Resumes by itself.
    Held,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct PullStatus {
    pub state: PullState,
    /// Why the last attempt failed or the session dropped; no credentials in it.
    pub last_error: Option<String>,
    /// Since when the state holds.
    pub since: DateTime<Utc>,
}

/// One pull of this node as the admin's health tree lists it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct PullHealth {
    pub channel: String,
    pub status: PullStatus,
}

impl PullStatus {
    pub(crate) fn now(state: PullState, last_error: Option<String>) -> Self {
        Self {
            state,
            last_error,
            since: Utc::now(),
        }
    }
}
