//! The restores counter-notices schedule. Every node runs [`run`]: every `check_every_secs`
//! it looks for counter-notices still `waiting` whose `restore_due_at` has passed, and for each
//! one claims it with a conditional UPDATE (`waiting` -> `restored`) in the same transaction as
//! the restore of the uploader's items and its audit entry. Only one node's UPDATE matches, so
//! the restore happens once; a crash before the commit leaves the row `waiting` for the next
//! pass; the schedule is rows, so it survives restarts. Recording legal action turns `waiting`
//! rows into `legal_action` first, and those are never restored.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait, sea_query::Expr,
};
use serde_json::json;
use streamhall_entities::{
    DmcaCounterNotice, DmcaNoticeItem, dmca_counter_notice, dmca_notice_item,
};
use tokio_util::sync::CancellationToken;

use crate::{
    audit::{self, Action, Target},
    takedown::{self, Item},
};

/// Counter-notices handled per pass (the next pass takes the rest).
const BATCH: u64 = 100;

/// Restores what is due every `every` until `stop` is cancelled.
pub async fn run(db: DatabaseConnection, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match restore_due(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(restored = n, "dmca: counter-notices restored"),
            Err(error) => {
                tracing::error!(error = %error, "dmca: restoring due counter-notices failed; retrying on the next pass")
            }
        }
    }
}

/// Restores every counter-notice due now; how many this call restored.
pub async fn restore_due(db: &DatabaseConnection) -> Result<usize, DbErr> {
    let due = DmcaCounterNotice::find()
        .filter(dmca_counter_notice::Column::State.eq(dmca_counter_notice::STATE_WAITING))
        .filter(dmca_counter_notice::Column::RestoreDueAt.lte(Utc::now()))
        .order_by_asc(dmca_counter_notice::Column::RestoreDueAt)
        .limit(BATCH)
        .all(db)
        .await?;
    let mut restored = 0;
    for counter in due {
        if restore_one(db, &counter).await? {
            restored += 1;
        }
    }
    Ok(restored)
}

/// Claims and restores one counter-notice; false when another node (or legal action) got to
/// it first.
async fn restore_one(
    db: &DatabaseConnection,
    counter: &dmca_counter_notice::Model,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let txn = db.begin().await?;
    let claimed = DmcaCounterNotice::update_many()
        .col_expr(
            dmca_counter_notice::Column::State,
            Expr::value(dmca_counter_notice::STATE_RESTORED),
        )
        .col_expr(
            dmca_counter_notice::Column::RestoredAt,
            Expr::value(Some(now)),
        )
        .filter(dmca_counter_notice::Column::Id.eq(counter.id))
        .filter(dmca_counter_notice::Column::State.eq(dmca_counter_notice::STATE_WAITING))
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(false);
    }
    let items = DmcaNoticeItem::find()
        .filter(dmca_notice_item::Column::NoticeId.eq(counter.notice_id))
        .filter(dmca_notice_item::Column::OwnerId.eq(counter.user_id))
        .all(&txn)
        .await?;
    let reference = super::reference(counter.notice_id);
    let mut put_back = Vec::new();
    for item in &items {
        let which = if item.kind == "clip" {
            Item::Clip(&item.item_id)
        } else {
            Item::Video(&item.item_id)
        };
        if takedown::restore(&txn, which, Some(&reference)).await? {
            put_back.push(json!({ "kind": item.kind, "id": item.item_id }));
        }
    }
    audit::record(
        &txn,
        None,
        Action::DmcaRestore,
        Target::dmca_notice(counter.notice_id),
        Some("counter-notice waiting period ended"),
        json!({ "counter_notice_id": counter.id, "user_id": counter.user_id, "restored": put_back }),
    )
    .await
    .map_err(|e| DbErr::Custom(e.to_string()))?;
    txn.commit().await?;
    tracing::info!(
        notice_id = counter.notice_id,
        user_id = counter.user_id,
        items = put_back.len(),
        "dmca: restored after a counter-notice"
    );
    Ok(true)
}
