//! Webhooks: signed deliveries of stream events to channel owners' endpoints.
//!
//! ```text
//! enqueue(channel, event, data) ─► webhook_deliveries (pending, payload as it will be signed)
//! WebhookWorker (one tokio task per node; several nodes may share one database)
//!   every second, or at once on WebhookHandle::wake():
//!     claim a due row   UPDATE … SET state='sending' WHERE id=? AND state='pending' (1 row: ours)
//!     UrlGuard::check   resolve the host, refuse private/loopback/link-local/… addresses
//!     POST              pinned to the checked addresses, no redirects, signed body
//!     record            2xx delivered | retry after backoff | failed after max_attempts
//!   rows left in `sending` by a node that died go back to `pending`
//! ```
//!
//! The body is signed with the webhook's secret: `X-Streamhall-Signature: sha256=<hex
//! HMAC-SHA256(secret, body)>`. Neither secrets nor payloads are logged, and errors are
//! recorded without the URL (webhook URLs often carry tokens).
//!
//! In three parts: [`guard`] (which URLs and addresses a delivery may reach), [`signing`]
//! (secrets, the signature, the signed body) and [`worker`] (claiming, sending and retrying
//! deliveries); this module keeps the events and [`enqueue`].

pub mod guard;
pub mod ranges;
pub mod signing;
pub mod worker;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Url;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use sha2::Sha256;
use streamhall_entities::{Webhook, WebhookDelivery, webhook, webhook_delivery};
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, DropGuard};
use ts_rs::TS;

pub use guard::{Target, UrlError, UrlGuard, check_host, parse_allow_list};
pub use ranges::{Cidr, is_internal, special_purpose};
pub use signing::{new_secret, sign};
pub use worker::{Next, WebhookHandle, WebhookStats, WebhookWorker, backoff, next_after, start};

use signing::payload;

/// Events a webhook may subscribe to.
pub const EVENTS: &[&str] = &["stream.online", "stream.offline"];
/// Sent only by the test endpoint, to the one webhook being tested.
pub const PING: &str = "ping";

pub const SIGNATURE_HEADER: &str = "X-Streamhall-Signature";
pub const EVENT_HEADER: &str = "X-Streamhall-Event";
pub const DELIVERY_HEADER: &str = "X-Streamhall-Delivery";
pub const USER_AGENT: &str = "streamhall-webhooks";

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

pub mod state {
    pub const PENDING: &str = "pending";
    pub const SENDING: &str = "sending";
    pub const DELIVERED: &str = "delivered";
    pub const FAILED: &str = "failed";
}

// ---------------------------------------------------------------------------------------------
// Events, secrets, signatures, payloads

/// The events in `requested`, checked against [`EVENTS`], deduplicated, in [`EVENTS`] order.
/// `Err` names the first unknown event, or says the list is empty.
pub fn normalize_events(requested: &[String]) -> Result<Vec<&'static str>, String> {
    if let Some(unknown) = requested.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        return Err(format!(
            "unknown event {unknown:?}; known events: {}",
            EVENTS.join(", ")
        ));
    }
    let events: Vec<&'static str> = EVENTS
        .iter()
        .copied()
        .filter(|e| requested.iter().any(|r| r == e))
        .collect();
    if events.is_empty() {
        return Err("subscribe to at least one event".into());
    }
    Ok(events)
}

/// The events of a stored webhook (`webhooks.events` is comma-separated).
pub fn parse_events(csv: &str) -> Vec<String> {
    csv.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

fn subscribes(csv: &str, event: &str) -> bool {
    csv.split(',').any(|e| e.trim() == event)
}

/// Queues `event` for every webhook of the channel subscribed to it; returns how many.
/// The worker sends them within a second ([`WebhookHandle::wake`] for at once). At most
/// `max_queued` stay waiting per webhook ([`cap_queue`]).
pub async fn enqueue(
    db: &DatabaseConnection,
    channel_id: i64,
    event: &str,
    data: serde_json::Value,
    max_queued: usize,
) -> Result<usize, DbErr> {
    let hooks: Vec<webhook::Model> = Webhook::find()
        .filter(webhook::Column::ChannelId.eq(channel_id))
        .all(db)
        .await?
        .into_iter()
        .filter(|h| subscribes(&h.events, event))
        .collect();
    let n = insert_deliveries(db, hooks.iter().map(|h| h.id), event, &data).await?;
    for hook in &hooks {
        cap_queue(db, hook.id, max_queued).await?;
    }
    Ok(n)
}

/// Queues `event` for one webhook whatever it subscribes to (the test endpoint's `ping`);
/// returns the delivery id.
pub async fn enqueue_to(
    db: &DatabaseConnection,
    webhook_id: i64,
    event: &str,
    data: serde_json::Value,
    max_queued: usize,
) -> Result<String, DbErr> {
    let id = new_delivery_id();
    insert_delivery_rows(db, vec![delivery_row(id.clone(), webhook_id, event, &data)]).await?;
    cap_queue(db, webhook_id, max_queued).await?;
    Ok(id)
}

/// Keeps at most `max` deliveries waiting for one webhook (an endpoint that has been down for
/// days must not grow the table without end): the oldest beyond it are marked failed with an
/// error saying why, so the owner sees them dropped in the delivery log. Returns how many.
pub async fn cap_queue(db: &DatabaseConnection, webhook_id: i64, max: usize) -> Result<u64, DbErr> {
    let excess: Vec<String> = WebhookDelivery::find()
        .select_only()
        .column(webhook_delivery::Column::Id)
        .filter(webhook_delivery::Column::WebhookId.eq(webhook_id))
        .filter(webhook_delivery::Column::State.eq(state::PENDING))
        .order_by_desc(webhook_delivery::Column::CreatedAt)
        .order_by_desc(webhook_delivery::Column::Id)
        .offset(max as u64)
        .limit(10_000)
        .into_tuple()
        .all(db)
        .await?;
    if excess.is_empty() {
        return Ok(0);
    }
    let dropped = WebhookDelivery::update_many()
        .col_expr(webhook_delivery::Column::State, Expr::value(state::FAILED))
        .col_expr(
            webhook_delivery::Column::LastError,
            Expr::value(format!(
                "dropped: more than {max} deliveries were waiting for this webhook"
            )),
        )
        .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(webhook_delivery::Column::Id.is_in(excess))
        .filter(webhook_delivery::Column::State.eq(state::PENDING))
        .exec(db)
        .await?
        .rows_affected;
    tracing::warn!(
        webhook_id,
        dropped,
        max,
        "webhook deliveries dropped: too many waiting (notify.webhooks.max_queued_per_webhook)"
    );
    Ok(dropped)
}

async fn insert_deliveries(
    db: &DatabaseConnection,
    webhook_ids: impl Iterator<Item = i64>,
    event: &str,
    data: &serde_json::Value,
) -> Result<usize, DbErr> {
    let rows: Vec<_> = webhook_ids
        .map(|hook| delivery_row(new_delivery_id(), hook, event, data))
        .collect();
    let n = rows.len();
    insert_delivery_rows(db, rows).await?;
    Ok(n)
}

async fn insert_delivery_rows(
    db: &DatabaseConnection,
    rows: Vec<webhook_delivery::ActiveModel>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    WebhookDelivery::insert_many(rows).exec(db).await?;
    Ok(())
}

/// Time-ordered (v7), so ties on `created_at` still list newest first.
fn new_delivery_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn delivery_row(
    id: String,
    webhook_id: i64,
    event: &str,
    data: &serde_json::Value,
) -> webhook_delivery::ActiveModel {
    let now = Utc::now();
    webhook_delivery::ActiveModel {
        payload: Set(payload(&id, event, now, data)),
        id: Set(id),
        webhook_id: Set(webhook_id),
        event: Set(event.to_owned()),
        state: Set(state::PENDING.into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_status: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}
