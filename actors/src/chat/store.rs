//! Chat's database side: loading a room, storing a batch of messages (ids handed out by the
//! `chat_rooms` counter in the same transaction), bans, moderators, deletions, history pages
//! and retention. Plain async functions over a `DatabaseConnection`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use streamhall_entities::{
    ChannelModerator, ChatBan, ChatMessage as ChatMessageRow, ChatModerationLog, ChatRoom, User,
    channel_moderator, chat_ban, chat_message, chat_moderation_log, chat_room, user,
};

use super::core::{BanState, PendingSend, RoomState, StoredMessage};
use super::protocol::{ChatMessage, ChatRole, RoomMode};

fn role_from_str(s: &str) -> ChatRole {
    match s {
        "admin" => ChatRole::Admin,
        "owner" => ChatRole::Owner,
        "moderator" => ChatRole::Moderator,
        _ => ChatRole::Viewer,
    }
}

fn role_str(r: ChatRole) -> &'static str {
    match r {
        ChatRole::Admin => "admin",
        ChatRole::Owner => "owner",
        ChatRole::Moderator => "moderator",
        ChatRole::Viewer => "viewer",
    }
}

fn to_stored(row: chat_message::Model) -> StoredMessage {
    StoredMessage {
        msg: ChatMessage {
            id: row.id,
            user_id: row.user_id,
            username: row.username,
            role: role_from_str(&row.role),
            text: row.text,
            sent_at: row.created_at,
        },
        client_id: row.client_id,
        deleted: row.deleted_at.is_some(),
    }
}

/// Makes sure the room row exists.
async fn ensure_room<C: ConnectionTrait>(db: &C, channel_id: i64) -> Result<(), DbErr> {
    ChatRoom::insert(chat_room::ActiveModel {
        channel_id: Set(channel_id),
        last_message_id: Set(0),
        slow_seconds: Set(0),
        followers_only_minutes: Set(None),
        emote_only: Set(false),
        blocked_terms: Set("[]".into()),
        updated_at: Set(Utc::now()),
    })
    .on_conflict_do_nothing()
    .exec(db)
    .await?;
    Ok(())
}

fn mode_of(row: &chat_room::Model) -> RoomMode {
    RoomMode {
        slow_seconds: row.slow_seconds.max(0) as u32,
        followers_only: row.followers_only_minutes.map(|m| m.max(0) as u32),
        emote_only: row.emote_only,
    }
}

/// The room's settings row (created if missing).
pub async fn room_row(db: &DatabaseConnection, channel_id: i64) -> Result<chat_room::Model, DbErr> {
    ensure_room(db, channel_id).await?;
    ChatRoom::find_by_id(channel_id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("chat room {channel_id}")))
}

pub fn terms_of(row: &chat_room::Model) -> Vec<String> {
    serde_json::from_str(&row.blocked_terms).unwrap_or_default()
}

/// Moderation state only (modes, terms, moderators, bans in force).
pub async fn load_moderation(db: &DatabaseConnection, channel_id: i64) -> Result<RoomState, DbErr> {
    let row = room_row(db, channel_id).await?;
    let moderators: HashSet<i64> = ChannelModerator::find()
        .filter(channel_moderator::Column::ChannelId.eq(channel_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    let now = Utc::now();
    let bans: HashMap<i64, BanState> = ChatBan::find()
        .filter(chat_ban::Column::ChannelId.eq(channel_id))
        .all(db)
        .await?
        .into_iter()
        .filter(|b| b.expires_at.is_none_or(|e| e > now))
        .map(|b| {
            (
                b.user_id,
                BanState {
                    until: b.expires_at,
                },
            )
        })
        .collect();
    Ok(RoomState {
        mode: mode_of(&row),
        blocked_terms: terms_of(&row),
        moderators,
        bans,
        head: row.last_message_id,
        recent: Vec::new(),
    })
}

/// Everything a room needs to start: moderation state, the id counter and the newest
/// `ring` messages.
pub async fn load_room(
    db: &DatabaseConnection,
    channel_id: i64,
    ring: usize,
) -> Result<RoomState, DbErr> {
    let mut state = load_moderation(db, channel_id).await?;
    // Messages up to the counter read above: a batch committed since is delivered later
    // (from Redis or the gap fill), never skipped.
    let mut recent: Vec<StoredMessage> = ChatMessageRow::find()
        .filter(chat_message::Column::ChannelId.eq(channel_id))
        .filter(chat_message::Column::Id.lte(state.head))
        .order_by_desc(chat_message::Column::Id)
        .limit(ring as u64)
        .all(db)
        .await?
        .into_iter()
        .map(to_stored)
        .collect();
    recent.reverse();
    state.recent = recent;
    Ok(state)
}

/// Stores a batch in one transaction and returns the id of its first message; the others
/// follow one by one. The counter update comes first so the transaction takes the write lock
/// before reading (SQLite) and holds the row lock until commit (PostgreSQL): ids are handed
/// out in commit order across every node.
pub async fn insert_batch(
    db: &DatabaseConnection,
    channel_id: i64,
    batch: &[PendingSend],
    sent_at: DateTime<Utc>,
) -> Result<i64, DbErr> {
    let n = batch.len() as i64;
    let tx = db.begin().await?;
    let updated = ChatRoom::update_many()
        .col_expr(
            chat_room::Column::LastMessageId,
            sea_orm::sea_query::ExprTrait::add(
                Expr::col(chat_room::Column::LastMessageId),
                Expr::val(n),
            ),
        )
        .filter(chat_room::Column::ChannelId.eq(channel_id))
        .exec(&tx)
        .await?;
    if updated.rows_affected != 1 {
        return Err(DbErr::RecordNotFound(format!("chat room {channel_id}")));
    }
    let last = ChatRoom::find_by_id(channel_id)
        .one(&tx)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("chat room {channel_id}")))?
        .last_message_id;
    let first = last - n + 1;
    let rows = batch
        .iter()
        .enumerate()
        .map(|(i, p)| chat_message::ActiveModel {
            channel_id: Set(channel_id),
            id: Set(first + i as i64),
            user_id: Set(p.user_id),
            username: Set(p.username.clone()),
            role: Set(role_str(p.role).into()),
            text: Set(p.text.clone()),
            client_id: Set(Some(p.client_id.clone())),
            created_at: Set(sent_at),
            deleted_at: Set(None),
            deleted_by: Set(None),
        });
    ChatMessageRow::insert_many(rows).exec(&tx).await?;
    tx.commit().await?;
    Ok(first)
}

/// The newest message id handed out in the room (committed: the counter moves in the same
/// transaction as the rows).
pub async fn last_message_id(db: &DatabaseConnection, channel_id: i64) -> Result<i64, DbErr> {
    ChatRoom::find_by_id(channel_id)
        .one(db)
        .await?
        .map(|r| r.last_message_id)
        .ok_or_else(|| DbErr::RecordNotFound(format!("chat room {channel_id}")))
}

/// Messages `from..=to` (for closing a gap), oldest first.
pub async fn range(
    db: &DatabaseConnection,
    channel_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<StoredMessage>, DbErr> {
    Ok(ChatMessageRow::find()
        .filter(chat_message::Column::ChannelId.eq(channel_id))
        .filter(chat_message::Column::Id.gte(from))
        .filter(chat_message::Column::Id.lte(to))
        .order_by_asc(chat_message::Column::Id)
        .limit(2000)
        .all(db)
        .await?
        .into_iter()
        .map(to_stored)
        .collect())
}

/// A page of history, newest first, without deleted messages.
pub async fn history(
    db: &DatabaseConnection,
    channel_id: i64,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<ChatMessage>, DbErr> {
    let mut q = ChatMessageRow::find()
        .filter(chat_message::Column::ChannelId.eq(channel_id))
        .filter(chat_message::Column::DeletedAt.is_null());
    if let Some(before) = before {
        q = q.filter(chat_message::Column::Id.lt(before));
    }
    Ok(q.order_by_desc(chat_message::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(|r| to_stored(r).msg)
        .collect())
}

/// A user by (case-insensitive) name: (id, username, is_admin).
pub async fn find_user(
    db: &DatabaseConnection,
    username: &str,
) -> Result<Option<(i64, String, bool)>, DbErr> {
    Ok(User::find()
        .filter(user::Column::UsernameKey.eq(username.to_lowercase()))
        .one(db)
        .await?
        .map(|u| (u.id, u.username, u.role == "admin")))
}

/// Since when `user_id` follows the channel, if they do.
pub async fn followed_at(
    db: &DatabaseConnection,
    channel_id: i64,
    user_id: i64,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    Ok(
        streamhall_entities::Follow::find_by_id((user_id, channel_id))
            .one(db)
            .await?
            .map(|f| f.created_at),
    )
}

/// Marks a message deleted. Returns false if there is no such (undeleted) message.
pub async fn delete_message(
    db: &DatabaseConnection,
    channel_id: i64,
    id: i64,
    by: i64,
) -> Result<Option<i64>, DbErr> {
    let row = ChatMessageRow::find()
        .filter(chat_message::Column::ChannelId.eq(channel_id))
        .filter(chat_message::Column::Id.eq(id))
        .one(db)
        .await?;
    let Some(row) = row else { return Ok(None) };
    if row.deleted_at.is_some() {
        return Ok(None);
    }
    ChatMessageRow::update_many()
        .col_expr(chat_message::Column::DeletedAt, Expr::value(Utc::now()))
        .col_expr(chat_message::Column::DeletedBy, Expr::value(by))
        .filter(chat_message::Column::ChannelId.eq(channel_id))
        .filter(chat_message::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(Some(row.user_id))
}

/// The role a message's author had when sending it.
pub async fn message_author(
    db: &DatabaseConnection,
    channel_id: i64,
    id: i64,
) -> Result<Option<(i64, ChatRole, bool)>, DbErr> {
    Ok(ChatMessageRow::find()
        .filter(chat_message::Column::ChannelId.eq(channel_id))
        .filter(chat_message::Column::Id.eq(id))
        .one(db)
        .await?
        .map(|r| (r.user_id, role_from_str(&r.role), r.deleted_at.is_some())))
}

pub async fn upsert_ban(
    db: &DatabaseConnection,
    channel_id: i64,
    user_id: i64,
    by: i64,
    reason: Option<String>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    ChatBan::insert(chat_ban::ActiveModel {
        channel_id: Set(channel_id),
        user_id: Set(user_id),
        by_user_id: Set(by),
        reason: Set(reason),
        expires_at: Set(expires_at),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([chat_ban::Column::ChannelId, chat_ban::Column::UserId])
            .update_columns([
                chat_ban::Column::ByUserId,
                chat_ban::Column::Reason,
                chat_ban::Column::ExpiresAt,
                chat_ban::Column::CreatedAt,
            ])
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}

/// `user_id`'s ban or timeout in the channel, if one is in force now.
pub async fn active_ban(
    db: &DatabaseConnection,
    channel_id: i64,
    user_id: i64,
) -> Result<Option<chat_ban::Model>, DbErr> {
    let now = Utc::now();
    Ok(ChatBan::find_by_id((channel_id, user_id))
        .one(db)
        .await?
        .filter(|b| b.expires_at.is_none_or(|e| e > now)))
}

/// Lifts a ban or timeout. Returns whether there was one.
pub async fn remove_ban(
    db: &DatabaseConnection,
    channel_id: i64,
    user_id: i64,
) -> Result<bool, DbErr> {
    Ok(ChatBan::delete_many()
        .filter(chat_ban::Column::ChannelId.eq(channel_id))
        .filter(chat_ban::Column::UserId.eq(user_id))
        .exec(db)
        .await?
        .rows_affected
        > 0)
}

/// Bans and timeouts in force, newest first: (ban, username).
pub async fn active_bans(
    db: &DatabaseConnection,
    channel_id: i64,
) -> Result<Vec<(chat_ban::Model, String)>, DbErr> {
    let now = Utc::now();
    let rows = ChatBan::find()
        .filter(chat_ban::Column::ChannelId.eq(channel_id))
        .order_by_desc(chat_ban::Column::CreatedAt)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for b in rows
        .into_iter()
        .filter(|b| b.expires_at.is_none_or(|e| e > now))
    {
        let name = User::find_by_id(b.user_id)
            .one(db)
            .await?
            .map(|u| u.username)
            .unwrap_or_default();
        out.push((b, name));
    }
    Ok(out)
}

pub async fn set_mode(
    db: &DatabaseConnection,
    channel_id: i64,
    mode: RoomMode,
) -> Result<(), DbErr> {
    ensure_room(db, channel_id).await?;
    ChatRoom::update_many()
        .col_expr(
            chat_room::Column::SlowSeconds,
            Expr::value(mode.slow_seconds as i32),
        )
        .col_expr(
            chat_room::Column::FollowersOnlyMinutes,
            Expr::value(mode.followers_only.map(|m| m as i32)),
        )
        .col_expr(chat_room::Column::EmoteOnly, Expr::value(mode.emote_only))
        .col_expr(chat_room::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(chat_room::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn set_blocked_terms(
    db: &DatabaseConnection,
    channel_id: i64,
    terms: &[String],
) -> Result<(), DbErr> {
    ensure_room(db, channel_id).await?;
    let json = serde_json::to_string(terms).unwrap_or_else(|_| "[]".into());
    ChatRoom::update_many()
        .col_expr(chat_room::Column::BlockedTerms, Expr::value(json))
        .col_expr(chat_room::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(chat_room::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?;
    Ok(())
}

/// One line in the moderation log.
pub async fn log_action(
    db: &DatabaseConnection,
    channel_id: i64,
    actor_id: i64,
    action: &str,
    target_user_id: Option<i64>,
    message_id: Option<i64>,
    details: Option<String>,
) -> Result<(), DbErr> {
    ChatModerationLog::insert(chat_moderation_log::ActiveModel {
        channel_id: Set(channel_id),
        actor_id: Set(actor_id),
        action: Set(action.into()),
        target_user_id: Set(target_user_id),
        message_id: Set(message_id),
        details: Set(details),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec(db)
    .await?;
    Ok(())
}

/// Deletes messages older than `cutoff`. Returns how many.
pub async fn purge_before(db: &DatabaseConnection, cutoff: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(ChatMessageRow::delete_many()
        .filter(chat_message::Column::CreatedAt.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected)
}
