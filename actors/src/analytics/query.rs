//! The read side of analytics the API uses (see [the module](super)).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, Func, JoinType, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use streamhall_entities::{broadcast, follow, stream_analytics, view_session};

/// Sample lists the API returns are downsampled to about this many points.
pub const MAX_SAMPLES: usize = 2_000;
/// Broadcasts a channel range lists at most (newest first).
pub const MAX_BROADCASTS: u64 = 500;
/// Samples per SELECT when reading a range.
const READ_PAGE: u64 = 5_000;
// ---------------------------------------------------------------------------------------------
// Reading

/// One point of a channel's or broadcast's viewer curve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub broadcast_id: i64,
    pub viewers: i64,
    pub chatters: i64,
    pub chat_messages: i64,
}

impl From<stream_analytics::Model> for Sample {
    fn from(m: stream_analytics::Model) -> Self {
        Self {
            at: m.sampled_at,
            broadcast_id: m.broadcast_id,
            viewers: m.viewers,
            chatters: m.chatters,
            chat_messages: m.chat_messages,
        }
    }
}

/// Which samples to read.
#[derive(Debug, Clone, Copy)]
pub enum SampleScope {
    Channel(i64),
    Broadcast(i64),
}

/// Samples oldest first: a channel's in `[from, to]`, or all of a broadcast's (`[from, to]`
/// then only sizes the buckets: its final sample is taken just after it ended). More than
/// `max` are downsampled: the range is cut into `max` equal buckets and the samples of one
/// broadcast in one bucket become one point (at the first sample's time, each figure the
/// rounded mean), so at most `max` points plus one per broadcast boundary come back. Rows
/// are read in pages, never all held.
pub async fn samples(
    db: &DatabaseConnection,
    scope: SampleScope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max: usize,
) -> Result<Vec<Sample>, DbErr> {
    use stream_analytics::Column as A;
    let query = match scope {
        SampleScope::Channel(id) => stream_analytics::Entity::find()
            .filter(A::ChannelId.eq(id))
            .filter(A::SampledAt.gte(from))
            .filter(A::SampledAt.lte(to)),
        SampleScope::Broadcast(id) => {
            stream_analytics::Entity::find().filter(A::BroadcastId.eq(id))
        }
    };
    let n = query.clone().count(db).await?;
    let mut down = Downsampler::new(from, to, max, n);
    // Pages in (sampled_at, id) order, each after the last row of the previous one.
    let mut after: Option<(DateTime<Utc>, i64)> = None;
    loop {
        let mut page = query.clone();
        if let Some((at, id)) = after {
            page = page.filter(
                Condition::any()
                    .add(A::SampledAt.gt(at))
                    .add(Condition::all().add(A::SampledAt.eq(at)).add(A::Id.gt(id))),
            );
        }
        let rows = page
            .order_by_asc(A::SampledAt)
            .order_by_asc(A::Id)
            .limit(READ_PAGE)
            .all(db)
            .await?;
        let full = rows.len() as u64 == READ_PAGE;
        after = rows.last().map(|m| (m.sampled_at, m.id));
        for m in rows {
            down.push(m.into());
        }
        if !full {
            return Ok(down.finish());
        }
    }
}

/// Averages samples into buckets (see [`samples`]); passes them through when there are at
/// most `max`.
#[derive(Debug)]
pub struct Downsampler {
    from: DateTime<Utc>,
    /// `None`: no downsampling.
    width_ms: Option<i64>,
    current: Option<Bucket>,
    out: Vec<Sample>,
}

#[derive(Debug)]
struct Bucket {
    index: i64,
    first: Sample,
    n: i64,
    viewers: i64,
    chatters: i64,
    chat_messages: i64,
}

impl Downsampler {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>, max: usize, count: u64) -> Self {
        let max = max.max(1);
        let width_ms = (count > max as u64).then(|| {
            let span = (to - from).num_milliseconds().max(1);
            (span + max as i64 - 1) / max as i64
        });
        Self {
            from,
            width_ms,
            current: None,
            out: Vec::new(),
        }
    }

    /// Samples must come oldest first.
    pub fn push(&mut self, s: Sample) {
        let Some(width) = self.width_ms else {
            self.out.push(s);
            return;
        };
        let index = (s.at - self.from).num_milliseconds() / width.max(1);
        if let Some(b) = &mut self.current
            && b.index == index
            && b.first.broadcast_id == s.broadcast_id
        {
            b.n += 1;
            b.viewers += s.viewers;
            b.chatters += s.chatters;
            b.chat_messages += s.chat_messages;
            return;
        }
        self.flush();
        self.current = Some(Bucket {
            index,
            n: 1,
            viewers: s.viewers,
            chatters: s.chatters,
            chat_messages: s.chat_messages,
            first: s,
        });
    }

    fn flush(&mut self) {
        if let Some(b) = self.current.take() {
            let mean = |sum: i64| (sum + b.n / 2) / b.n;
            self.out.push(Sample {
                at: b.first.at,
                broadcast_id: b.first.broadcast_id,
                viewers: mean(b.viewers),
                chatters: mean(b.chatters),
                chat_messages: mean(b.chat_messages),
            });
        }
    }

    pub fn finish(mut self) -> Vec<Sample> {
        self.flush();
        self.out
    }
}

/// A broadcast's figures (see docs/ANALYTICS.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub broadcast_id: i64,
    pub title: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_s: i64,
    pub peak_viewers: i64,
    pub avg_viewers: f64,
    pub unique_viewers: i64,
    pub watch_time_s: i64,
    pub avg_watch_s: f64,
    pub chat_messages: i64,
    pub chatters: i64,
    pub new_followers: i64,
}

/// What the database says about one broadcast, before it is summed up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub sample_peak: i64,
    pub sample_sum: i64,
    pub samples: i64,
    pub unique_viewers: i64,
    pub watch_time_s: i64,
    pub chat_messages: i64,
    pub chatters: i64,
    pub new_followers: i64,
}

/// Peak: the higher of the saved peak and the highest sample. Averages: viewers over the
/// samples, watch time per unique viewer. A live broadcast lasts until `now`.
pub fn summarize(b: &broadcast::Model, f: &Figures, now: DateTime<Utc>) -> Summary {
    let ratio = |a: i64, n: i64| if n > 0 { a as f64 / n as f64 } else { 0.0 };
    Summary {
        broadcast_id: b.id,
        title: b.title.clone(),
        started_at: b.started_at,
        ended_at: b.ended_at,
        duration_s: (b.ended_at.unwrap_or(now) - b.started_at)
            .num_seconds()
            .max(0),
        peak_viewers: i64::from(b.peak_viewers).max(f.sample_peak),
        avg_viewers: ratio(f.sample_sum, f.samples),
        unique_viewers: f.unique_viewers,
        watch_time_s: f.watch_time_s,
        avg_watch_s: ratio(f.watch_time_s, f.unique_viewers),
        chat_messages: f.chat_messages,
        chatters: f.chatters,
        new_followers: f.new_followers,
    }
}

/// The summaries of `broadcasts`, in their order: four grouped queries, whatever their number.
pub async fn summaries(
    db: &DatabaseConnection,
    broadcasts: &[broadcast::Model],
    now: DateTime<Utc>,
) -> Result<Vec<Summary>, DbErr> {
    if broadcasts.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = broadcasts.iter().map(|b| b.id).collect();
    let mut figures: HashMap<i64, Figures> = HashMap::new();

    use stream_analytics::Column as A;
    let rows = stream_analytics::Entity::find()
        .select_only()
        .column(A::BroadcastId)
        .column_as(Expr::from(Func::max(Expr::col(A::Viewers))), "peak")
        .column_as(
            Expr::from(Func::cast_as(Func::sum(Expr::col(A::Viewers)), "BIGINT")),
            "total",
        )
        .column_as(Expr::from(Func::count(Expr::col(A::Id))), "n")
        .filter(A::BroadcastId.is_in(ids.clone()))
        .group_by(A::BroadcastId)
        .into_tuple::<(i64, Option<i64>, Option<i64>, i64)>()
        .all(db)
        .await?;
    for (id, peak, total, n) in rows {
        let f = figures.entry(id).or_default();
        f.sample_peak = peak.unwrap_or(0);
        f.sample_sum = total.unwrap_or(0);
        f.samples = n;
    }

    use view_session::Column as V;
    let rows = view_session::Entity::find()
        .select_only()
        .column(V::BroadcastId)
        .column_as(
            Expr::from(Func::count_distinct(Expr::col(V::ViewerId))),
            "unique",
        )
        .column_as(
            Expr::from(Func::cast_as(
                Func::sum(Expr::col(V::WatchSeconds)),
                "BIGINT",
            )),
            "watch",
        )
        .filter(V::BroadcastId.is_in(ids.clone()))
        .group_by(V::BroadcastId)
        .into_tuple::<(i64, i64, Option<i64>)>()
        .all(db)
        .await?;
    for (id, unique, watch) in rows {
        let f = figures.entry(id).or_default();
        f.unique_viewers = unique;
        f.watch_time_s = watch.unwrap_or(0);
    }

    for (id, messages, chatters) in in_window(db, &ids, Windowed::Chat, now).await? {
        let f = figures.entry(id).or_default();
        f.chat_messages = messages;
        f.chatters = chatters;
    }
    for (id, follows, _) in in_window(db, &ids, Windowed::Follows, now).await? {
        figures.entry(id).or_default().new_followers = follows;
    }

    Ok(broadcasts
        .iter()
        .map(|b| summarize(b, &figures.get(&b.id).copied().unwrap_or_default(), now))
        .collect())
}

#[derive(Debug, Clone, Copy)]
enum Windowed {
    Chat,
    Follows,
}

/// Per broadcast, rows of its channel created between its start and its end (or `now`):
/// `(broadcast_id, rows, distinct users)`.
async fn in_window(
    db: &DatabaseConnection,
    ids: &[i64],
    what: Windowed,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, i64, i64)>, DbErr> {
    use sea_orm::sea_query::ExprTrait as _;
    let (b, t) = (Alias::new("b"), Alias::new("t"));
    let (table, channel, created, user) = match what {
        Windowed::Chat => (
            Alias::new("chat_messages"),
            Alias::new("channel_id"),
            Alias::new("created_at"),
            Alias::new("user_id"),
        ),
        Windowed::Follows => (
            Alias::new("follows"),
            Alias::new("channel_id"),
            Alias::new("created_at"),
            Alias::new("user_id"),
        ),
    };
    let end = Func::coalesce([
        Expr::col((b.clone(), broadcast::Column::EndedAt)),
        Expr::value(now),
    ]);
    let query = Query::select()
        .expr_as(Expr::col((b.clone(), broadcast::Column::Id)), "id")
        .expr_as(Func::count(Expr::col((t.clone(), user.clone()))), "n")
        .expr_as(Func::count_distinct(Expr::col((t.clone(), user))), "users")
        .from_as(broadcast::Entity, b.clone())
        .join_as(
            JoinType::InnerJoin,
            table,
            t.clone(),
            Expr::col((t.clone(), channel))
                .equals((b.clone(), broadcast::Column::ChannelId))
                .and(
                    Expr::col((t.clone(), created.clone()))
                        .gte(Expr::col((b.clone(), broadcast::Column::StartedAt))),
                )
                .and(Expr::col((t, created)).lte(end)),
        )
        .and_where(Expr::col((b.clone(), broadcast::Column::Id)).is_in(ids.iter().copied()))
        .group_by_col((b, broadcast::Column::Id))
        .to_owned();
    let mut out = Vec::new();
    for row in db.query_all(&query).await? {
        out.push((
            row.try_get("", "id")?,
            row.try_get("", "n")?,
            row.try_get("", "users")?,
        ));
    }
    Ok(out)
}

/// The channel's broadcasts overlapping `[from, to]`, newest first (at most
/// [`MAX_BROADCASTS`]).
pub async fn broadcasts_in(
    db: &DatabaseConnection,
    channel_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<broadcast::Model>, DbErr> {
    broadcast::Entity::find()
        .filter(broadcast::Column::ChannelId.eq(channel_id))
        .filter(broadcast::Column::StartedAt.lte(to))
        .filter(
            Condition::any()
                .add(broadcast::Column::EndedAt.is_null())
                .add(broadcast::Column::EndedAt.gte(from)),
        )
        .order_by_desc(broadcast::Column::StartedAt)
        .limit(MAX_BROADCASTS)
        .all(db)
        .await
}

/// The channel's followers now, and those who followed in `[from, to]`.
pub async fn followers(
    db: &DatabaseConnection,
    channel_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(i64, i64), DbErr> {
    let all = follow::Entity::find().filter(follow::Column::ChannelId.eq(channel_id));
    let total = all.clone().count(db).await?;
    let new = all
        .filter(follow::Column::CreatedAt.gte(from))
        .filter(follow::Column::CreatedAt.lte(to))
        .count(db)
        .await?;
    Ok((
        i64::try_from(total).unwrap_or(i64::MAX),
        i64::try_from(new).unwrap_or(i64::MAX),
    ))
}
