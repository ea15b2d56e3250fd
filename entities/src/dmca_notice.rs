//! `dmca_notices`: a copyright owner's DMCA notice and what an admin decided on it.

use sea_orm::entity::prelude::*;

/// Waiting for an admin.
pub const STATE_RECEIVED: &str = "received";
/// Every item it names was taken down.
pub const STATE_TAKEN_DOWN: &str = "taken_down";
/// An admin found it invalid; nothing was taken down.
pub const STATE_REJECTED: &str = "rejected";
pub const STATES: &[&str] = &[STATE_RECEIVED, STATE_TAKEN_DOWN, STATE_REJECTED];

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dmca_notices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `received`, `taken_down` or `rejected`.
    pub state: String,
    pub claimant_name: String,
    pub claimant_email: String,
    /// Postal address and phone number, as the claimant wrote them.
    pub claimant_contact: String,
    /// The copyrighted work the claimant says is infringed.
    pub work_description: String,
    /// The claimant's electronic signature (their full name).
    pub signature: String,
    pub created_at: DateTimeUtc,
    /// When an admin took it down or rejected it, and who.
    pub decided_at: Option<DateTimeUtc>,
    pub decided_by: Option<i64>,
    /// The admin's note (a rejection's reason).
    pub decision_note: Option<String>,
    /// The claimant went to court: no counter-notice restores anything any more.
    pub legal_action_at: Option<DateTimeUtc>,
    pub legal_action_note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
