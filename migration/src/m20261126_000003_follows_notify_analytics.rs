//! Follows, notifications (in-app rows, settings, mutes, the once-per-broadcast job claim),
//! webhooks with their delivery log, and analytics (viewer samples, view sessions).

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000003_follows_notify_analytics"
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

/// A user following a channel. `last_emailed_at` throttles go-live emails per pair.
#[derive(DeriveIden, Clone, Copy)]
enum Follows {
    Table,
    UserId,
    ChannelId,
    CreatedAt,
    LastEmailedAt,
}

/// In-app notifications. Unique per (user, kind, broadcast), so a fan-out that is retried or
/// runs on two nodes inserts each row once.
#[derive(DeriveIden, Clone, Copy)]
enum Notifications {
    Table,
    Id,
    UserId,
    Kind,
    ChannelId,
    BroadcastId,
    Title,
    CreatedAt,
    ReadAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum NotificationSettings {
    Table,
    UserId,
    EmailEnabled,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum NotificationMutes {
    Table,
    UserId,
    ChannelId,
    CreatedAt,
}

/// One row per (broadcast, event) fan-out: inserting it is the claim, so with several nodes
/// exactly one runs it. Progress is kept here and in the health tree.
#[derive(DeriveIden, Clone, Copy)]
enum NotificationJobs {
    Table,
    BroadcastId,
    Event,
    ChannelId,
    Node,
    State,
    Total,
    Done,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Webhooks {
    Table,
    Id,
    ChannelId,
    Url,
    /// Comma-separated event names.
    Events,
    /// Needed to sign deliveries, so stored as given (shown to the owner once).
    Secret,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookDeliveries {
    Table,
    /// A UUID, sent as `X-Streamhall-Delivery`.
    Id,
    WebhookId,
    Event,
    Payload,
    /// pending | sending | delivered | failed
    State,
    Attempts,
    NextAttemptAt,
    LastStatus,
    LastError,
    CreatedAt,
    UpdatedAt,
}

/// Every live channel, sampled by the presence actor (every 30 s by default).
#[derive(DeriveIden, Clone, Copy)]
enum StreamAnalytics {
    Table,
    Id,
    ChannelId,
    BroadcastId,
    SampledAt,
    Viewers,
    Chatters,
    ChatMessages,
}

/// One continuous watch of a broadcast by one player (its viewer id, hashed).
#[derive(DeriveIden, Clone, Copy)]
enum ViewSessions {
    Table,
    Id,
    ChannelId,
    BroadcastId,
    ViewerId,
    StartedAt,
    LastSeenAt,
    WatchSeconds,
}

#[derive(DeriveIden, Clone, Copy)]
enum Broadcasts {
    Table,
    Id,
}

fn fk(
    table: impl IntoIden + Clone,
    col: impl IntoIden,
    to: impl IntoIden,
    to_col: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(to, to_col)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: &[DynIden],
    unique: bool,
) -> Result<(), DbErr> {
    let mut ix = Index::create();
    ix.name(name).table(table);
    for c in cols {
        ix.col(c.clone());
    }
    if unique {
        ix.unique();
    }
    manager.create_index(ix.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Follows::Table)
                    .col(big_integer(Follows::UserId))
                    .col(big_integer(Follows::ChannelId))
                    .col(timestamp_with_time_zone(Follows::CreatedAt))
                    .col(timestamp_with_time_zone_null(Follows::LastEmailedAt))
                    .primary_key(Index::create().col(Follows::UserId).col(Follows::ChannelId))
                    .foreign_key(&mut fk(
                        Follows::Table,
                        Follows::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .foreign_key(&mut fk(
                        Follows::Table,
                        Follows::ChannelId,
                        Channels::Table,
                        Channels::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        // The fan-out walks a channel's followers in user id order.
        index(
            manager,
            "idx_follows_channel_user",
            Follows::Table,
            &[Follows::ChannelId.into_iden(), Follows::UserId.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "idx_follows_channel_created",
            Follows::Table,
            &[
                Follows::ChannelId.into_iden(),
                Follows::CreatedAt.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(big_pk_auto(Notifications::Id))
                    .col(big_integer(Notifications::UserId))
                    .col(string_len(Notifications::Kind, 32))
                    .col(big_integer(Notifications::ChannelId))
                    .col(big_integer_null(Notifications::BroadcastId))
                    .col(string_len(Notifications::Title, 140))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                    .foreign_key(&mut fk(
                        Notifications::Table,
                        Notifications::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .foreign_key(&mut fk(
                        Notifications::Table,
                        Notifications::ChannelId,
                        Channels::Table,
                        Channels::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_notifications_once",
            Notifications::Table,
            &[
                Notifications::UserId.into_iden(),
                Notifications::Kind.into_iden(),
                Notifications::BroadcastId.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            manager,
            "idx_notifications_user_id",
            Notifications::Table,
            &[
                Notifications::UserId.into_iden(),
                Notifications::Id.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotificationSettings::Table)
                    .col(big_integer(NotificationSettings::UserId).primary_key())
                    .col(boolean(NotificationSettings::EmailEnabled).default(true))
                    .col(timestamp_with_time_zone(NotificationSettings::UpdatedAt))
                    .foreign_key(&mut fk(
                        NotificationSettings::Table,
                        NotificationSettings::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotificationMutes::Table)
                    .col(big_integer(NotificationMutes::UserId))
                    .col(big_integer(NotificationMutes::ChannelId))
                    .col(timestamp_with_time_zone(NotificationMutes::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(NotificationMutes::UserId)
                            .col(NotificationMutes::ChannelId),
                    )
                    .foreign_key(&mut fk(
                        NotificationMutes::Table,
                        NotificationMutes::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .foreign_key(&mut fk(
                        NotificationMutes::Table,
                        NotificationMutes::ChannelId,
                        Channels::Table,
                        Channels::Id,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotificationJobs::Table)
                    .col(big_integer(NotificationJobs::BroadcastId))
                    .col(string_len(NotificationJobs::Event, 32))
                    .col(big_integer(NotificationJobs::ChannelId))
                    .col(string_len(NotificationJobs::Node, 64))
                    .col(string_len(NotificationJobs::State, 16))
                    .col(big_integer(NotificationJobs::Total).default(0))
                    .col(big_integer(NotificationJobs::Done).default(0))
                    .col(timestamp_with_time_zone(NotificationJobs::StartedAt))
                    .col(timestamp_with_time_zone_null(NotificationJobs::FinishedAt))
                    .primary_key(
                        Index::create()
                            .col(NotificationJobs::BroadcastId)
                            .col(NotificationJobs::Event),
                    )
                    .foreign_key(&mut fk(
                        NotificationJobs::Table,
                        NotificationJobs::ChannelId,
                        Channels::Table,
                        Channels::Id,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .col(big_pk_auto(Webhooks::Id))
                    .col(big_integer(Webhooks::ChannelId))
                    .col(text(Webhooks::Url))
                    .col(string_len(Webhooks::Events, 200))
                    .col(string_len(Webhooks::Secret, 128))
                    .col(timestamp_with_time_zone(Webhooks::CreatedAt))
                    .foreign_key(&mut fk(
                        Webhooks::Table,
                        Webhooks::ChannelId,
                        Channels::Table,
                        Channels::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_webhooks_channel",
            Webhooks::Table,
            &[Webhooks::ChannelId.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(string_len(WebhookDeliveries::Id, 36).primary_key())
                    .col(big_integer(WebhookDeliveries::WebhookId))
                    .col(string_len(WebhookDeliveries::Event, 32))
                    .col(text(WebhookDeliveries::Payload))
                    .col(string_len(WebhookDeliveries::State, 16))
                    .col(integer(WebhookDeliveries::Attempts).default(0))
                    .col(timestamp_with_time_zone(WebhookDeliveries::NextAttemptAt))
                    .col(integer_null(WebhookDeliveries::LastStatus))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookDeliveries::UpdatedAt))
                    .foreign_key(&mut fk(
                        WebhookDeliveries::Table,
                        WebhookDeliveries::WebhookId,
                        Webhooks::Table,
                        Webhooks::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_webhook_deliveries_due",
            WebhookDeliveries::Table,
            &[
                WebhookDeliveries::State.into_iden(),
                WebhookDeliveries::NextAttemptAt.into_iden(),
            ],
            false,
        )
        .await?;
        index(
            manager,
            "idx_webhook_deliveries_hook",
            WebhookDeliveries::Table,
            &[
                WebhookDeliveries::WebhookId.into_iden(),
                WebhookDeliveries::CreatedAt.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(StreamAnalytics::Table)
                    .col(big_pk_auto(StreamAnalytics::Id))
                    .col(big_integer(StreamAnalytics::ChannelId))
                    .col(big_integer(StreamAnalytics::BroadcastId))
                    .col(timestamp_with_time_zone(StreamAnalytics::SampledAt))
                    .col(big_integer(StreamAnalytics::Viewers))
                    .col(big_integer(StreamAnalytics::Chatters))
                    .col(big_integer(StreamAnalytics::ChatMessages))
                    .foreign_key(&mut fk(
                        StreamAnalytics::Table,
                        StreamAnalytics::ChannelId,
                        Channels::Table,
                        Channels::Id,
                    ))
                    .foreign_key(&mut fk(
                        StreamAnalytics::Table,
                        StreamAnalytics::BroadcastId,
                        Broadcasts::Table,
                        Broadcasts::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_stream_analytics_channel",
            StreamAnalytics::Table,
            &[
                StreamAnalytics::ChannelId.into_iden(),
                StreamAnalytics::SampledAt.into_iden(),
            ],
            false,
        )
        .await?;
        index(
            manager,
            "idx_stream_analytics_broadcast",
            StreamAnalytics::Table,
            &[StreamAnalytics::BroadcastId.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ViewSessions::Table)
                    .col(big_pk_auto(ViewSessions::Id))
                    .col(big_integer(ViewSessions::ChannelId))
                    .col(big_integer(ViewSessions::BroadcastId))
                    .col(string_len(ViewSessions::ViewerId, 64))
                    .col(timestamp_with_time_zone(ViewSessions::StartedAt))
                    .col(timestamp_with_time_zone(ViewSessions::LastSeenAt))
                    .col(big_integer(ViewSessions::WatchSeconds).default(0))
                    .foreign_key(&mut fk(
                        ViewSessions::Table,
                        ViewSessions::ChannelId,
                        Channels::Table,
                        Channels::Id,
                    ))
                    .foreign_key(&mut fk(
                        ViewSessions::Table,
                        ViewSessions::BroadcastId,
                        Broadcasts::Table,
                        Broadcasts::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_view_sessions_broadcast",
            ViewSessions::Table,
            &[
                ViewSessions::BroadcastId.into_iden(),
                ViewSessions::ViewerId.into_iden(),
            ],
            false,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ViewSessions::Table.into_iden(),
            StreamAnalytics::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            Webhooks::Table.into_iden(),
            NotificationJobs::Table.into_iden(),
            NotificationMutes::Table.into_iden(),
            NotificationSettings::Table.into_iden(),
            Notifications::Table.into_iden(),
            Follows::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
