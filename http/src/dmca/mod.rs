//! DMCA takedowns: the `[dmca]` settings, what a notice's URLs point at, and each account's
//! repeat-infringer count. The routes are [`crate::api::dmca`] (the public notice form and the
//! uploader's counter-notice) and [`crate::api::admin_dmca`] (the admins' decisions); the
//! restore that a counter-notice schedules is [`restore`]; what the uploader and the claimant
//! are told is [`notify`].
//!
//! The flow: a notice (no account needed) is `received`; an admin takes every item it names
//! down ([`crate::takedown`], reference `dmca:{id}`) or rejects it. The uploader is notified
//! and may counter; the counter-notice schedules the restore of their items
//! `restore_after_secs` later, unless an admin records that the claimant went to court first.

pub mod dto;
pub mod notify;
pub mod restore;
pub mod view;

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use streamhall_entities::{
    DmcaCounterNotice, DmcaNotice, DmcaNoticeItem, dmca_counter_notice, dmca_notice,
    dmca_notice_item,
};

pub use crate::config::{DEFAULT_RESTORE_AFTER_SECS, DmcaConfig};
use crate::takedown::Item;

/// What a notice's URL names on this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    Video(String),
    Clip(String),
}

impl Named {
    pub fn item(&self) -> Item<'_> {
        match self {
            Named::Video(id) => Item::Video(id),
            Named::Clip(id) => Item::Clip(id),
        }
    }
}

/// The video or clip `url` names, if it is a page or media address of this server
/// (`public_url`'s host and port): `/v/{id}`, `/clip/{id}`, `/vod/{id}/…`, `/clips/{id}/…`,
/// `/api/v1/videos/{id}`, `/api/v1/clips/{id}`. The reason otherwise.
pub fn parse_url(public_url: &str, url: &str) -> Result<Named, &'static str> {
    let ours = reqwest::Url::parse(public_url).map_err(|_| "this server's address is unknown")?;
    let url = reqwest::Url::parse(url.trim()).map_err(|_| "not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("not a web address");
    }
    let same_host = url
        .host_str()
        .zip(ours.host_str())
        .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b));
    if !same_host || url.port_or_known_default() != ours.port_or_known_default() {
        return Err("not an address on this server");
    }
    let segments: Vec<&str> = url.path_segments().map_or_else(Vec::new, |s| s.collect());
    let (kind, id) = match segments.as_slice() {
        ["v", id] | ["vod", id, ..] | ["api", "v1", "videos", id] => ("video", *id),
        ["clip", id] | ["clips", id, ..] | ["api", "v1", "clips", id] => ("clip", *id),
        _ => return Err("not the address of a video or a clip"),
    };
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err("not the address of a video or a clip");
    }
    Ok(match kind {
        "video" => Named::Video(id.to_owned()),
        _ => Named::Clip(id.to_owned()),
    })
}

/// The reference a notice's takedowns carry (see [`crate::takedown`]).
pub fn reference(notice_id: i64) -> String {
    format!("dmca:{notice_id}")
}

/// The public sentence shown in place of an item a notice took down.
pub fn public_notice(notice_id: i64) -> String {
    format!("Taken down after DMCA notice {notice_id}")
}

/// Repeat-infringer counts of `users`: per account, the notices that took down one of their
/// items and whose takedown stood (the account's counter-notice did not restore them).
/// Accounts with none are absent.
pub async fn strikes<C: ConnectionTrait>(
    db: &C,
    users: &[i64],
) -> Result<HashMap<i64, u64>, DbErr> {
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let named: Vec<(i64, i64)> = DmcaNoticeItem::find()
        .select_only()
        .column(dmca_notice_item::Column::OwnerId)
        .column(dmca_notice_item::Column::NoticeId)
        .distinct()
        .filter(dmca_notice_item::Column::OwnerId.is_in(users.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    let notices: HashSet<i64> = named.iter().map(|(_, n)| *n).collect();
    let taken_down: HashSet<i64> = DmcaNotice::find()
        .select_only()
        .column(dmca_notice::Column::Id)
        .filter(dmca_notice::Column::Id.is_in(notices.iter().copied()))
        .filter(dmca_notice::Column::State.eq(dmca_notice::STATE_TAKEN_DOWN))
        .into_tuple::<i64>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let restored: HashSet<(i64, i64)> = DmcaCounterNotice::find()
        .select_only()
        .column(dmca_counter_notice::Column::UserId)
        .column(dmca_counter_notice::Column::NoticeId)
        .filter(dmca_counter_notice::Column::UserId.is_in(users.iter().copied()))
        .filter(dmca_counter_notice::Column::State.eq(dmca_counter_notice::STATE_RESTORED))
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut counts = HashMap::new();
    for (owner, notice) in named {
        if taken_down.contains(&notice) && !restored.contains(&(owner, notice)) {
            *counts.entry(owner).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: &str = "https://watch.example.com";

    #[test]
    fn urls_of_this_server_name_videos_and_clips() {
        let video = |id: &str| Ok(Named::Video(id.to_owned()));
        let clip = |id: &str| Ok(Named::Clip(id.to_owned()));
        assert_eq!(
            parse_url(HERE, "https://watch.example.com/v/abc123"),
            video("abc123")
        );
        assert_eq!(
            parse_url(HERE, " https://WATCH.example.com:443/v/abc?t=3 "),
            video("abc")
        );
        assert_eq!(
            parse_url(HERE, "https://watch.example.com/vod/abc/source/0001.ts"),
            video("abc")
        );
        assert_eq!(
            parse_url(HERE, "https://watch.example.com/api/v1/videos/abc"),
            video("abc")
        );
        assert_eq!(
            parse_url(HERE, "https://watch.example.com/clip/c1"),
            clip("c1")
        );
        assert_eq!(
            parse_url(HERE, "https://watch.example.com/clips/c1/clip.mp4"),
            clip("c1")
        );
    }

    #[test]
    fn other_addresses_are_refused() {
        for url in [
            "https://elsewhere.example.com/v/abc",
            "https://watch.example.com:8443/v/abc",
            "http://watch.example.com/v/abc",
            "ftp://watch.example.com/v/abc",
            "https://watch.example.com/c/somechannel",
            "https://watch.example.com/v/",
            "https://watch.example.com/v/a%20b",
            "not a url",
        ] {
            assert!(parse_url(HERE, url).is_err(), "{url}");
        }
    }

    #[test]
    fn references_round_trip_and_the_default_wait_is_ten_days() {
        use crate::takedown::dmca_notice_of;
        assert_eq!(dmca_notice_of(Some(&reference(42))), Some(42));
        assert_eq!(dmca_notice_of(Some("report:42")), None);
        assert_eq!(dmca_notice_of(None), None);
        assert_eq!(DmcaConfig::default().restore_after_secs, 864_000);
        assert_eq!(
            DmcaConfig::default().restore_after(),
            chrono::Duration::days(10)
        );
    }
}
