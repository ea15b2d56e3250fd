//! Reports and the moderation queue. A `reports` row is a case: one reported item (a channel,
//! a chat message, a video or a clip) while it is open; later reports of the same open item add
//! a reporter to it (`report_reporters`) and count up. A resolved item reported again opens a
//! new case.
//!
//! - `open_key` (`{kind}:{item_id}`) is set while the case is open or claimed and cleared when it
//!   is resolved: its unique index keeps one open case per item on both databases (NULLs are
//!   distinct in a unique index on SQLite and PostgreSQL).
//! - `snapshot` is a JSON object of what was reported at the time (the message and its author,
//!   the channel's title, whether it was live), so a case
//!   still shows it after the content changes or is deleted; `thumbnail_key` names the copy.
//! - The case keeps no foreign key to the reported content for the same reason; reporters and
//!   staff are users, and a deleted user takes their reports and claims with them.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000012_reports"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Reports {
    Table,
    Id,
    Kind,
    ItemId,
    ChannelId,
    OpenKey,
    State,
    Reason,
    ReportCount,
    Snapshot,
    ThumbnailKey,
    CreatedAt,
    UpdatedAt,
    ClaimedBy,
    ClaimedAt,
    ResolvedBy,
    ResolvedAt,
    Action,
    Note,
}

#[derive(DeriveIden, Clone, Copy)]
enum ReportReporters {
    Table,
    ReportId,
    UserId,
    Reason,
    Details,
    CreatedAt,
}

fn index(name: &str, table: impl IntoIden, cols: &[DynIden], unique: bool) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(table);
    for col in cols {
        idx.col(col.clone());
    }
    if unique {
        idx.unique();
    }
    idx.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Reports::Table)
                    .col(big_pk_auto(Reports::Id))
                    .col(string_len(Reports::Kind, 16))
                    .col(string_len(Reports::ItemId, 64))
                    .col(big_integer_null(Reports::ChannelId))
                    .col(string_len_null(Reports::OpenKey, 96))
                    .col(string_len(Reports::State, 16))
                    .col(string_len(Reports::Reason, 32))
                    .col(integer(Reports::ReportCount))
                    .col(text(Reports::Snapshot))
                    .col(string_len_null(Reports::ThumbnailKey, 128))
                    .col(timestamp_with_time_zone(Reports::CreatedAt))
                    .col(timestamp_with_time_zone(Reports::UpdatedAt))
                    .col(big_integer_null(Reports::ClaimedBy))
                    .col(timestamp_with_time_zone_null(Reports::ClaimedAt))
                    .col(big_integer_null(Reports::ResolvedBy))
                    .col(timestamp_with_time_zone_null(Reports::ResolvedAt))
                    .col(string_len_null(Reports::Action, 32))
                    .col(text_null(Reports::Note))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Reports::Table, Reports::ClaimedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Reports::Table, Reports::ResolvedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReportReporters::Table)
                    .col(big_integer(ReportReporters::ReportId))
                    .col(big_integer(ReportReporters::UserId))
                    .col(string_len(ReportReporters::Reason, 32))
                    .col(text_null(ReportReporters::Details))
                    .col(timestamp_with_time_zone(ReportReporters::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ReportReporters::ReportId)
                            .col(ReportReporters::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ReportReporters::Table, ReportReporters::ReportId)
                            .to(Reports::Table, Reports::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ReportReporters::Table, ReportReporters::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for stmt in [
            index(
                "idx_reports_open_key",
                Reports::Table,
                &[Reports::OpenKey.into_iden()],
                true,
            ),
            index(
                "idx_reports_state",
                Reports::Table,
                &[Reports::State.into_iden(), Reports::Id.into_iden()],
                false,
            ),
            index(
                "idx_report_reporters_user",
                ReportReporters::Table,
                &[
                    ReportReporters::UserId.into_iden(),
                    ReportReporters::CreatedAt.into_iden(),
                ],
                false,
            ),
        ] {
            manager.create_index(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReportReporters::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Reports::Table).to_owned())
            .await?;
        Ok(())
    }
}
