//! One go-live fan-out: claim it, then walk the channel's followers in bounded batches.
//!
//! The claim is a `notification_jobs` row keyed by (broadcast, event): the node whose insert
//! succeeds runs the job, every other node (which got the same event over the bus) skips it.
//! Each batch of [`NotifyConfig::batch_size`] followers (in user id order, by keyset):
//! 1. drops the followers who muted the channel;
//! 2. inserts their notifications in one statement returning the new ids (unique per user, kind
//!    and broadcast, so a repeated batch inserts nothing twice), in one transaction with the
//!    job's progress;
//! 3. publishes the (user, notification id) pairs on the bus, so every node pushes to the
//!    sockets it holds;
//! 4. with SMTP configured, claims the email throttle for the followers who want email (one
//!    `UPDATE ... RETURNING`: only pairs not emailed within the throttle come back) and queues
//!    their emails.
//!
//! Progress (`done`) is in the job row and in memory for the health tree.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend,
    DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use streamhall_entities::{
    Channel, Follow, Notification, NotificationJob, NotificationMute, NotificationSetting, User,
    follow, notification, notification_job, notification_mute, notification_setting, user,
};

use super::config::NotifyConfig;
use super::email::{self, Email, Mailer};
use super::protocol::streamer_name;
use crate::bus::{Bus, BusEvent, NotificationPush};

pub const KIND_STREAM_ONLINE: &str = "stream_online";
pub const EVENT_ONLINE: &str = "stream.online";
pub const EVENT_OFFLINE: &str = "stream.offline";

/// Progress of a running job, shared with the health tree.
#[derive(Debug, Default)]
pub struct Progress {
    pub total: AtomicU64,
    pub done: AtomicU64,
    pub notified: AtomicU64,
    pub emailed: AtomicU64,
}

/// Tries to claim (broadcast, event) for this node. `false`: another node (or an earlier run)
/// has it.
pub async fn claim(
    db: &DatabaseConnection,
    broadcast_id: i64,
    event: &str,
    channel_id: i64,
    node: &str,
) -> Result<bool, DbErr> {
    let res = NotificationJob::insert(notification_job::ActiveModel {
        broadcast_id: Set(broadcast_id),
        event: Set(event.to_owned()),
        channel_id: Set(channel_id),
        node: Set(node.chars().take(64).collect()),
        state: Set("running".into()),
        total: Set(0),
        done: Set(0),
        started_at: Set(Utc::now()),
        finished_at: Set(None),
    })
    .on_conflict(
        OnConflict::columns([
            notification_job::Column::BroadcastId,
            notification_job::Column::Event,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await;
    match res {
        Ok(n) => Ok(n == 1),
        Err(DbErr::RecordNotInserted) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Online fan-outs left `running` by an earlier process (it stopped or crashed mid-way), taken
/// over by `node`. Only for a single node: with several, another node may still be running one.
pub async fn take_over_abandoned(
    db: &DatabaseConnection,
    node: &str,
) -> Result<Vec<GoLive>, DbErr> {
    use streamhall_entities::{Broadcast, notification_job::Model as JobRow};
    let rows: Vec<JobRow> = NotificationJob::find()
        .filter(notification_job::Column::State.eq("running"))
        .filter(notification_job::Column::Event.eq(EVENT_ONLINE))
        .filter(notification_job::Column::Node.ne(node))
        .all(db)
        .await?;
    let mut jobs = Vec::new();
    for row in rows {
        let taken = NotificationJob::update_many()
            .col_expr(notification_job::Column::Node, Expr::value(node))
            .filter(notification_job::Column::BroadcastId.eq(row.broadcast_id))
            .filter(notification_job::Column::Event.eq(EVENT_ONLINE))
            .filter(notification_job::Column::Node.eq(row.node.clone()))
            .exec(db)
            .await?
            .rows_affected
            == 1;
        let (Some(b), Some(c)) = (
            Broadcast::find_by_id(row.broadcast_id).one(db).await?,
            Channel::find_by_id(row.channel_id).one(db).await?,
        ) else {
            continue;
        };
        if taken {
            jobs.push(GoLive {
                channel_id: c.id,
                slug: c.slug,
                broadcast_id: b.id,
                title: b.title,
            });
        }
    }
    Ok(jobs)
}

pub async fn finish(
    db: &DatabaseConnection,
    broadcast_id: i64,
    event: &str,
    state: &str,
    progress: &Progress,
) -> Result<(), DbErr> {
    NotificationJob::update_many()
        .col_expr(notification_job::Column::State, Expr::value(state))
        .col_expr(
            notification_job::Column::Done,
            Expr::value(progress.done.load(Ordering::Relaxed) as i64),
        )
        .col_expr(
            notification_job::Column::FinishedAt,
            Expr::value(Some(Utc::now())),
        )
        .filter(notification_job::Column::BroadcastId.eq(broadcast_id))
        .filter(notification_job::Column::Event.eq(event))
        .exec(db)
        .await?;
    Ok(())
}

/// What a go-live fan-out needs.
pub struct GoLive {
    pub channel_id: i64,
    pub slug: String,
    pub broadcast_id: i64,
    pub title: String,
}

pub struct FanoutDeps<'a> {
    pub db: &'a DatabaseConnection,
    pub cfg: &'a NotifyConfig,
    pub bus: &'a Bus,
    pub mailer: Option<&'a Mailer>,
    pub public_url: &'a str,
}

/// Notifies every follower of `job.channel_id` (the job is already claimed).
pub async fn go_live(d: &FanoutDeps<'_>, job: &GoLive, progress: &Progress) -> Result<(), DbErr> {
    let total = Follow::find()
        .filter(follow::Column::ChannelId.eq(job.channel_id))
        .count(d.db)
        .await?;
    progress.total.store(total, Ordering::Relaxed);
    NotificationJob::update_many()
        .col_expr(notification_job::Column::Total, Expr::value(total as i64))
        .filter(notification_job::Column::BroadcastId.eq(job.broadcast_id))
        .filter(notification_job::Column::Event.eq(EVENT_ONLINE))
        .exec(d.db)
        .await?;
    let (channel_title, streamer_name) = match Channel::find_by_id(job.channel_id)
        .find_also_related(User)
        .one(d.db)
        .await?
    {
        Some((c, owner)) => (
            c.title,
            owner
                .map(|o| streamer_name(&o.display_name, &o.username))
                .unwrap_or_default(),
        ),
        None => (job.slug.clone(), String::new()),
    };
    let now = Utc::now();
    let push = Arc::new(NotificationPush {
        kind: KIND_STREAM_ONLINE.into(),
        channel_slug: job.slug.clone(),
        channel_title: channel_title.clone(),
        streamer_name,
        title: job.title.clone(),
        broadcast_id: Some(job.broadcast_id),
        created_at: now,
    });
    let batch = d.cfg.batch_size.clamp(1, 5000) as u64;
    let mut after = 0i64;
    loop {
        let followers: Vec<i64> = Follow::find()
            .select_only()
            .column(follow::Column::UserId)
            .filter(follow::Column::ChannelId.eq(job.channel_id))
            .filter(follow::Column::UserId.gt(after))
            .order_by_asc(follow::Column::UserId)
            .limit(batch)
            .into_tuple()
            .all(d.db)
            .await?;
        let Some(&last) = followers.last() else { break };
        after = last;
        let muted: HashSet<i64> = NotificationMute::find()
            .select_only()
            .column(notification_mute::Column::UserId)
            .filter(notification_mute::Column::ChannelId.eq(job.channel_id))
            .filter(notification_mute::Column::UserId.is_in(followers.iter().copied()))
            .into_tuple::<i64>()
            .all(d.db)
            .await?
            .into_iter()
            .collect();
        let recipients: Vec<i64> = followers
            .iter()
            .copied()
            .filter(|u| !muted.contains(u))
            .collect();
        let done = progress.done.load(Ordering::Relaxed) + followers.len() as u64;
        // The batch's rows and the job's progress in one transaction (one commit per batch).
        let write_started = std::time::Instant::now();
        let txn = d.db.begin().await?;
        let ids = insert_notifications(&txn, job, &recipients, now).await?;
        NotificationJob::update_many()
            .col_expr(notification_job::Column::Done, Expr::value(done as i64))
            .filter(notification_job::Column::BroadcastId.eq(job.broadcast_id))
            .filter(notification_job::Column::Event.eq(EVENT_ONLINE))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        progress.done.store(done, Ordering::Relaxed);
        if d.db.get_database_backend() == DbBackend::Sqlite {
            // SQLite has one writer, and a chat room waiting for the lock sleeps in growing
            // steps: leave the lock free as long as this batch held it, so chat messages get
            // stored in between (the fan-out takes about twice as long).
            tokio::time::sleep(write_started.elapsed().min(Duration::from_millis(50))).await;
        }
        if !ids.is_empty() {
            progress
                .notified
                .fetch_add(ids.len() as u64, Ordering::Relaxed);
            d.bus.publish(BusEvent::Notified {
                users: ids,
                notification: push.clone(),
            });
        }
        if let Some(mailer) = d.mailer
            && !recipients.is_empty()
        {
            let sent = email_batch(d, mailer, job, &channel_title, &recipients).await?;
            progress.emailed.fetch_add(sent, Ordering::Relaxed);
        }
        if (followers.len() as u64) < batch {
            break;
        }
    }
    Ok(())
}

/// Inserts the notifications of `users` (skipping any that exist); returns the (user, id)
/// pairs inserted.
async fn insert_notifications<C: ConnectionTrait>(
    db: &C,
    job: &GoLive,
    users: &[i64],
    now: DateTime<Utc>,
) -> Result<Vec<(i64, i64)>, DbErr> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let title: String = job.title.chars().take(140).collect();
    let rows = users.iter().map(|&user_id| notification::ActiveModel {
        user_id: Set(user_id),
        kind: Set(KIND_STREAM_ONLINE.into()),
        channel_id: Set(job.channel_id),
        broadcast_id: Set(Some(job.broadcast_id)),
        title: Set(title.clone()),
        created_at: Set(now),
        read_at: Set(None),
        ..Default::default()
    });
    let res = Notification::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                notification::Column::UserId,
                notification::Column::Kind,
                notification::Column::BroadcastId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_with_returning(db)
        .await;
    match res {
        Ok(rows) => Ok(rows.into_iter().map(|n| (n.user_id, n.id)).collect()),
        Err(DbErr::RecordNotInserted) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Claims the email throttle for the followers in `users` who want email, and queues theirs.
async fn email_batch(
    d: &FanoutDeps<'_>,
    mailer: &Mailer,
    job: &GoLive,
    channel_title: &str,
    users: &[i64],
) -> Result<u64, DbErr> {
    let opted_out: HashSet<i64> = NotificationSetting::find()
        .select_only()
        .column(notification_setting::Column::UserId)
        .filter(notification_setting::Column::UserId.is_in(users.iter().copied()))
        .filter(notification_setting::Column::EmailEnabled.eq(false))
        .into_tuple::<i64>()
        .all(d.db)
        .await?
        .into_iter()
        .collect();
    // Only to addresses their owner proved theirs (see `accounts.require_email_verification`).
    let verified: HashSet<i64> = User::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Id.is_in(users.iter().copied()))
        .filter(user::Column::EmailVerifiedAt.is_not_null())
        .filter(user::Column::DeletedAt.is_null())
        .into_tuple::<i64>()
        .all(d.db)
        .await?
        .into_iter()
        .collect();
    let wanted: Vec<i64> = users
        .iter()
        .copied()
        .filter(|u| !opted_out.contains(u) && verified.contains(u))
        .collect();
    if wanted.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let cutoff = now
        - chrono::Duration::from_std(d.cfg.email_throttle()).unwrap_or(chrono::Duration::hours(1));
    // Only the pairs not emailed since `cutoff` are updated and returned: the throttle holds
    // across nodes and across quick stream restarts.
    let claimed = Follow::update_many()
        .col_expr(follow::Column::LastEmailedAt, Expr::value(Some(now)))
        .filter(follow::Column::ChannelId.eq(job.channel_id))
        .filter(follow::Column::UserId.is_in(wanted.iter().copied()))
        .filter(
            Condition::any()
                .add(follow::Column::LastEmailedAt.is_null())
                .add(follow::Column::LastEmailedAt.lt(cutoff)),
        )
        .exec_with_returning(d.db)
        .await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let recipients = User::find()
        .filter(user::Column::Id.is_in(claimed.iter().map(|f| f.user_id)))
        .all(d.db)
        .await?;
    let (subject, body) = email::go_live(d.public_url, &job.slug, channel_title, &job.title);
    let mut n = 0;
    for u in recipients {
        mailer
            .send(Email {
                to: u.email,
                to_name: if u.display_name.trim().is_empty() {
                    u.username
                } else {
                    u.display_name
                },
                subject: subject.clone(),
                body: body.clone(),
            })
            .await;
        n += 1;
    }
    Ok(n)
}
