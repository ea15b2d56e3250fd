//! `dmca_notice_items`: a video or clip a DMCA notice names, with the channel and owner it
//! had when the notice came (kept after the item, the channel or the account is gone).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dmca_notice_items")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub notice_id: i64,
    /// The URL as the claimant sent it.
    pub url: String,
    /// `video` or `clip`.
    pub kind: String,
    pub item_id: String,
    pub channel_id: i64,
    /// The channel's owner: the uploader who may counter, and whose repeat-infringer count
    /// this notice adds to.
    pub owner_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
