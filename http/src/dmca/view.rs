//! Reading a notice's items and counter-notices as the API shows them.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use streamhall_entities::{
    Channel, Clip, DmcaCounterNotice, DmcaNoticeItem, User, Video, dmca_counter_notice,
    dmca_notice_item,
};

use super::dto::{CounterNoticeDto, DmcaItemDto};

/// The items of `notice_id` (only `owner`'s when given), with their state now.
pub async fn items<C: ConnectionTrait>(
    db: &C,
    notice_id: i64,
    owner: Option<i64>,
) -> Result<Vec<DmcaItemDto>, DbErr> {
    let mut find = DmcaNoticeItem::find().filter(dmca_notice_item::Column::NoticeId.eq(notice_id));
    if let Some(owner) = owner {
        find = find.filter(dmca_notice_item::Column::OwnerId.eq(owner));
    }
    let rows = find
        .order_by_asc(dmca_notice_item::Column::Id)
        .all(db)
        .await?;
    let ids = |kind: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.item_id.clone())
            .collect()
    };
    let reference = super::reference(notice_id);
    // (title, channel id, down by: this notice / another case / not down)
    let mut found: HashMap<(String, String), (String, i64, Option<bool>)> = HashMap::new();
    for v in Video::find()
        .filter(streamhall_entities::video::Column::Id.is_in(ids("video")))
        .all(db)
        .await?
    {
        let down = v
            .taken_down_at
            .map(|_| v.takedown_ref.as_deref() == Some(reference.as_str()));
        found.insert(("video".into(), v.id), (v.title, v.channel_id, down));
    }
    for c in Clip::find()
        .filter(streamhall_entities::clip::Column::Id.is_in(ids("clip")))
        .all(db)
        .await?
    {
        let down = c
            .taken_down_at
            .map(|_| c.takedown_ref.as_deref() == Some(reference.as_str()));
        found.insert(("clip".into(), c.id), (c.title, c.channel_id, down));
    }
    let channels: HashMap<i64, String> = Channel::find()
        .filter(streamhall_entities::channel::Column::Id.is_in(rows.iter().map(|r| r.channel_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.slug))
        .collect();
    let owners = usernames(db, rows.iter().map(|r| r.owner_id)).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let now = found.get(&(r.kind.clone(), r.item_id.clone()));
            let status = match now.map(|f| f.2) {
                None => "gone",
                Some(None) => "up",
                Some(Some(true)) => "taken_down",
                Some(Some(false)) => "taken_down_other",
            };
            DmcaItemDto {
                title: now.map(|f| f.0.clone()),
                channel_slug: channels.get(&r.channel_id).cloned(),
                owner_name: owners.get(&r.owner_id).cloned(),
                status: status.into(),
                kind: r.kind,
                id: r.item_id,
                url: r.url,
                owner_id: r.owner_id,
            }
        })
        .collect())
}

/// The counter-notices to `notice_id` (only `user`'s when given), oldest first.
pub async fn counters<C: ConnectionTrait>(
    db: &C,
    notice_id: i64,
    user: Option<i64>,
) -> Result<Vec<CounterNoticeDto>, DbErr> {
    let mut find =
        DmcaCounterNotice::find().filter(dmca_counter_notice::Column::NoticeId.eq(notice_id));
    if let Some(user) = user {
        find = find.filter(dmca_counter_notice::Column::UserId.eq(user));
    }
    let rows = find
        .order_by_asc(dmca_counter_notice::Column::Id)
        .all(db)
        .await?;
    let names = usernames(db, rows.iter().map(|r| r.user_id)).await?;
    Ok(rows
        .into_iter()
        .map(|c| CounterNoticeDto {
            username: names.get(&c.user_id).cloned(),
            id: c.id,
            user_id: c.user_id,
            state: c.state,
            full_name: c.full_name,
            contact: c.contact,
            statement: c.statement,
            signature: c.signature,
            created_at: c.created_at,
            restore_due_at: c.restore_due_at,
            restored_at: c.restored_at,
        })
        .collect())
}

async fn usernames<C: ConnectionTrait>(
    db: &C,
    ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, String>, DbErr> {
    Ok(User::find()
        .filter(streamhall_entities::user::Column::Id.is_in(ids))
        .filter(streamhall_entities::user::Column::DeletedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect())
}
