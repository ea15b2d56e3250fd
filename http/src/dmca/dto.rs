//! What the DMCA routes take and answer (exported to TypeScript for the web app).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// A DMCA notice, as the public form sends it. No account is needed.
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct NewDmcaNotice {
    /// The copyright owner or their agent: 1 to 200 characters.
    pub claimant_name: String,
    /// Where we write about the notice.
    pub claimant_email: String,
    /// Postal address and phone number: 1 to 500 characters.
    pub claimant_contact: String,
    /// The copyrighted work claimed to be infringed: 1 to 5000 characters.
    pub work_description: String,
    /// 1 to 20 addresses of videos or clips on this server (`/v/{id}`, `/clip/{id}`).
    pub urls: Vec<String>,
    /// "I have a good faith belief that use of the material in the manner complained of is
    /// not authorized by the copyright owner, its agent, or the law." Must be true.
    pub good_faith: bool,
    /// "The information in this notice is accurate, and under penalty of perjury, I am the
    /// owner, or authorized to act on behalf of the owner, of the right that is allegedly
    /// infringed." Must be true.
    pub accurate: bool,
    /// Electronic signature: the claimant's full name, 1 to 200 characters.
    pub signature: String,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct DmcaNoticeCreated {
    /// The notice's id: quote it when writing about it.
    pub id: i64,
    pub message: String,
}

/// An uploader's counter-notice.
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct NewCounterNotice {
    /// 1 to 200 characters.
    pub full_name: String,
    /// Postal address and phone number: 1 to 500 characters.
    pub contact: String,
    /// Why the material was removed by mistake or misidentification: 1 to 5000 characters.
    pub statement: String,
    /// "I have a good faith belief that the material was removed or disabled as a result of
    /// mistake or misidentification." Must be true.
    pub good_faith: bool,
    /// "I consent to the jurisdiction of the court for my address (or, outside the US, any
    /// judicial district in which this service may be found), and will accept service of
    /// process from the claimant." Must be true.
    pub consent_to_jurisdiction: bool,
    /// Electronic signature: the uploader's full name, 1 to 200 characters.
    pub signature: String,
}

/// A note an admin writes with a decision (a rejection's reason, the court case).
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct DmcaNote {
    /// 1 to 1000 characters.
    pub note: String,
}

/// A video or clip a notice names.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct DmcaItemDto {
    /// `video` or `clip`.
    pub kind: String,
    pub id: String,
    /// The address as the claimant sent it.
    pub url: String,
    /// `null` once the item is deleted.
    pub title: Option<String>,
    pub channel_slug: Option<String>,
    pub owner_id: i64,
    /// `null` once the account is deleted.
    pub owner_name: Option<String>,
    /// `up`, `taken_down` (by this notice), `taken_down_other` (by another case) or `gone`
    /// (deleted).
    pub status: String,
}

/// A counter-notice and the restore it scheduled.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CounterNoticeDto {
    pub id: i64,
    pub user_id: i64,
    pub username: Option<String>,
    /// `waiting` (the restore is scheduled), `restored` or `legal_action` (it will not be).
    pub state: String,
    pub full_name: String,
    pub contact: String,
    pub statement: String,
    pub signature: String,
    pub created_at: DateTime<Utc>,
    pub restore_due_at: DateTime<Utc>,
    pub restored_at: Option<DateTime<Utc>>,
}

/// A notice as an uploader it names sees it: only their items and their counter-notice.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct UploaderNoticeDto {
    pub id: i64,
    /// `received`, `taken_down` or `rejected`.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub claimant_name: String,
    pub work_description: String,
    pub decided_at: Option<DateTime<Utc>>,
    /// The claimant went to court: a counter-notice no longer restores.
    pub legal_action: bool,
    pub items: Vec<DmcaItemDto>,
    pub counter: Option<CounterNoticeDto>,
    /// Seconds from a counter-notice to the restore on this server.
    pub restore_after_secs: u64,
    /// Whether the caller may file a counter-notice now.
    pub can_counter: bool,
}

/// A notice in the admins' list.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct AdminDmcaSummary {
    pub id: i64,
    pub state: String,
    pub claimant_name: String,
    pub claimant_email: String,
    pub created_at: DateTime<Utc>,
    /// How many videos and clips it names.
    pub items: u64,
    /// Counter-notices whose restore is scheduled.
    pub counters_waiting: u64,
    pub legal_action_at: Option<DateTime<Utc>>,
}

/// One page of notices, newest first; `next_offset` is `null` on the last page.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct AdminDmcaPage {
    pub items: Vec<AdminDmcaSummary>,
    pub total: u64,
    pub next_offset: Option<u64>,
}

/// A notice with everything admins decide on.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct AdminDmcaNotice {
    pub id: i64,
    /// `received`, `taken_down` or `rejected`.
    pub state: String,
    pub claimant_name: String,
    pub claimant_email: String,
    pub claimant_contact: String,
    pub work_description: String,
    pub signature: String,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    pub legal_action_at: Option<DateTime<Utc>>,
    pub legal_action_note: Option<String>,
    pub items: Vec<DmcaItemDto>,
    pub counters: Vec<CounterNoticeDto>,
}
