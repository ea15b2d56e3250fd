//! Taking a video or a clip down and putting it back.
//!
//! A takedown hides an item without deleting it: a moderator's decision on a report or a DMCA
//! notice can be undone (a counter-notice, an appeal). While an item is down:
//! - viewers get 410 `taken_down` with the public notice instead of its page, and its lists skip
//!   it;
//! - its channel's owner still sees it in their lists and on its page, with the notice, so they
//!   know what happened and can answer it; admins see it as it is;
//! - its media (playlists, segments, thumbnails, the clip's MP4) answer 410 to everyone but
//!   admins, who review it; no new clip can be cut from it.
//!
//! `takedown_ref` names the case that decided it (`report:{id}`, `dmca:{id}`), so restoring a
//! case only puts back what that case took down.

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, sea_query::Expr};
use streamhall_entities::{Clip, Video, clip, video};

use crate::dto::TakedownDto;

/// What can be taken down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Video(&'a str),
    Clip(&'a str),
}

impl<'a> Item<'a> {
    /// `video` or `clip`, as the API and the audit log name it.
    pub fn kind(self) -> &'static str {
        match self {
            Item::Video(_) => "video",
            Item::Clip(_) => "clip",
        }
    }

    pub fn id(self) -> &'a str {
        match self {
            Item::Video(id) | Item::Clip(id) => id,
        }
    }
}

/// Takes `item` down with the public `notice`, decided by `reference` (`report:{id}`,
/// `dmca:{id}`). `Ok(false)`: no such item. Taking down an item already down replaces its
/// notice and reference (the latest decision speaks).
pub async fn take_down<C: ConnectionTrait>(
    db: &C,
    item: Item<'_>,
    notice: &str,
    reference: &str,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let notice: String = notice.chars().take(500).collect();
    let reference: String = reference.chars().take(64).collect();
    let rows = match item {
        Item::Video(id) => {
            Video::update_many()
                .col_expr(video::Column::TakenDownAt, Expr::value(now))
                .col_expr(video::Column::TakedownNotice, Expr::value(notice))
                .col_expr(video::Column::TakedownRef, Expr::value(reference))
                .filter(video::Column::Id.eq(id))
                .exec(db)
                .await?
                .rows_affected
        }
        Item::Clip(id) => {
            Clip::update_many()
                .col_expr(clip::Column::TakenDownAt, Expr::value(now))
                .col_expr(clip::Column::TakedownNotice, Expr::value(notice))
                .col_expr(clip::Column::TakedownRef, Expr::value(reference))
                .filter(clip::Column::Id.eq(id))
                .exec(db)
                .await?
                .rows_affected
        }
    };
    Ok(rows > 0)
}

/// Puts `item` back if it is down because of `reference` (`None`: whatever took it down).
/// `Ok(false)`: no such item, not down, or down for another case.
pub async fn restore<C: ConnectionTrait>(
    db: &C,
    item: Item<'_>,
    reference: Option<&str>,
) -> Result<bool, DbErr> {
    let none = Option::<String>::None;
    let rows = match item {
        Item::Video(id) => {
            let mut q = Video::update_many()
                .col_expr(
                    video::Column::TakenDownAt,
                    Expr::value(Option::<chrono::DateTime<Utc>>::None),
                )
                .col_expr(video::Column::TakedownNotice, Expr::value(none.clone()))
                .col_expr(video::Column::TakedownRef, Expr::value(none))
                .filter(video::Column::Id.eq(id))
                .filter(video::Column::TakenDownAt.is_not_null());
            if let Some(r) = reference {
                q = q.filter(video::Column::TakedownRef.eq(r));
            }
            q.exec(db).await?.rows_affected
        }
        Item::Clip(id) => {
            let mut q = Clip::update_many()
                .col_expr(
                    clip::Column::TakenDownAt,
                    Expr::value(Option::<chrono::DateTime<Utc>>::None),
                )
                .col_expr(clip::Column::TakedownNotice, Expr::value(none.clone()))
                .col_expr(clip::Column::TakedownRef, Expr::value(none))
                .filter(clip::Column::Id.eq(id))
                .filter(clip::Column::TakenDownAt.is_not_null());
            if let Some(r) = reference {
                q = q.filter(clip::Column::TakedownRef.eq(r));
            }
            q.exec(db).await?.rows_affected
        }
    };
    Ok(rows > 0)
}

/// The notice shown for an item that is down (a generic one if none was recorded).
pub fn notice_of(notice: Option<&str>) -> String {
    match notice {
        Some(n) if !n.trim().is_empty() => n.to_owned(),
        _ => "This has been taken down.".to_owned(),
    }
}

/// The takedown as the API shows it to the channel's owner and admins, with the DMCA notice
/// that decided it when `reference` names one.
pub fn dto(
    at: Option<chrono::DateTime<Utc>>,
    notice: Option<&str>,
    reference: Option<&str>,
) -> Option<TakedownDto> {
    at.map(|at| TakedownDto {
        at,
        notice: notice_of(notice),
        dmca_notice_id: dmca_notice_of(reference),
    })
}

/// The DMCA notice a takedown reference (`dmca:{id}`) names.
pub fn dmca_notice_of(reference: Option<&str>) -> Option<i64> {
    reference?.strip_prefix("dmca:")?.parse().ok()
}
