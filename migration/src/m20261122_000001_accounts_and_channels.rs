//! Users, refresh tokens, channels and broadcasts.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    UsernameKey,
    Email,
    DisplayName,
    Bio,
    PasswordHash,
    Role,
    TokenVersion,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    UserId,
    Family,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Channels {
    Table,
    Id,
    OwnerId,
    Slug,
    Title,
    Description,
    Category,
    IsLive,
    StreamKeyHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Broadcasts {
    Table,
    Id,
    ChannelId,
    StartedAt,
    EndedAt,
    Title,
    PeakViewers,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(big_pk_auto(Users::Id))
                    .col(string_len(Users::Username, 32))
                    .col(string_len_uniq(Users::UsernameKey, 32))
                    .col(string_len_uniq(Users::Email, 254))
                    .col(string_len(Users::DisplayName, 64))
                    .col(text(Users::Bio))
                    .col(string(Users::PasswordHash))
                    .col(string_len(Users::Role, 16))
                    .col(integer(Users::TokenVersion).default(0))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(big_pk_auto(RefreshTokens::Id))
                    .col(big_integer(RefreshTokens::UserId))
                    .col(string_len(RefreshTokens::Family, 36))
                    .col(string_len_uniq(RefreshTokens::TokenHash, 64))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RefreshTokens::Table, RefreshTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_family")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::Family)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_user")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Channels::Table)
                    .col(big_pk_auto(Channels::Id))
                    .col(big_integer(Channels::OwnerId))
                    .col(string_len_uniq(Channels::Slug, 32))
                    .col(string_len(Channels::Title, 140))
                    .col(text(Channels::Description))
                    .col(string_len(Channels::Category, 64))
                    .col(boolean(Channels::IsLive).default(false))
                    .col(string_len_uniq(Channels::StreamKeyHash, 64))
                    .col(timestamp_with_time_zone(Channels::CreatedAt))
                    .col(timestamp_with_time_zone(Channels::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Channels::Table, Channels::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_channels_owner", Channels::OwnerId),
            ("idx_channels_live", Channels::IsLive),
            ("idx_channels_category", Channels::Category),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Channels::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Broadcasts::Table)
                    .col(big_pk_auto(Broadcasts::Id))
                    .col(big_integer(Broadcasts::ChannelId))
                    .col(timestamp_with_time_zone(Broadcasts::StartedAt))
                    .col(timestamp_with_time_zone_null(Broadcasts::EndedAt))
                    .col(string_len(Broadcasts::Title, 140))
                    .col(integer(Broadcasts::PeakViewers).default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Broadcasts::Table, Broadcasts::ChannelId)
                            .to(Channels::Table, Channels::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_broadcasts_channel_started")
                    .table(Broadcasts::Table)
                    .col(Broadcasts::ChannelId)
                    .col(Broadcasts::StartedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Broadcasts::Table.into_iden(),
            Channels::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
