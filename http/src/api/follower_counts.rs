//! Follower counts, in one query for a page of channels: read by the channel pages, the
//! follow routes and the caller's own channels alike.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, Func},
};
use streamhall_entities::{Follow, follow};

use crate::dto::ChannelDto;

/// Follower counts of `channels`, in one query.
pub(crate) async fn follower_counts(
    db: &DatabaseConnection,
    channels: &[i64],
) -> Result<HashMap<i64, i64>, DbErr> {
    if channels.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, i64)> = Follow::find()
        .select_only()
        .column(follow::Column::ChannelId)
        .column_as(
            Expr::expr(Func::count(Expr::col(follow::Column::UserId))),
            "n",
        )
        .filter(follow::Column::ChannelId.is_in(channels.iter().copied()))
        .group_by(follow::Column::ChannelId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Fills `followers` in each DTO.
pub(crate) async fn with_follower_counts(
    db: &DatabaseConnection,
    mut items: Vec<ChannelDto>,
) -> Result<Vec<ChannelDto>, DbErr> {
    let ids: Vec<i64> = items.iter().map(|c| c.id).collect();
    let counts = follower_counts(db, &ids).await?;
    for c in &mut items {
        c.followers = counts.get(&c.id).copied().unwrap_or(0);
    }
    Ok(items)
}
