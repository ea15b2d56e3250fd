//! streamhall-migration: the schema, as sea-orm migrations that run up and down on SQLite
//! and PostgreSQL.
//!
//! Each later capability adds its own migration file; a migration once released is never
//! edited.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_accounts_and_channels;
mod m20261122_000002_chat;
mod m20261126_000003_follows_notify_analytics;
mod m20261201_000004_broadcast_video;
mod m20261201_000005_videos_and_clips;
mod m20261205_000006_broadcast_owner;
mod m20261205_000007_ingest;
mod m20261206_000008_trust_safety;
mod m20261206_000009_account_lifecycle;
mod m20261206_000010_channel_visibility;
mod m20261207_000011_takedowns;
mod m20261207_000012_reports;
mod m20261207_000013_dmca;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_accounts_and_channels::Migration),
            Box::new(m20261122_000002_chat::Migration),
            Box::new(m20261126_000003_follows_notify_analytics::Migration),
            Box::new(m20261201_000004_broadcast_video::Migration),
            Box::new(m20261201_000005_videos_and_clips::Migration),
            Box::new(m20261205_000006_broadcast_owner::Migration),
            Box::new(m20261205_000007_ingest::Migration),
            Box::new(m20261206_000008_trust_safety::Migration),
            Box::new(m20261206_000009_account_lifecycle::Migration),
            Box::new(m20261206_000010_channel_visibility::Migration),
            Box::new(m20261207_000011_takedowns::Migration),
            Box::new(m20261207_000012_reports::Migration),
            Box::new(m20261207_000013_dmca::Migration),
        ]
    }
}
