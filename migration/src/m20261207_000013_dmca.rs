//! DMCA takedowns (see `docs/TRUST_AND_SAFETY.md`):
//! - `dmca_notices`: a copyright owner's notice, sent by anyone without an account, with the
//!   statements the law requires; `state` is `received`, `taken_down` or `rejected`;
//!   `legal_action_at` is set when an admin records that the claimant went to court (no restore
//!   happens after that);
//! - `dmca_notice_items`: the videos and clips a notice names (the URL as sent, the item, and
//!   the channel and owner it had when the notice came: the owner's repeat-infringer count and
//!   right to counter survive the item's deletion);
//! - `dmca_counter_notices`: one per (notice, uploader); `state` is `waiting` until
//!   `restore_due_at`, then `restored` (claimed by one conditional UPDATE, so one node restores),
//!   or `legal_action`.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000013_dmca"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum DmcaNotices {
    Table,
    Id,
    State,
    ClaimantName,
    ClaimantEmail,
    ClaimantContact,
    WorkDescription,
    Signature,
    CreatedAt,
    DecidedAt,
    DecidedBy,
    DecisionNote,
    LegalActionAt,
    LegalActionNote,
}

#[derive(DeriveIden, Clone, Copy)]
enum DmcaNoticeItems {
    Table,
    Id,
    NoticeId,
    Url,
    Kind,
    ItemId,
    ChannelId,
    OwnerId,
}

#[derive(DeriveIden, Clone, Copy)]
enum DmcaCounterNotices {
    Table,
    Id,
    NoticeId,
    UserId,
    State,
    FullName,
    Contact,
    Statement,
    Signature,
    CreatedAt,
    RestoreDueAt,
    RestoredAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

fn id<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn ts<T: IntoIden>(col: T, null: bool) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    def.timestamp_with_time_zone();
    if null {
        def.null();
    } else {
        def.not_null();
    }
    def
}

fn text<T: IntoIden>(col: T, len: Option<u32>, null: bool) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    match len {
        Some(n) => def.string_len(n),
        None => def.text(),
    };
    if null {
        def.null();
    } else {
        def.not_null();
    }
    def
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use DmcaCounterNotices as C;
        use DmcaNoticeItems as I;
        use DmcaNotices as N;
        manager
            .create_table(
                Table::create()
                    .table(N::Table)
                    .col(id(N::Id))
                    .col(text(N::State, Some(16), false))
                    .col(text(N::ClaimantName, Some(200), false))
                    .col(text(N::ClaimantEmail, Some(254), false))
                    .col(text(N::ClaimantContact, None, false))
                    .col(text(N::WorkDescription, None, false))
                    .col(text(N::Signature, Some(200), false))
                    .col(ts(N::CreatedAt, false))
                    .col(ts(N::DecidedAt, true))
                    .col(ColumnDef::new(N::DecidedBy).big_integer().null())
                    .col(text(N::DecisionNote, None, true))
                    .col(ts(N::LegalActionAt, true))
                    .col(text(N::LegalActionNote, None, true))
                    .foreign_key(
                        ForeignKey::create()
                            .from(N::Table, N::DecidedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_dmca_notices_state")
                    .table(N::Table)
                    .col(N::State)
                    .col(N::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(I::Table)
                    .col(id(I::Id))
                    .col(ColumnDef::new(I::NoticeId).big_integer().not_null())
                    .col(text(I::Url, Some(2048), false))
                    .col(text(I::Kind, Some(8), false))
                    .col(text(I::ItemId, Some(64), false))
                    // No foreign keys: the record outlives the channel and the account.
                    .col(ColumnDef::new(I::ChannelId).big_integer().not_null())
                    .col(ColumnDef::new(I::OwnerId).big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(I::Table, I::NoticeId)
                            .to(N::Table, N::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("idx_dmca_notice_items_notice", [I::NoticeId, I::Id]),
            ("idx_dmca_notice_items_owner", [I::OwnerId, I::NoticeId]),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(I::Table)
                        .col(cols[0])
                        .col(cols[1])
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(id(C::Id))
                    .col(ColumnDef::new(C::NoticeId).big_integer().not_null())
                    .col(ColumnDef::new(C::UserId).big_integer().not_null())
                    .col(text(C::State, Some(16), false))
                    .col(text(C::FullName, Some(200), false))
                    .col(text(C::Contact, None, false))
                    .col(text(C::Statement, None, false))
                    .col(text(C::Signature, Some(200), false))
                    .col(ts(C::CreatedAt, false))
                    .col(ts(C::RestoreDueAt, false))
                    .col(ts(C::RestoredAt, true))
                    .foreign_key(
                        ForeignKey::create()
                            .from(C::Table, C::NoticeId)
                            .to(N::Table, N::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_dmca_counter_notices_notice_user")
                    .table(C::Table)
                    .col(C::NoticeId)
                    .col(C::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_dmca_counter_notices_due")
                    .table(C::Table)
                    .col(C::State)
                    .col(C::RestoreDueAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DmcaCounterNotices::Table.into_iden(),
            DmcaNoticeItems::Table.into_iden(),
            DmcaNotices::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
