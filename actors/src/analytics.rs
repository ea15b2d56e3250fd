//! Analytics: viewer samples of live channels and view sessions.
//!
//! [`AnalyticsCore`] is plain logic, owned and fed each second by the presence actor with the
//! viewers of the broadcasts this node runs. It keeps one *view session* per continuous watch
//! (a viewer seen on a live broadcast starts one; silent longer than the presence TTL ends
//! it; its watch time is last seen minus started), decides when a sample is due, and hands
//! out [`Batch`]es of rows to write: a batch forms at most once per tick and only while no
//! earlier one is being written, so the database sees a few statements per tick however many
//! viewers there are. Ended sessions go out with the next batch, open ones with each sample.
//!
//! The rest are the database functions: [`write_batch`] (samples with their chat counts,
//! session inserts and updates) and the read side the API uses ([`summaries`], [`samples`],
//! [`followers`]). Figures are defined in `docs/ANALYTICS.md`.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Alias, Expr, Func, JoinType, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use streamhall_entities::{
    broadcast, chat_message, follow, secret::sha256_hex, stream_analytics, view_session,
};

/// Open sessions kept per broadcast (as many viewers as presence stores per channel); viewers
/// beyond it are counted in samples but get no session.
pub const MAX_SESSIONS_PER_BROADCAST: usize = crate::presence::MAX_VIEWERS_PER_CHANNEL;
/// Ended sessions waiting for the database; beyond it (the database is down or far behind)
/// further ended sessions are dropped and counted.
pub const MAX_PENDING_ENDED: usize = 100_000;
/// Sample lists the API returns are downsampled to about this many points.
pub const MAX_SAMPLES: usize = 2_000;
/// Broadcasts a channel range lists at most (newest first).
pub const MAX_BROADCASTS: u64 = 500;
/// Rows per INSERT statement.
const WRITE_CHUNK: usize = 1_000;
/// Samples per SELECT when reading a range.
const READ_PAGE: u64 = 5_000;

/// The stored form of a viewer key: its SHA-256, hex (64 characters).
pub fn viewer_id(viewer_key: &str) -> String {
    sha256_hex(viewer_key)
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

// ---------------------------------------------------------------------------------------------
// Sessions and samples in memory

/// A view session on its way to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Matches the row id returned by an insert back to the session.
    pub token: u64,
    pub broadcast_id: i64,
    pub viewer_id: String,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The stored row, for updates.
    pub id: Option<i64>,
}

impl SessionRow {
    /// Last seen minus started, to the nearest second.
    pub fn watch_seconds(&self) -> i64 {
        ((self.last_seen_at - self.started_at)
            .num_milliseconds()
            .max(0)
            + 500)
            / 1000
    }
}

/// A sample to write; its chat counts are read from `chat_messages` at write time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRow {
    pub broadcast_id: i64,
    pub at: DateTime<Utc>,
    pub viewers: i64,
    /// The previous sample; `None` for the first, whose chat counts start at the broadcast's
    /// start.
    pub since: Option<DateTime<Utc>>,
}

/// Rows to write, in one go.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    pub samples: Vec<SampleRow>,
    /// Open sessions not stored yet: inserted, their ids returned.
    pub insert_open: Vec<SessionRow>,
    /// Ended sessions never stored: inserted.
    pub insert_ended: Vec<SessionRow>,
    /// Stored sessions (open or ended): `last_seen_at` and `watch_seconds` updated.
    pub update: Vec<SessionRow>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
            && self.insert_open.is_empty()
            && self.insert_ended.is_empty()
            && self.update.is_empty()
    }
}

/// What [`write_batch`] did.
#[derive(Debug, Default)]
pub struct BatchWritten {
    /// `(token, id)` of the open sessions inserted.
    pub inserted: Vec<(u64, i64)>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    No,
    /// In the batch being written; its id comes back with [`AnalyticsCore::written`].
    Inserting,
    Id(i64),
}

#[derive(Debug, Clone)]
struct Session {
    token: u64,
    viewer_id: String,
    started: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    stored: Stored,
}

#[derive(Debug)]
struct Tracked {
    broadcast_id: i64,
    begun: DateTime<Utc>,
    /// Open sessions by viewer key.
    sessions: HashMap<String, Session>,
    next_sample: DateTime<Utc>,
    last_sample: Option<DateTime<Utc>>,
    /// Open sessions go out with the next batch (set when a sample is taken).
    write_open: bool,
}

/// View sessions and sample timing of the broadcasts this node runs. Time is passed in, so
/// tests script it.
#[derive(Debug)]
pub struct AnalyticsCore {
    every: TimeDelta,
    max_sessions: usize,
    /// By channel slug.
    broadcasts: HashMap<String, Tracked>,
    ended: Vec<(i64, Session)>,
    final_samples: Vec<SampleRow>,
    next_token: u64,
    /// Viewers not given a session (broadcast full), and ended sessions dropped (queue full).
    pub untracked: u64,
    pub dropped: u64,
}

impl AnalyticsCore {
    pub fn new(every: Duration, max_sessions: usize) -> Self {
        Self {
            every: delta(every.max(Duration::from_secs(1))),
            max_sessions,
            broadcasts: HashMap::new(),
            ended: Vec::new(),
            final_samples: Vec::new(),
            next_token: 0,
            untracked: 0,
            dropped: 0,
        }
    }

    /// Follows the broadcasts this node runs (`(slug, broadcast_id, began)`, from the peak
    /// tracker): ends those gone or replaced (a final sample with `viewers(slug)`, every
    /// session closed), then begins the new ones; returns the slugs begun.
    pub fn sync_broadcasts(
        &mut self,
        running: &[(String, i64, DateTime<Utc>)],
        viewers: impl Fn(&str) -> u64,
        now: DateTime<Utc>,
    ) -> Vec<String> {
        let gone: Vec<String> = self
            .broadcasts
            .iter()
            .filter(|(slug, t)| {
                !running
                    .iter()
                    .any(|(s, id, _)| s == *slug && *id == t.broadcast_id)
            })
            .map(|(slug, _)| slug.clone())
            .collect();
        for slug in gone {
            let n = viewers(&slug);
            self.end(&slug, n, now);
        }
        let mut begun = Vec::new();
        for (slug, id, began) in running {
            if !self.broadcasts.contains_key(slug) {
                self.begin(slug, *id, *began);
                begun.push(slug.clone());
            }
        }
        begun
    }

    /// The channels whose broadcast is tracked.
    pub fn slugs(&self) -> Vec<String> {
        self.broadcasts.keys().cloned().collect()
    }

    pub fn begin(&mut self, slug: &str, broadcast_id: i64, now: DateTime<Utc>) {
        self.broadcasts.insert(
            slug.to_owned(),
            Tracked {
                broadcast_id,
                begun: now,
                sessions: HashMap::new(),
                next_sample: now + self.every,
                last_sample: None,
                write_open: false,
            },
        );
    }

    /// The channel's broadcast is over: its final sample and the end of its sessions.
    pub fn end(&mut self, slug: &str, viewers: u64, now: DateTime<Utc>) {
        let Some(t) = self.broadcasts.remove(slug) else {
            return;
        };
        self.final_samples.push(SampleRow {
            broadcast_id: t.broadcast_id,
            at: now,
            viewers: i64::try_from(viewers).unwrap_or(i64::MAX),
            since: t.last_sample,
        });
        for (_, s) in t.sessions {
            self.push_ended(t.broadcast_id, s);
        }
    }

    /// The broadcast of `slug` tracked here.
    pub fn broadcast(&self, slug: &str) -> Option<i64> {
        self.broadcasts.get(slug).map(|t| t.broadcast_id)
    }

    /// A viewer of `slug` fetched a playlist at `at` (repeats and out-of-order reports are
    /// fine). A gap longer than `ttl` since the last request ends the session and starts
    /// another.
    pub fn seen(&mut self, slug: &str, viewer_key: &str, at: DateTime<Utc>, ttl: Duration) {
        self.present(slug, viewer_key, at, at, ttl);
    }

    /// A viewer of `slug` has been fetching playlists from `first` to `last` without a gap
    /// longer than `ttl` (as presence saw it). If `first` is more than `ttl` after the
    /// session's last request, that session ended and this is another.
    pub fn present(
        &mut self,
        slug: &str,
        viewer_key: &str,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
        ttl: Duration,
    ) {
        let Some(t) = self.broadcasts.get_mut(slug) else {
            return;
        };
        let (first, last) = (first.max(t.begun), last.max(t.begun));
        if let Some(s) = t.sessions.get_mut(viewer_key) {
            if first - s.last_seen <= delta(ttl) {
                s.last_seen = s.last_seen.max(last);
                return;
            }
            let old = s.clone();
            let id = t.broadcast_id;
            t.sessions.remove(viewer_key);
            self.push_ended(id, old);
        }
        let Some(t) = self.broadcasts.get_mut(slug) else {
            return;
        };
        if t.sessions.len() >= self.max_sessions {
            self.untracked += 1;
            return;
        }
        self.next_token += 1;
        t.sessions.insert(
            viewer_key.to_owned(),
            Session {
                token: self.next_token,
                viewer_id: viewer_id(viewer_key),
                started: first,
                last_seen: last,
                stored: Stored::No,
            },
        );
    }

    /// Ends the sessions silent for longer than `ttl(slug)`.
    pub fn expire(&mut self, now: DateTime<Utc>, ttl: impl Fn(&str) -> Duration) {
        let mut ended = Vec::new();
        for (slug, t) in &mut self.broadcasts {
            let ttl = delta(ttl(slug));
            let id = t.broadcast_id;
            t.sessions.retain(|_, s| {
                let open = now - s.last_seen <= ttl;
                if !open {
                    ended.push((id, s.clone()));
                }
                open
            });
        }
        for (id, s) in ended {
            self.push_ended(id, s);
        }
    }

    fn push_ended(&mut self, broadcast_id: i64, s: Session) {
        if self.ended.len() >= MAX_PENDING_ENDED {
            self.dropped += 1;
        } else {
            self.ended.push((broadcast_id, s));
        }
    }

    /// Open sessions of `slug`'s broadcast.
    pub fn open_sessions(&self, slug: &str) -> usize {
        self.broadcasts.get(slug).map_or(0, |t| t.sessions.len())
    }

    /// The rows to write now, if any: due samples (with `viewers(slug)`), final samples,
    /// ended sessions, and with each sample the broadcast's open sessions. Call only when
    /// the previous batch is [`written`](Self::written).
    pub fn take_batch(
        &mut self,
        now: DateTime<Utc>,
        viewers: impl Fn(&str) -> u64,
    ) -> Option<Batch> {
        let mut batch = Batch {
            samples: std::mem::take(&mut self.final_samples),
            ..Batch::default()
        };
        for (slug, t) in &mut self.broadcasts {
            if now >= t.next_sample {
                batch.samples.push(SampleRow {
                    broadcast_id: t.broadcast_id,
                    at: now,
                    viewers: i64::try_from(viewers(slug)).unwrap_or(i64::MAX),
                    since: t.last_sample,
                });
                t.last_sample = Some(now);
                t.next_sample += self.every;
                if t.next_sample <= now {
                    t.next_sample = now + self.every;
                }
                t.write_open = true;
            }
            if !std::mem::take(&mut t.write_open) {
                continue;
            }
            for s in t.sessions.values_mut() {
                let row = row(t.broadcast_id, s);
                match s.stored {
                    Stored::No => {
                        s.stored = Stored::Inserting;
                        batch.insert_open.push(row);
                    }
                    Stored::Id(_) => batch.update.push(row),
                    Stored::Inserting => {}
                }
            }
        }
        // Sessions whose insert is still out wait for their id.
        self.ended.retain(|(id, s)| match s.stored {
            Stored::No => {
                batch.insert_ended.push(row(*id, s));
                false
            }
            Stored::Id(_) => {
                batch.update.push(row(*id, s));
                false
            }
            Stored::Inserting => true,
        });
        (!batch.is_empty()).then_some(batch)
    }

    /// The batch is written: sessions inserted get their ids; those whose insert failed are
    /// inserted with the next batch.
    pub fn written(&mut self, inserted: &[(u64, i64)]) {
        let ids: HashMap<u64, i64> = inserted.iter().copied().collect();
        let settle = |s: &mut Session| {
            if s.stored == Stored::Inserting {
                s.stored = ids.get(&s.token).map_or(Stored::No, |id| Stored::Id(*id));
            }
        };
        for t in self.broadcasts.values_mut() {
            t.sessions.values_mut().for_each(settle);
        }
        self.ended.iter_mut().for_each(|(_, s)| settle(s));
    }
}

fn row(broadcast_id: i64, s: &Session) -> SessionRow {
    SessionRow {
        token: s.token,
        broadcast_id,
        viewer_id: s.viewer_id.clone(),
        started_at: s.started,
        last_seen_at: s.last_seen,
        id: match s.stored {
            Stored::Id(id) => Some(id),
            _ => None,
        },
    }
}

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const TTL: Duration = Duration::from_secs(4);

    /// Second `s` of the script.
    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn session(token: u64, viewer: &str, from: i64, to: i64, id: Option<i64>) -> SessionRow {
        SessionRow {
            token,
            broadcast_id: 7,
            viewer_id: viewer_id(viewer),
            started_at: t(from),
            last_seen_at: t(to),
            id,
        }
    }

    fn sorted(mut rows: Vec<SessionRow>) -> Vec<SessionRow> {
        rows.sort_by_key(|r| r.token);
        rows
    }

    /// Ids as the database would hand them out: 100 + token.
    fn store(core: &mut AnalyticsCore, batch: &Batch) {
        let ids: Vec<(u64, i64)> = batch
            .insert_open
            .iter()
            .map(|r| (r.token, 100 + r.token as i64))
            .collect();
        core.written(&ids);
    }

    /// Second `s` (0..=31) of the script: broadcast 7 of channel `a` from second 0 to 31,
    /// three players poll every 2 s from second 1, v3 stops after second 11; presence counts
    /// 3 viewers until second 15, then 2. Samples every 10 s. The batch to write, if any.
    fn script_second(core: &mut AnalyticsCore, s: i64) -> Option<Batch> {
        let running = [("a".to_owned(), 7, t(0))];
        let live: &[(String, i64, DateTime<Utc>)] = if s < 31 { &running } else { &[] };
        let viewers = |_: &str| if s <= 15 { 3 } else { 2 };
        core.sync_broadcasts(live, viewers, t(s));
        if s % 2 == 1 && s < 31 {
            core.seen("a", "v1", t(s), TTL);
            core.seen("a", "v2", t(s), TTL);
            if s <= 11 {
                core.seen("a", "v3", t(s), TTL);
            }
        }
        core.expire(t(s), |_| TTL);
        core.take_batch(t(s), viewers)
    }

    fn scripted_audience() -> Vec<(i64, Batch)> {
        let mut core = AnalyticsCore::new(Duration::from_secs(10), 100);
        let mut batches = Vec::new();
        for s in 0..=31 {
            if let Some(batch) = script_second(&mut core, s) {
                store(&mut core, &batch);
                batches.push((s, batch));
            }
        }
        assert_eq!(core.open_sessions("a"), 0);
        batches
    }

    #[test]
    fn a_scripted_audience_gives_exact_samples_and_sessions() {
        let batches = scripted_audience();
        let at: Vec<i64> = batches.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            at,
            [10, 16, 20, 30, 31],
            "a batch per sample, and one when v3 left"
        );

        let (_, b) = &batches[0];
        assert_eq!(
            b.samples,
            [SampleRow {
                broadcast_id: 7,
                at: t(10),
                viewers: 3,
                since: None
            }]
        );
        assert_eq!(
            sorted(b.insert_open.clone()),
            [
                session(1, "v1", 1, 9, None),
                session(2, "v2", 1, 9, None),
                session(3, "v3", 1, 9, None),
            ]
        );
        assert!(b.update.is_empty() && b.insert_ended.is_empty());

        // v3 is silent from second 11: ended once more than the TTL passed (second 16).
        let (_, b) = &batches[1];
        assert!(b.samples.is_empty() && b.insert_open.is_empty());
        assert_eq!(b.update, [session(3, "v3", 1, 11, Some(103))]);
        assert_eq!(b.update[0].watch_seconds(), 10);

        let (_, b) = &batches[2];
        assert_eq!(
            b.samples,
            [SampleRow {
                broadcast_id: 7,
                at: t(20),
                viewers: 2,
                since: Some(t(10))
            }]
        );
        assert_eq!(
            sorted(b.update.clone()),
            [
                session(1, "v1", 1, 19, Some(101)),
                session(2, "v2", 1, 19, Some(102)),
            ]
        );

        // The end: a final sample, and both open sessions closed at their last request.
        let (_, b) = &batches[4];
        assert_eq!(
            b.samples,
            [SampleRow {
                broadcast_id: 7,
                at: t(31),
                viewers: 2,
                since: Some(t(30))
            }]
        );
        assert_eq!(
            sorted(b.update.clone()),
            [
                session(1, "v1", 1, 29, Some(101)),
                session(2, "v2", 1, 29, Some(102)),
            ]
        );
        let watch: i64 = b.update.iter().map(SessionRow::watch_seconds).sum::<i64>() + 10;
        assert_eq!(watch, 66, "28 + 28 + 10 seconds watched");
    }

    #[test]
    fn a_viewer_back_after_the_ttl_starts_a_new_session() {
        let mut core = AnalyticsCore::new(Duration::from_secs(30), 100);
        core.begin("a", 7, t(0));
        core.seen("a", "v1", t(1), TTL);
        core.seen("a", "v1", t(3), TTL);
        // Reports may repeat and arrive out of order.
        core.seen("a", "v1", t(2), TTL);
        core.seen("a", "v1", t(10), TTL);
        let b = core.take_batch(t(10), |_| 1).unwrap();
        assert_eq!(b.insert_ended, [session(1, "v1", 1, 3, None)]);
        assert!(b.samples.is_empty() && b.insert_open.is_empty());
        assert_eq!(core.open_sessions("a"), 1);
        // Nothing else to write until the sample.
        assert_eq!(core.take_batch(t(11), |_| 1), None);
        let b = core.take_batch(t(30), |_| 1).unwrap();
        assert_eq!(b.insert_open, [session(2, "v1", 10, 10, None)]);
    }

    #[test]
    fn presence_reports_first_and_latest_requests() {
        let mut core = AnalyticsCore::new(Duration::from_secs(30), 100);
        core.begin("a", 7, t(0));
        // Two requests between rounds: the session starts at the first.
        core.present("a", "v1", t(1), t(2), TTL);
        core.present("a", "v1", t(1), t(4), TTL);
        // Expired in presence and back: a new entry, so a new session.
        core.present("a", "v1", t(12), t(13), TTL);
        let b = core.take_batch(t(13), |_| 1).unwrap();
        assert_eq!(b.insert_ended, [session(1, "v1", 1, 4, None)]);
        let b = core.take_batch(t(30), |_| 1).unwrap();
        assert_eq!(b.insert_open, [session(2, "v1", 12, 13, None)]);
        let mut half = session(3, "v1", 0, 0, None);
        half.last_seen_at = half.started_at + TimeDelta::milliseconds(2_500);
        assert_eq!(half.watch_seconds(), 3, "to the nearest second");
    }

    #[test]
    fn requests_before_the_broadcast_began_count_from_its_start_and_others_are_ignored() {
        let mut core = AnalyticsCore::new(Duration::from_secs(30), 100);
        core.seen("a", "v1", t(1), TTL);
        core.begin("a", 7, t(5));
        core.seen("a", "v1", t(4), TTL);
        core.seen("b", "v1", t(6), TTL);
        core.end("a", 1, t(8));
        let b = core.take_batch(t(8), |_| 1).unwrap();
        assert_eq!(b.insert_ended, [session(1, "v1", 5, 5, None)]);
        assert_eq!(b.samples[0].since, None);
        assert_eq!(core.broadcast("b"), None);
    }

    #[test]
    fn sessions_are_capped_per_broadcast() {
        let mut core = AnalyticsCore::new(Duration::from_secs(30), 2);
        core.begin("a", 7, t(0));
        for v in ["v1", "v2", "v3", "v3"] {
            core.seen("a", v, t(1), TTL);
        }
        assert_eq!(core.open_sessions("a"), 2);
        assert_eq!(core.untracked, 2);
    }

    #[test]
    fn a_session_ending_while_its_insert_is_out_waits_for_its_id() {
        let mut core = AnalyticsCore::new(Duration::from_secs(1), 100);
        core.begin("a", 7, t(0));
        core.seen("a", "v1", t(0), TTL);
        let b = core.take_batch(t(1), |_| 1).unwrap();
        assert_eq!(b.insert_open.len(), 1);
        // Ended while that batch is being written: not inserted a second time...
        core.expire(t(9), |_| TTL);
        let b = core.take_batch(t(9), |_| 0).unwrap();
        assert!(b.insert_ended.is_empty() && b.update.is_empty());
        // ...but updated once its id is known.
        core.written(&[(1, 55)]);
        let b = core.take_batch(t(10), |_| 0).unwrap();
        assert_eq!(b.update, [session(1, "v1", 0, 0, Some(55))]);

        // An insert that failed is retried.
        core.seen("a", "v2", t(10), TTL);
        let b = core.take_batch(t(11), |_| 1).unwrap();
        assert_eq!(b.insert_open.len(), 1);
        core.written(&[]);
        let b = core.take_batch(t(12), |_| 1).unwrap();
        assert_eq!(b.insert_open, [session(2, "v2", 10, 10, None)]);
    }

    #[test]
    fn a_replaced_broadcast_ends_and_the_new_one_begins() {
        let mut core = AnalyticsCore::new(Duration::from_secs(30), 100);
        let begun = core.sync_broadcasts(&[("a".to_owned(), 7, t(0))], |_| 0, t(0));
        assert_eq!(begun, ["a"]);
        core.seen("a", "v1", t(1), TTL);
        let begun = core.sync_broadcasts(&[("a".to_owned(), 8, t(2))], |_| 4, t(2));
        assert_eq!(begun, ["a"]);
        assert!(
            core.sync_broadcasts(&[("a".to_owned(), 8, t(2))], |_| 4, t(3))
                .is_empty()
        );
        assert_eq!(core.broadcast("a"), Some(8));
        let b = core.take_batch(t(2), |_| 4).unwrap();
        assert_eq!(
            b.samples,
            [SampleRow {
                broadcast_id: 7,
                at: t(2),
                viewers: 4,
                since: None
            }]
        );
        assert_eq!(b.insert_ended, [session(1, "v1", 1, 1, None)]);
    }

    fn sample(s: i64, broadcast_id: i64, viewers: i64) -> Sample {
        Sample {
            at: t(s),
            broadcast_id,
            viewers,
            chatters: viewers % 3,
            chat_messages: 2 * viewers,
        }
    }

    #[test]
    fn downsampling_averages_buckets_of_one_broadcast() {
        // Few samples pass through.
        let mut d = Downsampler::new(t(0), t(100), 10, 3);
        for s in [sample(0, 1, 5), sample(5, 1, 6), sample(10, 1, 7)] {
            d.push(s);
        }
        assert_eq!(d.finish().len(), 3);

        // 20 samples over 100 s into 10 buckets of 10 s; broadcast 2 starts at second 55.
        let mut d = Downsampler::new(t(0), t(100), 10, 20);
        for i in 0..20 {
            d.push(sample(i * 5, if i < 11 { 1 } else { 2 }, i));
        }
        let out = d.finish();
        assert_eq!(out.len(), 11, "bucket 5 is split between the broadcasts");
        assert_eq!(
            out[0],
            Sample {
                at: t(0),
                broadcast_id: 1,
                viewers: 1, // (0 + 1) / 2, rounded half up
                chatters: 1,
                chat_messages: 1,
            }
        );
        assert_eq!(
            (out[5].at, out[5].broadcast_id, out[5].viewers),
            (t(50), 1, 10)
        );
        assert_eq!(
            (out[6].at, out[6].broadcast_id, out[6].viewers),
            (t(55), 2, 11)
        );
        assert_eq!((out[10].at, out[10].viewers), (t(90), 19));
    }

    fn broadcast_row(ended: Option<i64>) -> broadcast::Model {
        broadcast::Model {
            id: 7,
            channel_id: 1,
            started_at: t(0),
            ended_at: ended.map(t),
            title: "show".into(),
            peak_viewers: 2,
            went_live_at: Some(t(0)),
            failure: None,
            owner_node: None,
        }
    }

    #[test]
    fn a_summary_sums_up_the_figures() {
        let f = Figures {
            sample_peak: 3,
            sample_sum: 7,
            samples: 4,
            unique_viewers: 3,
            watch_time_s: 66,
            chat_messages: 5,
            chatters: 2,
            new_followers: 1,
        };
        let s = summarize(&broadcast_row(Some(31)), &f, t(100));
        assert_eq!(s.duration_s, 31);
        assert_eq!(s.peak_viewers, 3, "the higher of saved and sampled");
        assert_eq!(s.avg_viewers, 1.75);
        assert_eq!(s.avg_watch_s, 22.0);
        assert_eq!((s.unique_viewers, s.watch_time_s), (3, 66));
        assert_eq!((s.chat_messages, s.chatters, s.new_followers), (5, 2, 1));

        let live = summarize(&broadcast_row(None), &Figures::default(), t(100));
        assert_eq!(live.duration_s, 100, "a live broadcast lasts until now");
        assert_eq!(
            (live.peak_viewers, live.avg_viewers, live.avg_watch_s),
            (2, 0.0, 0.0)
        );
    }

    /// The scripted audience through the real write path into SQLite and back.
    #[tokio::test]
    async fn written_batches_sum_up_in_the_database() {
        use sea_orm::{ActiveModelTrait, Database};
        use streamhall_entities::{channel, user};
        use streamhall_migration::MigratorTrait;

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
        let db = Database::connect(url).await.unwrap();
        streamhall_migration::Migrator::up(&db, None).await.unwrap();
        let now = t(0);
        let u = |id: i64, name: &str| user::ActiveModel {
            id: Set(id),
            username: Set(name.into()),
            username_key: Set(name.into()),
            email: Set(format!("{name}@example.com")),
            display_name: Set(name.into()),
            bio: Set(String::new()),
            password_hash: Set("x".into()),
            role: Set("user".into()),
            token_version: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
        };
        for (id, name) in [(1, "owner"), (2, "alice"), (3, "bob"), (4, "carol")] {
            u(id, name).insert(&db).await.unwrap();
        }
        channel::ActiveModel {
            id: Set(1),
            owner_id: Set(1),
            slug: Set("a".into()),
            title: Set("show".into()),
            description: Set(String::new()),
            category: Set(String::new()),
            is_live: Set(false),
            stream_key_hash: Set("h".into()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        let mut b = broadcast_row(Some(31));
        b.peak_viewers = 0;
        broadcast::ActiveModel {
            id: Set(7),
            channel_id: Set(1),
            started_at: Set(b.started_at),
            ended_at: Set(b.ended_at),
            title: Set(b.title.clone()),
            peak_viewers: Set(0),
            went_live_at: Set(b.went_live_at),
            failure: Set(None),
            owner_node: Set(None),
        }
        .insert(&db)
        .await
        .unwrap();
        // Chat: alice at 5 and 12, bob at 25, alice after the end; a follow at 20, one before.
        for (id, user_id, s) in [(1, 2, 5), (2, 2, 12), (3, 3, 25), (4, 2, 40)] {
            chat_message::ActiveModel {
                channel_id: Set(1),
                id: Set(id),
                user_id: Set(user_id),
                username: Set("x".into()),
                role: Set("viewer".into()),
                text: Set("hi".into()),
                client_id: Set(None),
                created_at: Set(t(s)),
                deleted_at: Set(None),
                deleted_by: Set(None),
            }
            .insert(&db)
            .await
            .unwrap();
        }
        for (user_id, s) in [(3, -100), (4, 20)] {
            follow::ActiveModel {
                user_id: Set(user_id),
                channel_id: Set(1),
                created_at: Set(t(s)),
                last_emailed_at: Set(None),
            }
            .insert(&db)
            .await
            .unwrap();
        }

        // The script again, written for real (ids from the database this time).
        let mut core = AnalyticsCore::new(Duration::from_secs(10), 100);
        for s in 0..=31 {
            if let Some(batch) = script_second(&mut core, s) {
                let written = write_batch(&db, batch).await;
                assert!(written.errors.is_empty(), "{:?}", written.errors);
                core.written(&written.inserted);
            }
        }
        let rows = view_session::Entity::find().all(&db).await.unwrap();
        assert_eq!(rows.len(), 3, "one row per session: {rows:?}");

        let got = samples(&db, SampleScope::Broadcast(7), t(0), t(31), MAX_SAMPLES)
            .await
            .unwrap();
        let figures: Vec<(i64, i64, i64, i64)> = got
            .iter()
            .map(|s| {
                (
                    (s.at - t(0)).num_seconds(),
                    s.viewers,
                    s.chatters,
                    s.chat_messages,
                )
            })
            .collect();
        assert_eq!(
            figures,
            [(10, 3, 1, 1), (20, 2, 1, 1), (30, 2, 1, 1), (31, 2, 0, 0)]
        );

        let s = summaries(&db, &[b], t(100)).await.unwrap().remove(0);
        assert_eq!(s.peak_viewers, 3);
        assert_eq!(s.avg_viewers, 2.25);
        assert_eq!(s.unique_viewers, 3);
        assert_eq!(s.watch_time_s, 66);
        assert_eq!(s.avg_watch_s, 22.0);
        assert_eq!((s.chat_messages, s.chatters, s.new_followers), (3, 2, 1));
        assert_eq!(followers(&db, 1, t(0), t(31)).await.unwrap(), (2, 1));
        let listed = broadcasts_in(&db, 1, t(30), t(60)).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(
            broadcasts_in(&db, 1, t(32), t(60))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
