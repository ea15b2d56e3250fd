//! `restream_destinations`: where a channel's stream is pushed on while it is live (another
//! platform's RTMP ingest), copied without re-encoding. At most five per channel.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "restream_destinations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub channel_id: i64,
    /// What the streamer calls it ("YouTube").
    pub name: String,
    /// `rtmp://` or `rtmps://` ingest URL, without the key.
    pub url: String,
    /// The destination's stream key, sealed ([`crate::secret::Sealer`]); never returned.
    pub stream_key: String,
    pub enabled: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::channel::Entity",
        from = "Column::ChannelId",
        to = "super::channel::Column::Id",
        on_delete = "Cascade"
    )]
    Channel,
}

impl Related<super::channel::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Channel.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
