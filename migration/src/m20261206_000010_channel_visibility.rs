//! Who may watch a channel: `visibility` is `public` (listed, anyone watches), `unlisted` (not
//! listed, anyone with the link watches), `password` (viewers give a password once and get a
//! short-lived playback token) or `followers` (only followers get a token).
//! `playback_password_hash` is the argon2id PHC string of a `password` channel's password
//! (null otherwise); it is never sent to a client.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000010_channel_visibility"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Channels {
    Table,
    Visibility,
    PlaybackPasswordHash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Channels::Table)
                    .add_column(
                        ColumnDef::new(Channels::Visibility)
                            .string_len(16)
                            .not_null()
                            .default("public"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Channels::Table)
                    .add_column(
                        ColumnDef::new(Channels::PlaybackPasswordHash)
                            .string_len(255)
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Channels::Table)
                    .drop_column(Channels::PlaybackPasswordHash)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Channels::Table)
                    .drop_column(Channels::Visibility)
                    .to_owned(),
            )
            .await
    }
}
