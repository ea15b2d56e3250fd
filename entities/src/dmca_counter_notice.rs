//! `dmca_counter_notices`: an uploader's counter-notice to a DMCA notice (one per notice and
//! uploader), and the restore it schedules.

use sea_orm::entity::prelude::*;

/// The restore is scheduled for `restore_due_at`.
pub const STATE_WAITING: &str = "waiting";
/// The uploader's items were put back.
pub const STATE_RESTORED: &str = "restored";
/// The claimant went to court: nothing is restored.
pub const STATE_LEGAL_ACTION: &str = "legal_action";

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dmca_counter_notices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub notice_id: i64,
    /// The uploader (the owner of the items' channel).
    pub user_id: i64,
    /// `waiting`, `restored` or `legal_action`.
    pub state: String,
    pub full_name: String,
    /// Postal address and phone number.
    pub contact: String,
    /// Why the takedown was a mistake or a misidentification.
    pub statement: String,
    /// The uploader's electronic signature (their full name).
    pub signature: String,
    pub created_at: DateTimeUtc,
    /// When the items come back unless legal action is recorded first.
    pub restore_due_at: DateTimeUtc,
    pub restored_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
