//! Writing analytics batches (see [the module](super)).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Func, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect,
};
use streamhall_entities::{broadcast, chat_message, stream_analytics, view_session};

use super::core::{Batch, BatchWritten, SampleRow, SessionRow};

/// Rows per INSERT statement.
const WRITE_CHUNK: usize = 1_000;
// ---------------------------------------------------------------------------------------------
// Writing

/// Writes a batch: the sessions (inserts in chunks, updates as one upsert per chunk), then
/// each sample with the chat messages and distinct chatters of its channel since the
/// previous sample. Samples go last, so a stored sample means the sessions as of its time
/// are stored too. Rows of broadcasts that no longer exist are dropped. Failures are collected, not
/// returned early, so one bad part does not lose the rest.
pub async fn write_batch(db: &DatabaseConnection, batch: Batch) -> BatchWritten {
    let mut out = BatchWritten::default();
    let mut ids: Vec<i64> = batch
        .samples
        .iter()
        .map(|s| s.broadcast_id)
        .chain(
            [&batch.insert_open, &batch.insert_ended, &batch.update]
                .into_iter()
                .flatten()
                .map(|s| s.broadcast_id),
        )
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let info: HashMap<i64, (i64, DateTime<Utc>)> = match broadcast::Entity::find()
        .filter(broadcast::Column::Id.is_in(ids))
        .all(db)
        .await
    {
        Ok(rows) => rows
            .into_iter()
            .map(|b| (b.id, (b.channel_id, b.started_at)))
            .collect(),
        Err(e) => {
            out.errors.push(format!("loading broadcasts: {e}"));
            return out;
        }
    };
    match insert_sessions(db, &batch.insert_open, &info, true).await {
        Ok(inserted) => out.inserted = inserted,
        Err(e) => out.errors.push(format!("inserting open sessions: {e}")),
    }
    if let Err(e) = insert_sessions(db, &batch.insert_ended, &info, false).await {
        out.errors.push(format!("inserting ended sessions: {e}"));
    }
    if let Err(e) = update_sessions(db, &batch.update, &info).await {
        out.errors.push(format!("updating sessions: {e}"));
    }
    if let Err(e) = write_samples(db, &batch.samples, &info).await {
        out.errors.push(format!("writing samples: {e}"));
    }
    out
}

async fn write_samples(
    db: &DatabaseConnection,
    samples: &[SampleRow],
    info: &HashMap<i64, (i64, DateTime<Utc>)>,
) -> Result<(), DbErr> {
    let mut rows = Vec::with_capacity(samples.len());
    for s in samples {
        let Some((channel_id, started_at)) = info.get(&s.broadcast_id) else {
            continue;
        };
        let since = s.since.unwrap_or(*started_at);
        let (messages, chatters) = chat_counts(db, *channel_id, since, s.at).await?;
        rows.push(stream_analytics::ActiveModel {
            channel_id: Set(*channel_id),
            broadcast_id: Set(s.broadcast_id),
            sampled_at: Set(s.at),
            viewers: Set(s.viewers),
            chatters: Set(chatters),
            chat_messages: Set(messages),
            ..Default::default()
        });
    }
    for chunk in rows.chunks(WRITE_CHUNK) {
        stream_analytics::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Chat messages and distinct senders of a channel in `(since, until]`.
async fn chat_counts(
    db: &DatabaseConnection,
    channel_id: i64,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(i64, i64), DbErr> {
    let counts = chat_message::Entity::find()
        .select_only()
        .column_as(
            Expr::from(Func::count(Expr::col(chat_message::Column::Id))),
            "messages",
        )
        .column_as(
            Expr::from(Func::count_distinct(Expr::col(
                chat_message::Column::UserId,
            ))),
            "chatters",
        )
        .filter(chat_message::Column::ChannelId.eq(channel_id))
        .filter(chat_message::Column::CreatedAt.gt(since))
        .filter(chat_message::Column::CreatedAt.lte(until))
        .into_tuple::<(i64, i64)>()
        .one(db)
        .await?;
    Ok(counts.unwrap_or((0, 0)))
}

/// Inserts sessions; with `returning`, the `(token, id)` of each.
async fn insert_sessions(
    db: &DatabaseConnection,
    rows: &[SessionRow],
    info: &HashMap<i64, (i64, DateTime<Utc>)>,
    returning: bool,
) -> Result<Vec<(u64, i64)>, DbErr> {
    use view_session::Column as C;
    let mut inserted = Vec::new();
    let rows: Vec<(&SessionRow, i64)> = rows
        .iter()
        .filter_map(|r| Some((r, info.get(&r.broadcast_id)?.0)))
        .collect();
    for chunk in rows.chunks(WRITE_CHUNK) {
        let mut insert = Query::insert();
        insert.into_table(view_session::Entity).columns([
            C::ChannelId,
            C::BroadcastId,
            C::ViewerId,
            C::StartedAt,
            C::LastSeenAt,
            C::WatchSeconds,
        ]);
        for (r, channel_id) in chunk {
            insert
                .values([
                    (*channel_id).into(),
                    r.broadcast_id.into(),
                    r.viewer_id.clone().into(),
                    r.started_at.into(),
                    r.last_seen_at.into(),
                    r.watch_seconds().into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        if !returning {
            db.execute(&insert).await?;
            continue;
        }
        // Plain RETURNING: SQLite has it since 3.35 and PostgreSQL always did.
        insert.returning(Query::returning().columns([C::Id, C::BroadcastId, C::ViewerId]));
        let tokens: HashMap<(i64, &str), u64> = chunk
            .iter()
            .map(|(r, _)| ((r.broadcast_id, r.viewer_id.as_str()), r.token))
            .collect();
        for returned in db.query_all(&insert).await? {
            let id: i64 = returned.try_get("", "id")?;
            let broadcast_id: i64 = returned.try_get("", "broadcast_id")?;
            let viewer: String = returned.try_get("", "viewer_id")?;
            if let Some(token) = tokens.get(&(broadcast_id, viewer.as_str())) {
                inserted.push((*token, id));
            }
        }
    }
    Ok(inserted)
}

/// Updates stored sessions, as upserts on the id (one statement per chunk).
async fn update_sessions(
    db: &DatabaseConnection,
    rows: &[SessionRow],
    info: &HashMap<i64, (i64, DateTime<Utc>)>,
) -> Result<(), DbErr> {
    use view_session::Column as C;
    let models: Vec<view_session::ActiveModel> = rows
        .iter()
        .filter_map(|r| {
            let id = r.id?;
            let (channel_id, _) = info.get(&r.broadcast_id)?;
            Some(view_session::ActiveModel {
                id: Set(id),
                channel_id: Set(*channel_id),
                broadcast_id: Set(r.broadcast_id),
                viewer_id: Set(r.viewer_id.clone()),
                started_at: Set(r.started_at),
                last_seen_at: Set(r.last_seen_at),
                watch_seconds: Set(r.watch_seconds()),
            })
        })
        .collect();
    for chunk in models.chunks(WRITE_CHUNK) {
        view_session::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(C::Id)
                    .update_columns([C::LastSeenAt, C::WatchSeconds])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
