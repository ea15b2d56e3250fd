//! Recordings: `videos` (one per recorded broadcast, objects under `vod/{id}/`), `clips` (cuts
//! of a live broadcast or a VOD, objects under `clips/{id}/`), and per channel whether
//! broadcasts are recorded and for how long VODs are kept.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000005_videos_and_clips"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Channels {
    Table,
    Id,
    RecordVods,
    VodRetentionDays,
}

#[derive(DeriveIden, Clone, Copy)]
enum Videos {
    Table,
    Id,
    ChannelId,
    BroadcastId,
    Title,
    Description,
    Visibility,
    Status,
    DvrOnly,
    DurationSecs,
    SizeBytes,
    Renditions,
    Chapters,
    Subtitles,
    HasThumbnail,
    HasSprite,
    MissingSegments,
    ViewCount,
    Error,
    NodeId,
    CreatedAt,
    EndedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Clips {
    Table,
    Id,
    ChannelId,
    VideoId,
    AuthorId,
    Title,
    StartSecs,
    DurationSecs,
    Status,
    Error,
    SizeBytes,
    ViewCount,
    CreatedAt,
}

fn fk<T: IntoIden + Copy, U: IntoIden + Copy>(
    from: T,
    col: impl IntoIden,
    to: U,
    to_col: impl IntoIden,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from, col)
        .to(to, to_col)
        .on_delete(on_delete)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Channels::Table)
                    .add_column(boolean(Channels::RecordVods).default(true))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Channels::Table)
                    .add_column(integer_null(Channels::VodRetentionDays))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Videos::Table)
                    .col(string_len(Videos::Id, 32).primary_key())
                    .col(big_integer(Videos::ChannelId))
                    .col(big_integer_null(Videos::BroadcastId).unique_key())
                    .col(string_len(Videos::Title, 140))
                    .col(text(Videos::Description).default(""))
                    .col(string_len(Videos::Visibility, 16))
                    .col(string_len(Videos::Status, 16))
                    .col(boolean(Videos::DvrOnly).default(false))
                    .col(double(Videos::DurationSecs).default(0.0))
                    .col(big_integer(Videos::SizeBytes).default(0))
                    .col(json(Videos::Renditions))
                    .col(json(Videos::Chapters))
                    .col(json(Videos::Subtitles))
                    .col(boolean(Videos::HasThumbnail).default(false))
                    .col(boolean(Videos::HasSprite).default(false))
                    .col(big_integer(Videos::MissingSegments).default(0))
                    .col(big_integer(Videos::ViewCount).default(0))
                    .col(text_null(Videos::Error))
                    .col(string_len(Videos::NodeId, 64))
                    .col(timestamp_with_time_zone(Videos::CreatedAt))
                    .col(timestamp_with_time_zone_null(Videos::EndedAt))
                    .foreign_key(&mut fk(
                        Videos::Table,
                        Videos::ChannelId,
                        Channels::Table,
                        Channels::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        // A channel's videos, newest first; the retention job and crash recovery by status.
        manager
            .create_index(
                Index::create()
                    .name("idx_videos_channel_created")
                    .table(Videos::Table)
                    .col(Videos::ChannelId)
                    .col(Videos::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_videos_status")
                    .table(Videos::Table)
                    .col(Videos::Status)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Clips::Table)
                    .col(string_len(Clips::Id, 32).primary_key())
                    .col(big_integer(Clips::ChannelId))
                    .col(string_len_null(Clips::VideoId, 32))
                    .col(big_integer(Clips::AuthorId))
                    .col(string_len(Clips::Title, 140))
                    .col(double(Clips::StartSecs).default(0.0))
                    .col(double(Clips::DurationSecs).default(0.0))
                    .col(string_len(Clips::Status, 16))
                    .col(text_null(Clips::Error))
                    .col(big_integer(Clips::SizeBytes).default(0))
                    .col(big_integer(Clips::ViewCount).default(0))
                    .col(timestamp_with_time_zone(Clips::CreatedAt))
                    .foreign_key(&mut fk(
                        Clips::Table,
                        Clips::ChannelId,
                        Channels::Table,
                        Channels::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        Clips::Table,
                        Clips::AuthorId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        Clips::Table,
                        Clips::VideoId,
                        Videos::Table,
                        Videos::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_clips_channel_created")
                    .table(Clips::Table)
                    .col(Clips::ChannelId)
                    .col(Clips::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Clips::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Videos::Table).to_owned())
            .await?;
        for column in [Channels::VodRetentionDays, Channels::RecordVods] {
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
