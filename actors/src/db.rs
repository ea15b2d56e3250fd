//! The rows the live tree writes: a broadcast opens and closes, a channel goes live and
//! offline, and startup closes what a crash left open.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
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
    owner_node: &str,
) -> Result<broadcast::Model, DbErr> {
    broadcast::ActiveModel {
        owner_node: Set(Some(owner_node.chars().take(64).collect())),
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

/// Closes broadcast `id` if it is still open, marking its channel offline unless another
/// broadcast of it is open, in one transaction. Of several nodes trying at once exactly one gets
/// `Some((row as it was, channel slug))`; the others (and a broadcast already closed) `None`.
pub async fn close_orphaned_broadcast(
    db: &DatabaseConnection,
    id: i64,
) -> Result<Option<(broadcast::Model, String)>, DbErr> {
    let txn = db.begin().await?;
    let Some((b, Some(ch))) = Broadcast::find_by_id(id)
        .find_also_related(Channel)
        .one(&txn)
        .await?
    else {
        return Ok(None);
    };
    let closed = broadcast::Entity::update_many()
        .col_expr(broadcast::Column::EndedAt, Expr::value(Utc::now()))
        .filter(broadcast::Column::Id.eq(id))
        .filter(broadcast::Column::EndedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    if closed == 0 {
        return Ok(None);
    }
    let open = Broadcast::find()
        .filter(broadcast::Column::ChannelId.eq(b.channel_id))
        .filter(broadcast::Column::EndedAt.is_null())
        .count(&txn)
        .await?;
    if open == 0 {
        set_live(&txn, b.channel_id, false).await?;
    }
    txn.commit().await?;
    Ok(Some((b, ch.slug)))
}

/// After a crash: closes the broadcasts `close` (chosen by
/// [`Cluster::broadcasts_left_open`](crate::cluster::Cluster::broadcasts_left_open)), then
/// marks offline every channel left marked live with no open broadcast. Returns (channels,
/// broadcasts) repaired.
pub async fn close_left_open(
    db: &DatabaseConnection,
    close: Vec<i64>,
) -> Result<(u64, u64), DbErr> {
    let broadcasts = if close.is_empty() {
        0
    } else {
        Broadcast::update_many()
            .col_expr(broadcast::Column::EndedAt, Expr::value(Utc::now()))
            .filter(broadcast::Column::Id.is_in(close))
            .filter(broadcast::Column::EndedAt.is_null())
            .exec(db)
            .await?
            .rows_affected
    };
    let still_open = Query::select()
        .column(broadcast::Column::ChannelId)
        .from(broadcast::Entity)
        .and_where(Expr::col(broadcast::Column::EndedAt).is_null())
        .to_owned();
    let channels = Channel::update_many()
        .col_expr(channel::Column::IsLive, Expr::value(false))
        .filter(channel::Column::IsLive.eq(true))
        .filter(Expr::col(channel::Column::Id).not_in_subquery(still_open))
        .exec(db)
        .await?
        .rows_affected;
    Ok((channels, broadcasts))
}
