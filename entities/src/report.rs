//! `reports`: a moderation case, one per reported item while it is open (see the migration
//! `m20261207_000012_reports`). Its reporters are in [`crate::report_reporter`].

use sea_orm::entity::prelude::*;

pub const STATE_OPEN: &str = "open";
pub const STATE_CLAIMED: &str = "claimed";
pub const STATE_RESOLVED: &str = "resolved";

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reports")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `channel`, `message`, `video` or `clip`.
    pub kind: String,
    /// The channel's id, `{channel_id}:{message_id}`, the video's or the clip's id.
    pub item_id: String,
    /// The reported item's channel (no foreign key: the case outlives it).
    pub channel_id: Option<i64>,
    /// `{kind}:{item_id}` while open or claimed; `None` once resolved (unique).
    pub open_key: Option<String>,
    /// `open`, `claimed` or `resolved`.
    pub state: String,
    /// The first report's reason (each reporter's own is on their row).
    pub reason: String,
    /// How many users reported the item in this case.
    pub report_count: i32,
    /// JSON: what was reported, as it was then.
    #[sea_orm(column_type = "Text")]
    pub snapshot: String,
    /// The object-store key of the channel's live thumbnail, copied when the case opened.
    pub thumbnail_key: Option<String>,
    pub created_at: DateTimeUtc,
    /// When it was last reported or acted on.
    pub updated_at: DateTimeUtc,
    pub claimed_by: Option<i64>,
    pub claimed_at: Option<DateTimeUtc>,
    pub resolved_by: Option<i64>,
    pub resolved_at: Option<DateTimeUtc>,
    /// `dismiss`, `delete_message`, `end_stream`, `take_down` or `suspend`.
    pub action: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
