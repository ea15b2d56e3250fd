//! Streamer analytics, for a channel's owner or an admin: viewer samples and per-broadcast
//! figures (`docs/ANALYTICS.md` defines each). The presence actor records them; see
//! [`streamhall_actors::analytics`].

use actix_web::{HttpResponse, web};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use streamhall_actors::analytics::{self, MAX_SAMPLES, SampleScope};
use streamhall_entities::{Broadcast, Channel};
use ts_rs::TS;
use utoipa::ToSchema;

use super::channels::find_changeable;
use crate::{
    auth::AuthUser,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

/// The range a channel's analytics cover when none is given.
const DEFAULT_RANGE: TimeDelta = TimeDelta::days(7);
/// The longest range one request may ask for.
const MAX_RANGE: TimeDelta = TimeDelta::days(90);

/// One sample of a live channel (every 30 s by default), or the mean of several when a range
/// holds more than about 2,000 (then `at` is the first one's time).
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct AnalyticsSample {
    pub at: DateTime<Utc>,
    pub broadcast_id: i64,
    /// Viewers over all nodes at that moment.
    pub viewers: i64,
    /// Distinct users who chatted since the previous sample.
    pub chatters: i64,
    /// Chat messages since the previous sample.
    pub chat_messages: i64,
}

impl From<analytics::Sample> for AnalyticsSample {
    fn from(s: analytics::Sample) -> Self {
        Self {
            at: s.at,
            broadcast_id: s.broadcast_id,
            viewers: s.viewers,
            chatters: s.chatters,
            chat_messages: s.chat_messages,
        }
    }
}

/// One broadcast's figures.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct BroadcastSummary {
    pub broadcast_id: i64,
    pub title: String,
    pub started_at: DateTime<Utc>,
    /// `null` while live.
    pub ended_at: Option<DateTime<Utc>>,
    /// Until now while live.
    pub duration_s: i64,
    /// The higher of the peak presence saw and the highest sample.
    pub peak_viewers: i64,
    /// The mean of the samples' viewers.
    pub avg_viewers: f64,
    /// Distinct players (viewer ids) with a view session.
    pub unique_viewers: i64,
    /// The sum of the view sessions' watch time.
    pub watch_time_s: i64,
    /// Watch time per unique viewer.
    pub avg_watch_s: f64,
    /// Chat messages between the start and the end (or now).
    pub chat_messages: i64,
    /// Distinct users who chatted between the start and the end (or now).
    pub chatters: i64,
    /// Follows of the channel between the start and the end (or now).
    pub new_followers: i64,
}

impl From<analytics::Summary> for BroadcastSummary {
    fn from(s: analytics::Summary) -> Self {
        Self {
            broadcast_id: s.broadcast_id,
            title: s.title,
            started_at: s.started_at,
            ended_at: s.ended_at,
            duration_s: s.duration_s,
            peak_viewers: s.peak_viewers,
            avg_viewers: s.avg_viewers,
            unique_viewers: s.unique_viewers,
            watch_time_s: s.watch_time_s,
            avg_watch_s: s.avg_watch_s,
            chat_messages: s.chat_messages,
            chatters: s.chatters,
            new_followers: s.new_followers,
        }
    }
}

/// A channel's analytics over a range.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChannelAnalytics {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Oldest first; at most about 2,000 (bucket means beyond that).
    pub samples: Vec<AnalyticsSample>,
    /// Broadcasts overlapping the range, newest first (at most 500), each with its whole
    /// figures.
    pub broadcasts: Vec<BroadcastSummary>,
    /// Followers now.
    pub followers_total: i64,
    /// Follows within the range.
    pub new_followers: i64,
}

/// One broadcast's analytics.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct BroadcastAnalytics {
    pub summary: BroadcastSummary,
    /// Oldest first; at most about 2,000 (bucket means beyond that).
    pub samples: Vec<AnalyticsSample>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// RFC 3339; default `to` minus 7 days.
    pub from: Option<String>,
    /// RFC 3339; default now.
    pub to: Option<String>,
}

impl RangeQuery {
    /// The range asked for: `to` not before `from`, at most 90 days (400 otherwise).
    fn resolve(&self, now: DateTime<Utc>) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
        let parse = |name: &str, v: &Option<String>| -> ApiResult<Option<DateTime<Utc>>> {
            v.as_deref()
                .map(|s| {
                    DateTime::parse_from_rfc3339(s)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| {
                            ApiError::BadRequest(format!(
                                "`{name}` must be an RFC 3339 time, e.g. 2026-11-26T00:00:00Z"
                            ))
                        })
                })
                .transpose()
        };
        let to = parse("to", &self.to)?.unwrap_or(now);
        let from = parse("from", &self.from)?.unwrap_or(to - DEFAULT_RANGE);
        if to < from {
            return Err(ApiError::BadRequest("`to` is before `from`".into()));
        }
        if to - from > MAX_RANGE {
            return Err(ApiError::BadRequest(
                "the range may span at most 90 days".into(),
            ));
        }
        Ok((from, to))
    }
}

/// A channel's viewer samples, broadcasts with their figures, and followers over a range
/// (default: the last 7 days; at most 90). Owner or admin.
#[utoipa::path(get, path = "/api/v1/channels/{slug}/analytics", tag = "analytics", security(("bearer" = [])),
    params(("slug" = String, Path), RangeQuery),
    responses((status = 200, body = ChannelAnalytics), (status = 400, description = "bad range", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn channel(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    slug: web::Path<String>,
    q: web::Query<RangeQuery>,
) -> ApiResult<HttpResponse> {
    let now = Utc::now();
    let (from, to) = q.resolve(now)?;
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    let db = &state.db;
    let samples = analytics::samples(db, SampleScope::Channel(c.id), from, to, MAX_SAMPLES).await?;
    let broadcasts = analytics::broadcasts_in(db, c.id, from, to).await?;
    let summaries = analytics::summaries(db, &broadcasts, now).await?;
    let (followers_total, new_followers) = analytics::followers(db, c.id, from, to).await?;
    Ok(HttpResponse::Ok().json(ChannelAnalytics {
        from,
        to,
        samples: samples.into_iter().map(Into::into).collect(),
        broadcasts: summaries.into_iter().map(Into::into).collect(),
        followers_total,
        new_followers,
    }))
}

/// One broadcast's figures and viewer samples. The channel's owner or an admin.
#[utoipa::path(get, path = "/api/v1/broadcasts/{id}/analytics", tag = "analytics", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = BroadcastAnalytics), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn broadcast(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let now = Utc::now();
    let db = &state.db;
    let b = Broadcast::find_by_id(*id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("broadcast"))?;
    let c = Channel::find_by_id(b.channel_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("broadcast"))?;
    find_changeable(&state, &caller, &c.slug).await?;
    let samples = analytics::samples(
        db,
        SampleScope::Broadcast(b.id),
        b.started_at,
        b.ended_at.unwrap_or(now),
        MAX_SAMPLES,
    )
    .await?;
    let summary = analytics::summaries(db, std::slice::from_ref(&b), now)
        .await?
        .pop()
        .ok_or(ApiError::NotFound("broadcast"))?;
    Ok(HttpResponse::Ok().json(BroadcastAnalytics {
        summary: summary.into(),
        samples: samples.into_iter().map(Into::into).collect(),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn q(from: Option<&str>, to: Option<&str>) -> RangeQuery {
        RangeQuery {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
        }
    }

    #[test]
    fn ranges_default_to_a_week_and_are_checked() {
        let now = DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (from, to) = q(None, None).resolve(now).unwrap();
        assert_eq!((to, to - from), (now, TimeDelta::days(7)));
        let (from, _) = q(Some("2026-11-01T00:00:00+01:00"), None)
            .resolve(now)
            .unwrap();
        assert_eq!(from.to_rfc3339(), "2026-10-31T23:00:00+00:00");
        for (f, t) in [
            (Some("yesterday"), None),
            (Some("2026-11-20T00:00:00Z"), Some("2026-11-19T00:00:00Z")),
            (Some("2026-01-01T00:00:00Z"), Some("2026-11-01T00:00:00Z")),
        ] {
            assert!(matches!(q(f, t).resolve(now), Err(ApiError::BadRequest(_))));
        }
        assert!(
            q(Some("2026-08-01T00:00:00Z"), Some("2026-10-30T00:00:00Z"))
                .resolve(now)
                .is_ok(),
            "90 days is fine"
        );
    }
}
