//! Ingest beyond RTMP: a channel's SRT passphrase, its source (pushed by an encoder, or pulled
//! by the server from an RTSP camera), and where it is restreamed to. Every credential here is
//! sealed (AEAD, a key outside the database); none is ever returned by the API.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000007_ingest"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Channels {
    Table,
    Id,
    SrtPassphrase,
    Source,
    PullUrl,
    PullCredentials,
    PullTransport,
    PullAlwaysOn,
}

#[derive(DeriveIden, Clone, Copy)]
enum RestreamDestinations {
    Table,
    Id,
    ChannelId,
    Name,
    Url,
    StreamKey,
    Enabled,
    CreatedAt,
}

fn add(column: &mut ColumnDef) -> TableAlterStatement {
    Table::alter()
        .table(Channels::Table)
        .add_column(column)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for stmt in [
            add(ColumnDef::new(Channels::SrtPassphrase).text().null()),
            add(ColumnDef::new(Channels::Source)
                .string_len(8)
                .not_null()
                .default("push")),
            add(ColumnDef::new(Channels::PullUrl).text().null()),
            add(ColumnDef::new(Channels::PullCredentials).text().null()),
            add(ColumnDef::new(Channels::PullTransport)
                .string_len(8)
                .not_null()
                .default("tcp")),
            add(ColumnDef::new(Channels::PullAlwaysOn)
                .boolean()
                .not_null()
                .default(false)),
        ] {
            manager.alter_table(stmt).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(RestreamDestinations::Table)
                    .col(
                        ColumnDef::new(RestreamDestinations::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RestreamDestinations::ChannelId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RestreamDestinations::Name)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(RestreamDestinations::Url).text().not_null())
                    .col(
                        ColumnDef::new(RestreamDestinations::StreamKey)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RestreamDestinations::Enabled)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(
                        ColumnDef::new(RestreamDestinations::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(RestreamDestinations::Table, RestreamDestinations::ChannelId)
                            .to(Channels::Table, Channels::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_restream_destinations_channel")
                    .table(RestreamDestinations::Table)
                    .col(RestreamDestinations::ChannelId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RestreamDestinations::Table).to_owned())
            .await?;
        for column in [
            Channels::PullAlwaysOn,
            Channels::PullTransport,
            Channels::PullCredentials,
            Channels::PullUrl,
            Channels::Source,
            Channels::SrtPassphrase,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Channels::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
