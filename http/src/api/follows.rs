//! Follows: `POST/DELETE/GET /api/v1/channels/{slug}/follow`, the channel's followers (its
//! owner and admins see the list, everyone the count), and `GET /api/v1/users/me/following`.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use streamhall_entities::{
    Channel, Follow, NotificationMute, User, channel, follow, notification_mute, user,
};
use ts_rs::TS;
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::{channels::find, follower_counts::follower_counts},
    auth::AuthUser,
    dto::ChannelDto,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

/// The caller's follow of a channel, and the channel's follower count.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct FollowState {
    pub following: bool,
    pub followed_at: Option<DateTime<Utc>>,
    pub followers: i64,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct FollowerDto {
    pub username: String,
    pub display_name: String,
    pub followed_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct FollowerPage {
    pub total: i64,
    /// Newest first; empty unless the caller owns the channel or is an admin.
    pub items: Vec<FollowerDto>,
    /// Pass as `before` for the next page.
    pub next_before: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct FollowedChannel {
    pub channel: ChannelDto,
    pub followed_at: DateTime<Utc>,
    /// No notifications from this channel.
    pub muted: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct FollowersQuery {
    /// Followers who followed before this time (RFC 3339).
    pub before: Option<DateTime<Utc>>,
    /// 1 to 100, default 50.
    pub limit: Option<u64>,
}

async fn state_of(
    db: &DatabaseConnection,
    user_id: i64,
    channel_id: i64,
) -> Result<FollowState, DbErr> {
    let row = Follow::find_by_id((user_id, channel_id)).one(db).await?;
    let followers = Follow::find()
        .filter(follow::Column::ChannelId.eq(channel_id))
        .count(db)
        .await? as i64;
    Ok(FollowState {
        following: row.is_some(),
        followed_at: row.map(|r| r.created_at),
        followers,
    })
}

#[utoipa::path(get, path = "/api/v1/channels/{slug}/follow", tag = "follows", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = FollowState), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_follow(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find(&state, &slug).await?;
    Ok(HttpResponse::Ok().json(state_of(&state.db, u.id, c.id).await?))
}

/// Follows the channel (again is fine: the first follow's time is kept).
#[utoipa::path(post, path = "/api/v1/channels/{slug}/follow", tag = "follows", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = FollowState), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "your own channel", body = ErrorBody)))]
pub async fn follow(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find(&state, &slug).await?;
    if c.owner_id == u.id {
        return Err(ApiError::invalid(
            "slug",
            "you cannot follow your own channel",
        ));
    }
    let res = Follow::insert(follow::ActiveModel {
        user_id: Set(u.id),
        channel_id: Set(c.id),
        created_at: Set(Utc::now()),
        last_emailed_at: Set(None),
    })
    .on_conflict_do_nothing()
    .exec(&state.db)
    .await;
    match res {
        Ok(_) | Err(DbErr::RecordNotInserted) => {}
        Err(e) => return Err(e.into()),
    }
    state.cache.invalidate();
    Ok(HttpResponse::Ok().json(state_of(&state.db, u.id, c.id).await?))
}

#[utoipa::path(delete, path = "/api/v1/channels/{slug}/follow", tag = "follows", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = FollowState), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unfollow(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find(&state, &slug).await?;
    Follow::delete_by_id((u.id, c.id)).exec(&state.db).await?;
    NotificationMute::delete_by_id((u.id, c.id))
        .exec(&state.db)
        .await?;
    state.cache.invalidate();
    Ok(HttpResponse::Ok().json(state_of(&state.db, u.id, c.id).await?))
}

/// The channel's followers, newest first. Everyone sees the total; the list is for the owner
/// and admins.
#[utoipa::path(get, path = "/api/v1/channels/{slug}/followers", tag = "follows", security(("bearer" = [])),
    params(("slug" = String, Path), FollowersQuery),
    responses((status = 200, body = FollowerPage), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn followers(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    slug: web::Path<String>,
    query: web::Query<FollowersQuery>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find(&state, &slug).await?;
    let total = Follow::find()
        .filter(follow::Column::ChannelId.eq(c.id))
        .count(&state.db)
        .await? as i64;
    let may_list = u.id == c.owner_id || u.is_admin();
    let mut page = FollowerPage {
        total,
        items: Vec::new(),
        next_before: None,
    };
    if may_list {
        let limit = query.limit.unwrap_or(50).clamp(1, 100);
        let mut select = Follow::find()
            .find_also_related(User)
            .filter(follow::Column::ChannelId.eq(c.id));
        if let Some(before) = query.before {
            select = select.filter(follow::Column::CreatedAt.lt(before));
        }
        let rows = select
            .order_by_desc(follow::Column::CreatedAt)
            .order_by_desc(follow::Column::UserId)
            .limit(limit + 1)
            .all(&state.db)
            .await?;
        let more = rows.len() as u64 > limit;
        page.items = rows
            .into_iter()
            .take(limit as usize)
            .filter_map(|(f, u)| {
                u.map(|u| FollowerDto {
                    username: u.username,
                    display_name: u.display_name,
                    followed_at: f.created_at,
                })
            })
            .collect();
        if more {
            page.next_before = page.items.last().map(|f| f.followed_at);
        }
    }
    Ok(HttpResponse::Ok().json(page))
}

/// Channels the caller follows: live ones first (most viewers first), then by name.
#[utoipa::path(get, path = "/api/v1/users/me/following", tag = "follows", security(("bearer" = [])),
    responses((status = 200, body = Vec<FollowedChannel>), (status = 401, body = ErrorBody)))]
pub async fn my_following(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
) -> ApiResult<HttpResponse> {
    let follows = Follow::find()
        .filter(follow::Column::UserId.eq(u.id))
        .order_by_desc(follow::Column::CreatedAt)
        .limit(500)
        .all(&state.db)
        .await?;
    let ids: Vec<i64> = follows.iter().map(|f| f.channel_id).collect();
    let channels = Channel::find()
        .find_also_related(User)
        .filter(channel::Column::Id.is_in(ids.iter().copied()))
        // Suspended users' channels are hidden, as in every listing.
        .filter(user::suspended_now(Utc::now()).not())
        .all(&state.db)
        .await?;
    let muted: std::collections::HashSet<i64> = NotificationMute::find()
        .select_only()
        .column(notification_mute::Column::ChannelId)
        .filter(notification_mute::Column::UserId.eq(u.id))
        .into_tuple::<i64>()
        .all(&state.db)
        .await?
        .into_iter()
        .collect();
    let counts = follower_counts(&state.db, &ids).await?;
    let since: HashMap<i64, DateTime<Utc>> = follows
        .iter()
        .map(|f| (f.channel_id, f.created_at))
        .collect();
    let mut items: Vec<FollowedChannel> = channels
        .iter()
        .filter_map(|(c, owner): &(channel::Model, Option<user::Model>)| {
            let owner = owner.as_ref()?;
            let mut dto = ChannelDto::new(&state, c, owner);
            dto.followers = counts.get(&c.id).copied().unwrap_or(0);
            Some(FollowedChannel {
                channel: dto,
                followed_at: since.get(&c.id).copied()?,
                muted: muted.contains(&c.id),
            })
        })
        .collect();
    items.sort_by(|a, b| {
        b.channel
            .is_live
            .cmp(&a.channel.is_live)
            .then(b.channel.viewer_count.cmp(&a.channel.viewer_count))
            .then_with(|| {
                a.channel
                    .title
                    .to_lowercase()
                    .cmp(&b.channel.title.to_lowercase())
            })
    });
    Ok(HttpResponse::Ok().json(items))
}
