//! Chat: each room's counters and modes, messages, bans and timeouts, channel moderators and
//! the moderation log.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000002_chat"
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
}

/// One row per channel whose chat was ever opened. `last_message_id` hands out message ids:
/// a batch of n messages adds n in the transaction that inserts them, so ids are gap-free and
/// ordered by commit on every node.
#[derive(DeriveIden, Clone, Copy)]
enum ChatRooms {
    Table,
    ChannelId,
    LastMessageId,
    SlowSeconds,
    FollowersOnlyMinutes,
    EmoteOnly,
    /// JSON array of strings.
    BlockedTerms,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ChatMessages {
    Table,
    ChannelId,
    Id,
    UserId,
    Username,
    Role,
    Text,
    ClientId,
    CreatedAt,
    DeletedAt,
    DeletedBy,
}

#[derive(DeriveIden, Clone, Copy)]
enum ChatBans {
    Table,
    ChannelId,
    UserId,
    ByUserId,
    Reason,
    /// Null: a ban until lifted; otherwise a timeout.
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ChannelModerators {
    Table,
    ChannelId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ChatModerationLog {
    Table,
    Id,
    ChannelId,
    ActorId,
    Action,
    TargetUserId,
    MessageId,
    Details,
    CreatedAt,
}

fn channel_fk(table: impl IntoIden + Clone, col: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Channels::Table, Channels::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn user_fk(table: impl IntoIden + Clone, col: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChatRooms::Table)
                    .col(big_integer(ChatRooms::ChannelId).primary_key())
                    .col(big_integer(ChatRooms::LastMessageId).default(0))
                    .col(integer(ChatRooms::SlowSeconds).default(0))
                    .col(integer_null(ChatRooms::FollowersOnlyMinutes))
                    .col(boolean(ChatRooms::EmoteOnly).default(false))
                    .col(text(ChatRooms::BlockedTerms))
                    .col(timestamp_with_time_zone(ChatRooms::UpdatedAt))
                    .foreign_key(&mut channel_fk(ChatRooms::Table, ChatRooms::ChannelId))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ChatMessages::Table)
                    .col(big_integer(ChatMessages::ChannelId))
                    .col(big_integer(ChatMessages::Id))
                    .col(big_integer(ChatMessages::UserId))
                    .col(string_len(ChatMessages::Username, 32))
                    .col(string_len(ChatMessages::Role, 16))
                    .col(text(ChatMessages::Text))
                    .col(string_len_null(ChatMessages::ClientId, 64))
                    .col(timestamp_with_time_zone(ChatMessages::CreatedAt))
                    .col(timestamp_with_time_zone_null(ChatMessages::DeletedAt))
                    .col(big_integer_null(ChatMessages::DeletedBy))
                    .primary_key(
                        Index::create()
                            .col(ChatMessages::ChannelId)
                            .col(ChatMessages::Id),
                    )
                    .foreign_key(&mut channel_fk(
                        ChatMessages::Table,
                        ChatMessages::ChannelId,
                    ))
                    .foreign_key(&mut user_fk(ChatMessages::Table, ChatMessages::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chat_messages_created")
                    .table(ChatMessages::Table)
                    .col(ChatMessages::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chat_messages_user")
                    .table(ChatMessages::Table)
                    .col(ChatMessages::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ChatBans::Table)
                    .col(big_integer(ChatBans::ChannelId))
                    .col(big_integer(ChatBans::UserId))
                    .col(big_integer(ChatBans::ByUserId))
                    .col(string_len_null(ChatBans::Reason, 200))
                    .col(timestamp_with_time_zone_null(ChatBans::ExpiresAt))
                    .col(timestamp_with_time_zone(ChatBans::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ChatBans::ChannelId)
                            .col(ChatBans::UserId),
                    )
                    .foreign_key(&mut channel_fk(ChatBans::Table, ChatBans::ChannelId))
                    .foreign_key(&mut user_fk(ChatBans::Table, ChatBans::UserId))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ChannelModerators::Table)
                    .col(big_integer(ChannelModerators::ChannelId))
                    .col(big_integer(ChannelModerators::UserId))
                    .col(timestamp_with_time_zone(ChannelModerators::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ChannelModerators::ChannelId)
                            .col(ChannelModerators::UserId),
                    )
                    .foreign_key(&mut channel_fk(
                        ChannelModerators::Table,
                        ChannelModerators::ChannelId,
                    ))
                    .foreign_key(&mut user_fk(
                        ChannelModerators::Table,
                        ChannelModerators::UserId,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ChatModerationLog::Table)
                    .col(big_pk_auto(ChatModerationLog::Id))
                    .col(big_integer(ChatModerationLog::ChannelId))
                    .col(big_integer(ChatModerationLog::ActorId))
                    .col(string_len(ChatModerationLog::Action, 32))
                    .col(big_integer_null(ChatModerationLog::TargetUserId))
                    .col(big_integer_null(ChatModerationLog::MessageId))
                    .col(text_null(ChatModerationLog::Details))
                    .col(timestamp_with_time_zone(ChatModerationLog::CreatedAt))
                    .foreign_key(&mut channel_fk(
                        ChatModerationLog::Table,
                        ChatModerationLog::ChannelId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chat_moderation_log_channel")
                    .table(ChatModerationLog::Table)
                    .col(ChatModerationLog::ChannelId)
                    .col(ChatModerationLog::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ChatModerationLog::Table.into_iden(),
            ChannelModerators::Table.into_iden(),
            ChatBans::Table.into_iden(),
            ChatMessages::Table.into_iden(),
            ChatRooms::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
