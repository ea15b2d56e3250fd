//! `GET /api/v1/users/me/export`: everything the privacy page says is stored about the user,
//! as one JSON file. Secrets are left out (password and token hashes, stream keys, webhook
//! signing secrets, restream keys, camera logins).

use std::collections::{HashMap, HashSet};

use actix_web::{HttpResponse, http::header, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use serde::Serialize;
use serde_json::{Value, json};
use streamhall_entities::{
    Broadcast, Channel, ChannelModerator, ChatMessage, ChatModerationLog, Clip, Follow,
    Notification, NotificationMute, NotificationSetting, RefreshToken, RestreamDestination, Video,
    ViewSession, Webhook, broadcast, channel, channel_moderator, chat_message, chat_moderation_log,
    clip, follow, notification, notification_mute, notification_setting, refresh_token,
    restream_destination, video, view_session, webhook,
};
use utoipa::ToSchema;

use crate::{
    auth::AuthUser,
    dto::Me,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

pub const EXPORT_FORMAT: &str = "streamhall-account-export/1";

/// The user's data. Times are UTC; channels are named by slug where they are not the user's.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountExport {
    /// `streamhall-account-export/1`.
    pub format: String,
    pub exported_at: DateTime<Utc>,
    pub profile: Me,
    /// Sign-ins (refresh tokens) and when they were used or revoked.
    #[schema(value_type = Vec<Object>)]
    pub sessions: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub channels: Vec<Value>,
    /// The user's channels' broadcasts with their viewing summary.
    #[schema(value_type = Vec<Object>)]
    pub broadcasts: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub videos: Vec<Value>,
    /// Clips of the user's channels and clips the user cut of other channels.
    #[schema(value_type = Vec<Object>)]
    pub clips: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub webhooks: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub restream_destinations: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub follows: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub notifications: Vec<Value>,
    #[schema(value_type = Object)]
    pub notification_settings: Value,
    #[schema(value_type = Vec<Object>)]
    pub chat_messages: Vec<Value>,
    /// Channels the user moderates, and the moderation actions they took.
    #[schema(value_type = Vec<Object>)]
    pub moderator_of: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub moderation_actions: Vec<Value>,
}

/// Downloads the signed-in user's data as a JSON file.
#[utoipa::path(get, path = "/api/v1/users/me/export", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "a JSON file (Content-Disposition: attachment)", body = AccountExport),
        (status = 401, body = ErrorBody), (status = 429, description = "too many exports; see Retry-After", body = ErrorBody)))]
pub async fn export(state: web::Data<AppState>, AuthUser(u): AuthUser) -> ApiResult<HttpResponse> {
    let cfg = &state.accounts.cfg;
    let count = state
        .limiter
        .hit(
            &format!("export:{}", u.id),
            std::time::Duration::from_secs(cfg.export_window_secs),
        )
        .await;
    if count.hits > cfg.exports_per_user {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: count.resets_in.as_secs() + 1,
        });
    }
    let archive = build(&state.db, &u).await?;
    let name = format!(
        "streamhall-{}-{}.json",
        u.username,
        archive.exported_at.format("%Y%m%d")
    );
    tracing::info!(user_id = u.id, "account data exported");
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(archive))
}

/// Channel slugs by id, for the channels in `ids`.
async fn slugs(
    db: &DatabaseConnection,
    ids: HashSet<i64>,
) -> Result<HashMap<i64, String>, sea_orm::DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String)> = Channel::find()
        .select_only()
        .column(channel::Column::Id)
        .column(channel::Column::Slug)
        .filter(channel::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

pub async fn build(
    db: &DatabaseConnection,
    u: &streamhall_entities::user::Model,
) -> Result<AccountExport, sea_orm::DbErr> {
    let channels = Channel::find()
        .filter(channel::Column::OwnerId.eq(u.id))
        .order_by_asc(channel::Column::Id)
        .all(db)
        .await?;
    let own: Vec<i64> = channels.iter().map(|c| c.id).collect();
    let sessions = RefreshToken::find()
        .filter(refresh_token::Column::UserId.eq(u.id))
        .order_by_asc(refresh_token::Column::Id)
        .all(db)
        .await?;
    let broadcasts = Broadcast::find()
        .filter(broadcast::Column::ChannelId.is_in(own.clone()))
        .order_by_asc(broadcast::Column::Id)
        .all(db)
        .await?;
    // Per broadcast: distinct viewers and seconds watched.
    let viewing: HashMap<i64, (i64, i64)> = ViewSession::find()
        .select_only()
        .column(view_session::Column::BroadcastId)
        .column_as(Expr::cust("COUNT(*)"), "viewers")
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(watch_seconds), 0) AS BIGINT)"),
            "watch_seconds",
        )
        .filter(view_session::Column::ChannelId.is_in(own.clone()))
        .group_by(view_session::Column::BroadcastId)
        .into_tuple::<(i64, i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(b, viewers, secs)| (b, (viewers, secs)))
        .collect();
    let videos = Video::find()
        .filter(video::Column::ChannelId.is_in(own.clone()))
        .order_by_asc(video::Column::CreatedAt)
        .all(db)
        .await?;
    let clips = Clip::find()
        .filter(
            sea_orm::Condition::any()
                .add(clip::Column::ChannelId.is_in(own.clone()))
                .add(clip::Column::AuthorId.eq(u.id)),
        )
        .order_by_asc(clip::Column::CreatedAt)
        .all(db)
        .await?;
    let webhooks = Webhook::find()
        .filter(webhook::Column::ChannelId.is_in(own.clone()))
        .order_by_asc(webhook::Column::Id)
        .all(db)
        .await?;
    let restreams = RestreamDestination::find()
        .filter(restream_destination::Column::ChannelId.is_in(own.clone()))
        .order_by_asc(restream_destination::Column::Id)
        .all(db)
        .await?;
    let follows = Follow::find()
        .filter(follow::Column::UserId.eq(u.id))
        .order_by_asc(follow::Column::CreatedAt)
        .all(db)
        .await?;
    let notifications = Notification::find()
        .filter(notification::Column::UserId.eq(u.id))
        .order_by_asc(notification::Column::Id)
        .all(db)
        .await?;
    let setting = NotificationSetting::find()
        .filter(notification_setting::Column::UserId.eq(u.id))
        .one(db)
        .await?;
    let mutes = NotificationMute::find()
        .filter(notification_mute::Column::UserId.eq(u.id))
        .all(db)
        .await?;
    let messages = ChatMessage::find()
        .filter(chat_message::Column::UserId.eq(u.id))
        .order_by_asc(chat_message::Column::CreatedAt)
        .all(db)
        .await?;
    let moderating = ChannelModerator::find()
        .filter(channel_moderator::Column::UserId.eq(u.id))
        .all(db)
        .await?;
    let actions = ChatModerationLog::find()
        .filter(chat_moderation_log::Column::ActorId.eq(u.id))
        .order_by_asc(chat_moderation_log::Column::Id)
        .all(db)
        .await?;

    let mut ids: HashSet<i64> = own.iter().copied().collect();
    ids.extend(clips.iter().map(|c| c.channel_id));
    ids.extend(follows.iter().map(|f| f.channel_id));
    ids.extend(notifications.iter().map(|n| n.channel_id));
    ids.extend(mutes.iter().map(|m| m.channel_id));
    ids.extend(messages.iter().map(|m| m.channel_id));
    ids.extend(moderating.iter().map(|m| m.channel_id));
    ids.extend(actions.iter().map(|a| a.channel_id));
    let slug = slugs(db, ids).await?;
    let slug_of = |id: i64| slug.get(&id).cloned();

    Ok(AccountExport {
        format: EXPORT_FORMAT.into(),
        exported_at: Utc::now(),
        profile: Me::from(u),
        sessions: sessions
            .iter()
            .map(|t| {
                json!({
                    "signed_in_at": t.created_at, "expires_at": t.expires_at,
                    "used_at": t.used_at, "revoked_at": t.revoked_at,
                })
            })
            .collect(),
        channels: channels
            .iter()
            .map(|c| {
                json!({
                    "id": c.id, "slug": c.slug, "title": c.title, "description": c.description,
                    "category": c.category, "created_at": c.created_at, "updated_at": c.updated_at,
                    "record_vods": c.record_vods, "vod_retention_days": c.vod_retention_days,
                    "source": c.source, "pull_transport": c.pull_transport,
                })
            })
            .collect(),
        broadcasts: broadcasts
            .iter()
            .map(|b| {
                let (viewers, watch_seconds) = viewing.get(&b.id).copied().unwrap_or((0, 0));
                json!({
                    "id": b.id, "channel": slug_of(b.channel_id), "title": b.title,
                    "started_at": b.started_at, "went_live_at": b.went_live_at,
                    "ended_at": b.ended_at, "failure": b.failure,
                    "peak_viewers": b.peak_viewers, "viewers": viewers,
                    "watch_seconds": watch_seconds,
                })
            })
            .collect(),
        videos: videos
            .iter()
            .map(|v| {
                json!({
                    "id": v.id, "channel": slug_of(v.channel_id), "broadcast_id": v.broadcast_id,
                    "title": v.title, "description": v.description, "visibility": v.visibility,
                    "status": v.status, "duration_secs": v.duration_secs,
                    "size_bytes": v.size_bytes, "view_count": v.view_count,
                    "chapters": v.chapters, "created_at": v.created_at, "ended_at": v.ended_at,
                })
            })
            .collect(),
        clips: clips
            .iter()
            .map(|c| {
                json!({
                    "id": c.id, "channel": slug_of(c.channel_id), "video_id": c.video_id,
                    "title": c.title, "start_secs": c.start_secs,
                    "duration_secs": c.duration_secs, "status": c.status,
                    "view_count": c.view_count, "cut_by_you": c.author_id == u.id,
                    "created_at": c.created_at,
                })
            })
            .collect(),
        webhooks: webhooks
            .iter()
            .map(|w| {
                json!({
                    "id": w.id, "channel": slug_of(w.channel_id), "url": w.url,
                    "events": w.events, "created_at": w.created_at,
                })
            })
            .collect(),
        restream_destinations: restreams
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "channel": slug_of(r.channel_id), "name": r.name, "url": r.url,
                    "enabled": r.enabled, "created_at": r.created_at,
                })
            })
            .collect(),
        follows: follows
            .iter()
            .map(|f| json!({"channel": slug_of(f.channel_id), "followed_at": f.created_at}))
            .collect(),
        notifications: notifications
            .iter()
            .map(|n| {
                json!({
                    "id": n.id, "kind": n.kind, "channel": slug_of(n.channel_id),
                    "broadcast_id": n.broadcast_id, "title": n.title,
                    "created_at": n.created_at, "read_at": n.read_at,
                })
            })
            .collect(),
        notification_settings: json!({
            "email_enabled": setting.as_ref().is_none_or(|s| s.email_enabled),
            "muted_channels": mutes.iter().map(|m| slug_of(m.channel_id)).collect::<Vec<_>>(),
        }),
        chat_messages: messages
            .iter()
            .map(|m| {
                json!({
                    "channel": slug_of(m.channel_id), "id": m.id, "text": m.text,
                    "sent_at": m.created_at, "deleted_at": m.deleted_at,
                })
            })
            .collect(),
        moderator_of: moderating
            .iter()
            .map(|m| json!({"channel": slug_of(m.channel_id), "since": m.created_at}))
            .collect(),
        moderation_actions: actions
            .iter()
            .map(|a| {
                json!({
                    "channel": slug_of(a.channel_id), "action": a.action,
                    "target_user_id": a.target_user_id, "message_id": a.message_id,
                    "details": a.details, "at": a.created_at,
                })
            })
            .collect(),
    })
}
