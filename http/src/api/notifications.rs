//! `/api/v1/notifications*`: the caller's in-app notifications, read marks, preferences, and
//! the live socket (`WS /api/v1/notifications/ws`, see [`super::notifications_ws`]).

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use streamhall_actors::notify::protocol::{NotificationDto, streamer_name};
use streamhall_entities::{
    Channel, Follow, Notification, NotificationMute, NotificationSetting, User, channel, follow,
    notification, notification_mute, notification_setting, user,
};
use ts_rs::TS;
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::AuthUser,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct NotificationPage {
    /// Newest first.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<NotificationDto>,
    pub unread: i64,
    /// Pass as `before` for the next page.
    pub next_before: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct NotificationQuery {
    /// Notifications with a smaller id.
    pub before: Option<i64>,
    /// 1 to 100, default 20.
    pub limit: Option<u64>,
}

/// A user's notification preferences.
#[derive(Debug, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// Go-live emails (when the server has SMTP configured).
    pub email: bool,
    /// Slugs of followed channels that notify nothing.
    pub muted: Vec<String>,
}

pub(crate) async fn unread_count(state: &AppState, user_id: i64) -> ApiResult<i64> {
    Ok(Notification::find()
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::ReadAt.is_null())
        .count(&state.db)
        .await? as i64)
}

#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])),
    params(NotificationQuery),
    responses((status = 200, body = NotificationPage), (status = 401, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    query: web::Query<NotificationQuery>,
) -> ApiResult<HttpResponse> {
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let mut select = Notification::find().filter(notification::Column::UserId.eq(u.id));
    if let Some(before) = query.before {
        select = select.filter(notification::Column::Id.lt(before));
    }
    let rows = select
        .order_by_desc(notification::Column::Id)
        .limit(limit + 1)
        .all(&state.db)
        .await?;
    let more = rows.len() as u64 > limit;
    let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
    let channel_ids: Vec<i64> = rows.iter().map(|n| n.channel_id).collect();
    let channels: HashMap<i64, (channel::Model, Option<user::Model>)> = Channel::find()
        .filter(channel::Column::Id.is_in(channel_ids))
        .find_also_related(User)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|(c, owner)| (c.id, (c, owner)))
        .collect();
    let items: Vec<NotificationDto> = rows
        .iter()
        .map(|n| {
            let (c, owner) = channels
                .get(&n.channel_id)
                .map_or((None, None), |(c, o)| (Some(c), o.as_ref()));
            NotificationDto {
                id: n.id,
                kind: n.kind.clone(),
                channel_slug: c.map(|c| c.slug.clone()).unwrap_or_default(),
                channel_title: c.map(|c| c.title.clone()).unwrap_or_default(),
                streamer_name: owner
                    .map(|o| streamer_name(&o.display_name, &o.username))
                    .unwrap_or_default(),
                title: n.title.clone(),
                broadcast_id: n.broadcast_id,
                created_at: n.created_at,
                read: n.read_at.is_some(),
            }
        })
        .collect();
    let next_before = if more {
        items.last().map(|n| n.id)
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(NotificationPage {
        items,
        unread: unread_count(&state, u.id).await?,
        next_before,
    }))
}

#[utoipa::path(put, path = "/api/v1/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204, description = "marked read"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn mark_read(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    id: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let n = Notification::find_by_id(*id)
        .filter(notification::Column::UserId.eq(u.id))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("notification"))?;
    if n.read_at.is_none() {
        Notification::update_many()
            .col_expr(notification::Column::ReadAt, Expr::value(Some(Utc::now())))
            .filter(notification::Column::Id.eq(n.id))
            .exec(&state.db)
            .await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications", security(("bearer" = [])),
    responses((status = 204, description = "all marked read"), (status = 401, body = ErrorBody)))]
pub async fn read_all(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
) -> ApiResult<HttpResponse> {
    Notification::update_many()
        .col_expr(notification::Column::ReadAt, Expr::value(Some(Utc::now())))
        .filter(notification::Column::UserId.eq(u.id))
        .filter(notification::Column::ReadAt.is_null())
        .exec(&state.db)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn settings_of(state: &AppState, user_id: i64) -> ApiResult<NotificationSettings> {
    let email = NotificationSetting::find_by_id(user_id)
        .one(&state.db)
        .await?
        .is_none_or(|s| s.email_enabled);
    let muted_ids: Vec<i64> = NotificationMute::find()
        .select_only()
        .column(notification_mute::Column::ChannelId)
        .filter(notification_mute::Column::UserId.eq(user_id))
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut muted: Vec<String> = Channel::find()
        .select_only()
        .column(channel::Column::Slug)
        .filter(channel::Column::Id.is_in(muted_ids))
        .into_tuple()
        .all(&state.db)
        .await?;
    muted.sort();
    Ok(NotificationSettings { email, muted })
}

#[utoipa::path(get, path = "/api/v1/notifications/settings", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = NotificationSettings), (status = 401, body = ErrorBody)))]
pub async fn get_settings(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(settings_of(&state, u.id).await?))
}

/// Replaces the preferences. Every muted slug must be a channel the caller follows.
#[utoipa::path(put, path = "/api/v1/notifications/settings", tag = "notifications", security(("bearer" = [])),
    request_body = NotificationSettings,
    responses((status = 200, body = NotificationSettings), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    body: web::Json<NotificationSettings>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    if body.muted.len() > 500 {
        return Err(ApiError::invalid("muted", "at most 500 channels"));
    }
    let followed: HashMap<String, i64> = Follow::find()
        .select_only()
        .column(channel::Column::Slug)
        .column(follow::Column::ChannelId)
        .inner_join(Channel)
        .filter(follow::Column::UserId.eq(u.id))
        .into_tuple::<(String, i64)>()
        .all(&state.db)
        .await?
        .into_iter()
        .collect();
    let mut mute_ids = Vec::with_capacity(body.muted.len());
    for slug in &body.muted {
        match followed.get(slug) {
            Some(id) => mute_ids.push(*id),
            None => {
                return Err(ApiError::invalid(
                    "muted",
                    format!("you do not follow {slug:?}"),
                ));
            }
        }
    }
    mute_ids.sort_unstable();
    mute_ids.dedup();
    let now = Utc::now();
    let txn = state.db.begin().await?;
    NotificationSetting::insert(notification_setting::ActiveModel {
        user_id: Set(u.id),
        email_enabled: Set(body.email),
        updated_at: Set(now),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(notification_setting::Column::UserId)
            .update_columns([
                notification_setting::Column::EmailEnabled,
                notification_setting::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec(&txn)
    .await?;
    NotificationMute::delete_many()
        .filter(notification_mute::Column::UserId.eq(u.id))
        .exec(&txn)
        .await?;
    if !mute_ids.is_empty() {
        NotificationMute::insert_many(mute_ids.iter().map(|&channel_id| {
            notification_mute::ActiveModel {
                user_id: Set(u.id),
                channel_id: Set(channel_id),
                created_at: Set(now),
            }
        }))
        .exec_without_returning(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(settings_of(&state, u.id).await?))
}
