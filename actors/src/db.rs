//! The rows the live tree writes: a broadcast opens and closes, a channel goes live and
//! offline, and startup closes what a crash left open.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, Set, TransactionTrait,
};
use streamhall_entities::{Broadcast, Channel, broadcast, channel};

/// Creates the broadcast row (the channel's title as of now). The channel is not live yet:
/// [`announce_broadcast`] marks it once viewers can watch.
pub async fn open_broadcast(
    db: &DatabaseConnection,
    ch: &channel::Model,
) -> Result<broadcast::Model, DbErr> {
    broadcast::ActiveModel {
        channel_id: Set(ch.id),
        started_at: Set(Utc::now()),
        ended_at: Set(None),
        title: Set(ch.title.clone()),
        peak_viewers: Set(0),
        went_live_at: Set(None),
        failure: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Viewers can watch: `went_live_at` set (the first time) and the channel marked live, in one
/// transaction. Nothing happens to a broadcast that has already ended.
pub async fn announce_broadcast(
    db: &DatabaseConnection,
    channel_id: i64,
    broadcast_id: i64,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    let open = broadcast::Entity::update_many()
        .col_expr(broadcast::Column::WentLiveAt, Expr::value(Utc::now()))
        .filter(broadcast::Column::Id.eq(broadcast_id))
        .filter(broadcast::Column::EndedAt.is_null())
        .filter(broadcast::Column::WentLiveAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    if open > 0 {
        set_live(&txn, channel_id, true).await?;
    }
    txn.commit().await
}

/// Records why viewers could not watch (the latest reason wins).
pub async fn record_failure(
    db: &DatabaseConnection,
    broadcast_id: i64,
    reason: &str,
) -> Result<(), DbErr> {
    // The column holds a sentence, not ffmpeg's whole log.
    let reason: String = reason.chars().take(500).collect();
    broadcast::Entity::update_many()
        .col_expr(broadcast::Column::Failure, Expr::value(reason))
        .filter(broadcast::Column::Id.eq(broadcast_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets `ended_at` and the final peak, and marks the channel offline unless another broadcast
/// of it is open, in one transaction.
pub async fn close_broadcast(
    db: &DatabaseConnection,
    channel_id: i64,
    broadcast_id: i64,
    peak: Option<u64>,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    broadcast::Entity::update_many()
        .col_expr(broadcast::Column::EndedAt, Expr::value(Utc::now()))
        .filter(broadcast::Column::Id.eq(broadcast_id))
        .filter(broadcast::Column::EndedAt.is_null())
        .exec(&txn)
        .await?;
    if let Some(peak) = peak {
        crate::presence::save_peak(&txn, broadcast_id, peak).await?;
    }
    // A newer broadcast of the channel may have opened while this one was ending.
    let open = Broadcast::find()
        .filter(broadcast::Column::ChannelId.eq(channel_id))
        .filter(broadcast::Column::EndedAt.is_null())
        .count(&txn)
        .await?;
    if open == 0 {
        set_live(&txn, channel_id, false).await?;
    }
    txn.commit().await
}

async fn set_live(db: &impl ConnectionTrait, channel_id: i64, live: bool) -> Result<(), DbErr> {
    Channel::update_many()
        .col_expr(channel::Column::IsLive, Expr::value(live))
        .filter(channel::Column::Id.eq(channel_id))
        .exec(db)
        .await?;
    Ok(())
}

/// After a crash: no channel is live and no broadcast is open. Returns (channels, broadcasts)
/// repaired.
pub async fn repair(db: &DatabaseConnection) -> Result<(u64, u64), DbErr> {
    let channels = Channel::update_many()
        .col_expr(channel::Column::IsLive, Expr::value(false))
        .filter(channel::Column::IsLive.eq(true))
        .exec(db)
        .await?
        .rows_affected;
    let broadcasts = Broadcast::update_many()
        .col_expr(broadcast::Column::EndedAt, Expr::value(Utc::now()))
        .filter(broadcast::Column::EndedAt.is_null())
        .exec(db)
        .await?
        .rows_affected;
    Ok((channels, broadcasts))
}
