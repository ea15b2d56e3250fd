//! The audit log: every admin and moderator action goes through [`record`], in the same
//! transaction as the change it records where there is one, so the log and the data never
//! disagree. Read back by `GET /api/v1/admin/audit` ([`crate::api::admin_audit`]).

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use streamhall_entities::{audit_log, user};

use crate::error::ApiResult;

/// What was done. The wire name (`as_str`) is what the log stores and the API filters on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// An admin ended a live stream.
    StreamStop,
    /// An admin restarted a service (chat directory, presence, notifier).
    ServiceRestart,
    /// An admin restarted a channel's chat room.
    ChatRoomRestart,
    /// An admin closed a channel's chat room.
    ChatRoomClose,
    /// A user was suspended (for a time or permanently).
    UserSuspend,
    /// A suspension was lifted.
    UserUnsuspend,
    /// A user's role changed (`user`, `moderator`, `admin`).
    UserRole,
    /// A user was deleted with their channels.
    UserDelete,
    /// An admin took down what a DMCA notice names.
    DmcaTakedown,
    /// An admin rejected a DMCA notice.
    DmcaReject,
    /// An admin recorded that a DMCA claimant went to court: no counter-notice restores.
    DmcaLegalAction,
    /// The system restored an uploader's items after their counter-notice's waiting period.
    DmcaRestore,
    /// A staff member claimed a report case.
    ReportClaim,
    /// A staff member resolved a report case with an action (the detail names it).
    ReportResolve,
}

impl Action {
    pub const ALL: &[Action] = &[
        Self::StreamStop,
        Self::ServiceRestart,
        Self::ChatRoomRestart,
        Self::ChatRoomClose,
        Self::UserSuspend,
        Self::UserUnsuspend,
        Self::UserRole,
        Self::UserDelete,
        Self::DmcaTakedown,
        Self::DmcaReject,
        Self::DmcaLegalAction,
        Self::DmcaRestore,
        Self::ReportClaim,
        Self::ReportResolve,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StreamStop => "stream.stop",
            Self::ServiceRestart => "service.restart",
            Self::ChatRoomRestart => "chat_room.restart",
            Self::ChatRoomClose => "chat_room.close",
            Self::UserSuspend => "user.suspend",
            Self::UserUnsuspend => "user.unsuspend",
            Self::UserRole => "user.role",
            Self::UserDelete => "user.delete",
            Self::DmcaTakedown => "dmca.takedown",
            Self::DmcaReject => "dmca.reject",
            Self::DmcaLegalAction => "dmca.legal_action",
            Self::DmcaRestore => "dmca.restore",
            Self::ReportClaim => "report.claim",
            Self::ReportResolve => "report.resolve",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == s)
    }
}

/// What an action was done to: its kind (`user`, `channel`, `service`, `report`,
/// `dmca_notice`) and id or name.
pub struct Target {
    pub kind: &'static str,
    pub id: String,
}

impl Target {
    pub fn user(id: i64) -> Self {
        Self {
            kind: "user",
            id: id.to_string(),
        }
    }

    pub fn channel(slug: &str) -> Self {
        Self {
            kind: "channel",
            id: slug.to_owned(),
        }
    }

    pub fn dmca_notice(id: i64) -> Self {
        Self {
            kind: "dmca_notice",
            id: id.to_string(),
        }
    }

    pub fn report(id: i64) -> Self {
        Self {
            kind: "report",
            id: id.to_string(),
        }
    }

    pub fn service(kind: &str) -> Self {
        Self {
            kind: "service",
            id: kind.to_owned(),
        }
    }
}

/// Adds one entry. `actor` is `None` for the system; `detail` is a JSON object of whatever
/// else the entry should keep (never a secret).
pub async fn record(
    db: &impl ConnectionTrait,
    actor: Option<&user::Model>,
    action: Action,
    target: Target,
    reason: Option<&str>,
    detail: serde_json::Value,
) -> ApiResult<()> {
    audit_log::ActiveModel {
        at: Set(Utc::now()),
        actor_id: Set(actor.map(|a| a.id)),
        actor_name: Set(actor.map(|a| a.username.clone())),
        action: Set(action.as_str().to_owned()),
        target_kind: Set(target.kind.to_owned()),
        target_id: Set(target.id),
        reason: Set(reason.map(str::to_owned)),
        detail: Set(detail.to_string()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    tracing::info!(
        action = action.as_str(),
        target_kind = target.kind,
        actor = actor.map(|a| a.id),
        "audit: recorded"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn every_action_parses_back_from_its_name() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(*a));
        }
        assert_eq!(Action::parse("user.nothing"), None);
    }
}
