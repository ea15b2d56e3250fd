//! `POST /api/v1/reports`: any signed-in user reports a channel, a chat message, a video or a
//! clip, with a reason from a fixed list ([`REASONS`]) and free text.
//!
//! A case ([`streamhall_entities::report`]) is one reported item while it is open: a later
//! report of the same open item adds its reporter and counts up; the same user reporting it
//! again counts once. A resolved item reported again opens a new case. The first report of an
//! item keeps a snapshot of it (the message and its author, the channel's title, and while the
//! channel is live its thumbnail, copied to the object store), so staff see what was reported
//! even after it changes or is deleted. Staff work the cases in [`super::admin_reports`].
//!
//! Each user may file [`MAX_REPORTS`] reports per [`REPORT_WINDOW`] (counted in the database,
//! so every node agrees): more is 429 with `Retry-After`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use serde::{Deserialize, Serialize};
use streamhall_entities::{
    ChatMessage, Clip, Report, ReportReporter, User, Video, channel, chat_message, report,
    report_reporter,
};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::{
    auth::AuthUser,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
    validate,
};

/// The reasons a report may give: (wire name, label shown to people).
pub const REASONS: &[(&str, &str)] = &[
    ("spam", "Spam"),
    ("harassment", "Harassment or bullying"),
    ("hate", "Hate speech"),
    ("violence", "Violence or threats"),
    ("sexual", "Sexual content"),
    ("self_harm", "Self-harm"),
    ("illegal", "Illegal activity"),
    ("copyright", "Copyright"),
    ("other", "Something else"),
];

/// The kinds of item a report names.
pub const KINDS: &[&str] = &["channel", "message", "video", "clip"];

/// Reports one user may file per [`REPORT_WINDOW`].
pub const MAX_REPORTS: u64 = 10;
/// The throttle's window.
pub const REPORT_WINDOW: Duration = Duration::minutes(10);
/// Longest free text.
pub const MAX_DETAILS: usize = 1000;

/// The label of a reason (its wire name when unknown).
pub fn reason_label(reason: &str) -> &str {
    REASONS
        .iter()
        .find(|(r, _)| *r == reason)
        .map_or(reason, |(_, label)| label)
}

/// A report. `target` is the channel's slug (for `channel` and `message`), the video's or the
/// clip's id; a `message` also gives `message_id`.
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct NewReport {
    /// `channel`, `message`, `video` or `clip`.
    pub kind: String,
    pub target: String,
    pub message_id: Option<i64>,
    /// `spam`, `harassment`, `hate`, `violence`, `sexual`, `self_harm`, `illegal`,
    /// `copyright` (formal notices go to /dmca) or `other`.
    pub reason: String,
    /// Up to 1,000 characters; required for `other`.
    pub details: Option<String>,
}

/// What the reporter learns: that it was received, and whether they had already reported
/// this item (then nothing changed).
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ReportReceipt {
    pub received: bool,
    pub duplicate: bool,
}

/// What a case keeps of the reported item as it was when first reported.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, TS)]
#[ts(optional_fields)]
pub struct ReportSnapshot {
    pub channel_slug: Option<String>,
    pub channel_title: Option<String>,
    /// The channel's owner (for a channel, a video or a clip): who "suspend" acts on.
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    /// Whether the channel was live, and which broadcast.
    #[serde(default)]
    pub live: bool,
    pub broadcast_id: Option<i64>,
    pub message_id: Option<i64>,
    pub message_text: Option<String>,
    /// The message's author: who "suspend" acts on for a message.
    pub author_id: Option<i64>,
    pub author_name: Option<String>,
    pub message_at: Option<DateTime<Utc>>,
    pub video_title: Option<String>,
    pub clip_title: Option<String>,
}

impl ReportSnapshot {
    /// The account a "suspend" decision acts on.
    pub fn accountable(&self) -> Option<i64> {
        self.author_id.or(self.owner_id)
    }
}

/// Reports an item. Signed-in users.
#[utoipa::path(post, path = "/api/v1/reports", tag = "reports", security(("bearer" = [])),
    request_body = NewReport,
    responses((status = 201, description = "a new report, counted in its case", body = ReportReceipt),
        (status = 200, description = "this user had already reported this open case: counted once", body = ReportReceipt),
        (status = 404, description = "no such channel, message, video or clip", body = ErrorBody),
        (status = 410, description = "`channel_suspended`: the channel's owner is suspended (already dealt with)", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many reports from this user; see `Retry-After`", body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    body: web::Json<NewReport>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let (reason, details) = validate_report(&body)?;
    let item = find_item(&state, &body).await?;
    throttle(&state, me.id).await?;

    let open_key = format!("{}:{}", body.kind, item.item_id);
    // The thumbnail is copied only when this report opens the case.
    let snapshot = item.snapshot;
    let thumbnail = if snapshot.live && open_case(&state.db, &open_key).await?.is_none() {
        copy_thumbnail(&state, snapshot.channel_slug.as_deref()).await
    } else {
        None
    };
    let snapshot_json =
        serde_json::to_string(&snapshot).map_err(|e| ApiError::Internal(e.into()))?;
    // Two first reports at once: the unique open key lets one insert; the other retries and
    // joins its case.
    let mut last_err = None;
    for _ in 0..3 {
        let txn = state.db.begin().await?;
        let case = NewCase {
            kind: &body.kind,
            item_id: &item.item_id,
            channel_id: item.channel_id,
            open_key: &open_key,
            snapshot: &snapshot_json,
            thumbnail_key: thumbnail.as_deref(),
        };
        match file(&txn, me.id, &case, &reason, details.as_deref()).await {
            Ok(outcome) => {
                txn.commit().await?;
                if !outcome.opened {
                    drop_thumbnail(&state, thumbnail.as_deref()).await;
                }
                tracing::info!(case = outcome.case_id, kind = %body.kind, duplicate = outcome.duplicate, "report filed");
                let receipt = ReportReceipt {
                    received: true,
                    duplicate: outcome.duplicate,
                };
                return Ok(if outcome.duplicate {
                    HttpResponse::Ok().json(receipt)
                } else {
                    HttpResponse::Created().json(receipt)
                });
            }
            Err(e) => {
                let _ = txn.rollback().await;
                last_err = Some(e);
            }
        }
    }
    drop_thumbnail(&state, thumbnail.as_deref()).await;
    Err(last_err.map_or(ApiError::Unavailable("database"), ApiError::from))
}

fn validate_report(body: &NewReport) -> ApiResult<(String, Option<String>)> {
    let mut problems = validate::Problems::new();
    if !KINDS.contains(&body.kind.as_str()) {
        problems.check::<()>(Err(ApiError::invalid(
            "kind",
            "channel, message, video or clip",
        )));
    }
    if body.target.trim().is_empty() || body.target.len() > 64 {
        problems.check::<()>(Err(ApiError::invalid(
            "target",
            "the channel's slug, or the video's or clip's id",
        )));
    }
    if body.kind == "message" && body.message_id.is_none() {
        problems.check::<()>(Err(ApiError::invalid(
            "message_id",
            "a message report names the message",
        )));
    }
    if !REASONS.iter().any(|(r, _)| *r == body.reason) {
        problems.check::<()>(Err(ApiError::invalid(
            "reason",
            "spam, harassment, hate, violence, sexual, self_harm, illegal, copyright or other",
        )));
    }
    let min = usize::from(body.reason == "other");
    let details = problems.check(validate::text(
        "details",
        body.details.as_deref().unwrap_or(""),
        min,
        MAX_DETAILS,
    ));
    problems.finish()?;
    Ok((body.reason.clone(), details.filter(|d| !d.is_empty())))
}

/// The reported item: its id as the case names it, its channel, and its snapshot.
struct Found {
    item_id: String,
    channel_id: Option<i64>,
    snapshot: ReportSnapshot,
}

async fn find_item(state: &AppState, body: &NewReport) -> ApiResult<Found> {
    let target = body.target.trim();
    let (channel_id, mut snapshot, item_id) = match body.kind.as_str() {
        "channel" | "message" => {
            let (c, owner) = super::channels::find(state, target).await?;
            (
                c.id,
                channel_snapshot(state, &c, &owner).await?,
                c.id.to_string(),
            )
        }
        "video" => {
            let v = Video::find_by_id(target.to_owned())
                .one(&state.db)
                .await?
                .ok_or(ApiError::NotFound("video"))?;
            let mut s = owner_snapshot(state, v.channel_id).await?;
            s.video_title = Some(v.title);
            (v.channel_id, s, v.id)
        }
        _ => {
            let c = Clip::find_by_id(target.to_owned())
                .one(&state.db)
                .await?
                .ok_or(ApiError::NotFound("clip"))?;
            let mut s = owner_snapshot(state, c.channel_id).await?;
            s.clip_title = Some(c.title);
            (c.channel_id, s, c.id)
        }
    };
    let item_id = if body.kind == "message" {
        let id = body.message_id.unwrap_or_default();
        let m = ChatMessage::find()
            .filter(chat_message::Column::ChannelId.eq(channel_id))
            .filter(chat_message::Column::Id.eq(id))
            .filter(chat_message::Column::DeletedAt.is_null())
            .one(&state.db)
            .await?
            .ok_or(ApiError::NotFound("message"))?;
        snapshot.message_id = Some(m.id);
        snapshot.message_text = Some(m.text);
        snapshot.author_id = Some(m.user_id);
        snapshot.author_name = Some(m.username);
        snapshot.message_at = Some(m.created_at);
        format!("{channel_id}:{id}")
    } else {
        item_id
    };
    Ok(Found {
        item_id,
        channel_id: Some(channel_id),
        snapshot,
    })
}

async fn channel_snapshot(
    state: &AppState,
    c: &channel::Model,
    owner: &streamhall_entities::user::Model,
) -> ApiResult<ReportSnapshot> {
    let broadcast_id = if c.is_live {
        streamhall_entities::Broadcast::find()
            .filter(streamhall_entities::broadcast::Column::ChannelId.eq(c.id))
            .order_by_desc(streamhall_entities::broadcast::Column::Id)
            .one(&state.db)
            .await?
            .map(|b| b.id)
    } else {
        None
    };
    Ok(ReportSnapshot {
        channel_slug: Some(c.slug.clone()),
        channel_title: Some(c.title.clone()),
        owner_id: Some(owner.id),
        owner_name: Some(owner.username.clone()),
        live: c.is_live,
        broadcast_id,
        ..Default::default()
    })
}

async fn owner_snapshot(state: &AppState, channel_id: i64) -> ApiResult<ReportSnapshot> {
    let Some((c, owner)) = streamhall_entities::Channel::find_by_id(channel_id)
        .find_also_related(User)
        .one(&state.db)
        .await?
    else {
        return Err(ApiError::NotFound("channel"));
    };
    Ok(ReportSnapshot {
        channel_slug: Some(c.slug),
        channel_title: Some(c.title),
        owner_id: owner.as_ref().map(|o| o.id),
        owner_name: owner.map(|o| o.username),
        ..Default::default()
    })
}

/// 429 once the user filed [`MAX_REPORTS`] in the last [`REPORT_WINDOW`].
async fn throttle(state: &AppState, user_id: i64) -> ApiResult<()> {
    let since = Utc::now() - REPORT_WINDOW;
    let recent = ReportReporter::find()
        .filter(report_reporter::Column::UserId.eq(user_id))
        .filter(report_reporter::Column::CreatedAt.gt(since))
        .count(&state.db)
        .await?;
    if recent < MAX_REPORTS {
        return Ok(());
    }
    let oldest = ReportReporter::find()
        .filter(report_reporter::Column::UserId.eq(user_id))
        .filter(report_reporter::Column::CreatedAt.gt(since))
        .order_by_asc(report_reporter::Column::CreatedAt)
        .one(&state.db)
        .await?
        .map_or_else(Utc::now, |r| r.created_at);
    let wait = Ord::max((oldest + REPORT_WINDOW - Utc::now()).num_seconds(), 1);
    Err(ApiError::TooManyRequests {
        retry_after_secs: u64::try_from(wait).unwrap_or(1),
    })
}

async fn open_case(db: &impl ConnectionTrait, open_key: &str) -> ApiResult<Option<report::Model>> {
    Ok(Report::find()
        .filter(report::Column::OpenKey.eq(open_key))
        .one(db)
        .await?)
}

struct Filed {
    case_id: i64,
    /// Whether this report opened the case.
    opened: bool,
    duplicate: bool,
}

/// The case a first report opens.
struct NewCase<'a> {
    kind: &'a str,
    item_id: &'a str,
    channel_id: Option<i64>,
    open_key: &'a str,
    snapshot: &'a str,
    thumbnail_key: Option<&'a str>,
}

/// Adds the report to the item's open case, or opens one.
async fn file(
    txn: &DatabaseTransaction,
    user_id: i64,
    new: &NewCase<'_>,
    reason: &str,
    details: Option<&str>,
) -> Result<Filed, sea_orm::DbErr> {
    let now = Utc::now();
    let existing = Report::find()
        .filter(report::Column::OpenKey.eq(new.open_key))
        .one(txn)
        .await?;
    let (case_id, opened) = match existing {
        Some(case) => {
            let already = ReportReporter::find_by_id((case.id, user_id))
                .one(txn)
                .await?
                .is_some();
            if already {
                return Ok(Filed {
                    case_id: case.id,
                    opened: false,
                    duplicate: true,
                });
            }
            Report::update_many()
                .col_expr(
                    report::Column::ReportCount,
                    ExprTrait::add(Expr::col(report::Column::ReportCount), 1),
                )
                .col_expr(report::Column::UpdatedAt, Expr::value(now))
                .filter(report::Column::Id.eq(case.id))
                .exec(txn)
                .await?;
            (case.id, false)
        }
        None => {
            let case = report::ActiveModel {
                kind: Set(new.kind.to_owned()),
                item_id: Set(new.item_id.to_owned()),
                channel_id: Set(new.channel_id),
                open_key: Set(Some(new.open_key.to_owned())),
                state: Set(report::STATE_OPEN.to_owned()),
                reason: Set(reason.to_owned()),
                report_count: Set(1),
                snapshot: Set(new.snapshot.to_owned()),
                thumbnail_key: Set(new.thumbnail_key.map(str::to_owned)),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            (case.id, true)
        }
    };
    report_reporter::ActiveModel {
        report_id: Set(case_id),
        user_id: Set(user_id),
        reason: Set(reason.to_owned()),
        details: Set(details.map(str::to_owned)),
        created_at: Set(now),
    }
    .insert(txn)
    .await?;
    Ok(Filed {
        case_id,
        opened,
        duplicate: false,
    })
}

/// Copies the channel's live thumbnail (from this node, or the node that runs the stream) to
/// `reports/{random}.jpg`; `None` (logged) when there is none or the store fails: the case is
/// filed without it.
async fn copy_thumbnail(state: &AppState, slug: Option<&str>) -> Option<String> {
    let slug = slug?;
    let jpeg = match state.live.hls.thumbnail(slug) {
        Some(jpeg) => jpeg,
        None => {
            let owner = state.live.cluster.remote(slug)?;
            let path = format!("/api/v1/channels/{slug}/thumbnail.jpg");
            match state.relay.get(&owner.url, &path).await {
                Ok(r) if r.status == 200 => r.body,
                Ok(r) => {
                    tracing::warn!(
                        status = r.status,
                        "report: the owning node gave no thumbnail"
                    );
                    return None;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "report: thumbnail from the owning node failed");
                    return None;
                }
            }
        }
    };
    let key = format!("reports/{}.jpg", uuid::Uuid::new_v4().simple());
    match state.objects.put(&key, jpeg).await {
        Ok(()) => Some(key),
        Err(e) => {
            tracing::warn!(error = %e, "report: could not keep the live thumbnail");
            None
        }
    }
}

async fn drop_thumbnail(state: &AppState, key: Option<&str>) {
    if let Some(key) = key
        && let Err(e) = state.objects.delete(key).await
    {
        tracing::warn!(error = %e, key, "report: could not remove an unused thumbnail");
    }
}
