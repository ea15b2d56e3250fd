//! Who may fetch a video's or clip's files: ids and names from the URL checked before they become
//! object keys, private videos (owner and admins only, 404 to anyone else), the channel's gate
//! (playback token), a suspended owner (410) and takedowns (410 with the notice), and whether the
//! item is ready to be watched.

use actix_web::{FromRequest, HttpRequest, http::StatusCode};
use sea_orm::EntityTrait;
use streamhall_entities::{Channel, Clip, User, Video, clip, user, video};

use super::{Refusal, param};
use crate::{auth::MaybeUser, state::AppState};

/// A 32-character lowercase hex id, as videos and clips have.
pub fn is_media_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A BCP 47 tag as subtitles use: `[a-z]{2,3}(-[A-Za-z0-9]{2,8})?`.
pub fn is_lang(s: &str) -> bool {
    let (primary, sub) = match s.split_once('-') {
        Some((p, r)) => (p, Some(r)),
        None => (s, None),
    };
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && sub.is_none_or(|r| {
            (2..=8).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// The channel's owner and admins manage its videos and clips.
pub fn can_manage(caller: Option<&user::Model>, owner_id: i64) -> bool {
    caller.is_some_and(|u| u.id == owner_id || u.is_admin())
}

/// Who may cache an answer: anyone, or only the caller's browser (private videos, and media
/// of a channel that is not public).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Audience {
    Anyone,
    Owner,
    /// A viewer with a playback token: playlists pass it on.
    Token,
}

/// The video of the path, if the caller may watch it.
pub(super) async fn watchable_video(
    state: &AppState,
    req: &HttpRequest,
) -> Result<(video::Model, Audience), Refusal> {
    let id = param(req, "id");
    if !is_media_id(id) {
        return Err(Refusal::not_found("video"));
    }
    // The video, its channel and the channel's owner in one query: this runs for every segment.
    let found = Video::find_by_id(id)
        .find_also_related(Channel)
        .and_also_related(User)
        .one(&state.db)
        .await
        .map_err(Refusal::internal)?;
    let Some((video, Some(channel), owner)) = found.filter(|(v, _, _)| !v.dvr_only) else {
        return Err(Refusal::not_found("video"));
    };
    if video.taken_down_at.is_some() {
        taken_down_unless_admin(req, video.takedown_notice.as_deref()).await?;
        return Ok((video, Audience::Owner));
    }
    let gated = channel.visibility().needs_token();
    let private = video.visibility == "private";
    let caller = if private || gated {
        MaybeUser::extract(req).await.ok().and_then(|u| u.0)
    } else {
        None
    };
    let manages = can_manage(caller.as_ref(), channel.owner_id);
    // A private video does not exist for strangers, suspended owner or not (as in the API).
    if private && !manages {
        return Err(Refusal::not_found("video"));
    }
    not_suspended(req, owner.as_ref()).await?;
    if manages {
        Ok((video, Audience::Owner))
    } else if gated {
        token_for(state, req, channel.id)?;
        Ok((video, Audience::Token))
    } else {
        Ok((video, Audience::Anyone))
    }
}

/// 410 `channel_suspended` while the channel's owner (`owner`, loaded with the channel) is
/// suspended, as the API answers for the video's page, unless the caller is an admin (they still
/// review it).
async fn not_suspended(req: &HttpRequest, owner: Option<&user::Model>) -> Result<(), Refusal> {
    if owner.is_some_and(|o| o.suspension(chrono::Utc::now()).is_none()) {
        return Ok(());
    }
    let caller = MaybeUser::extract(req).await.ok().and_then(|u| u.0);
    if caller.as_ref().is_some_and(user::Model::is_admin) {
        return Ok(());
    }
    Err(Refusal::new(
        StatusCode::GONE,
        "channel_suspended",
        "this channel is unavailable: its owner's account is suspended",
    ))
}

/// The request's playback token, if valid for channel `channel_id` (403 otherwise).
fn token_for<'a>(
    state: &AppState,
    req: &'a HttpRequest,
    channel_id: i64,
) -> Result<&'a str, Refusal> {
    use crate::playback::{Refused, query_token};
    let token = query_token(req.query_string()).ok_or(Refused::Missing);
    token
        .and_then(|t| state.playback.verify(t, channel_id).map(|()| t))
        .map_err(|r| Refusal::new(StatusCode::FORBIDDEN, r.code(), r.message()))
}

/// The clip's audience: its channel's gate decides (the owner and admins always pass).
pub(super) async fn clip_audience(
    state: &AppState,
    req: &HttpRequest,
    clip: &clip::Model,
) -> Result<Audience, Refusal> {
    let (channel, owner) = Channel::find_by_id(clip.channel_id)
        .find_also_related(User)
        .one(&state.db)
        .await
        .map_err(Refusal::internal)?
        .ok_or_else(|| Refusal::not_found("clip"))?;
    not_suspended(req, owner.as_ref()).await?;
    if !channel.visibility().needs_token() {
        return Ok(Audience::Anyone);
    }
    let caller = MaybeUser::extract(req).await.ok().and_then(|u| u.0);
    if can_manage(caller.as_ref(), channel.owner_id) {
        return Ok(Audience::Owner);
    }
    token_for(state, req, channel.id)?;
    Ok(Audience::Token)
}

/// Playlists exist once the recording is finalised.
pub(super) fn ready(video: &video::Model) -> Result<(), Refusal> {
    let message = match video.status.as_str() {
        "ready" => return Ok(()),
        "recording" => {
            "this video is still being recorded; it can be watched once the broadcast ends"
        }
        "processing" => "this video is being processed; try again in a minute",
        _ => "this video could not be recorded",
    };
    Err(Refusal::new(
        StatusCode::NOT_FOUND,
        "video_not_ready",
        message,
    ))
}
/// The path's rendition name: `[A-Za-z0-9_-]{1,32}` (`720p`, `source`).
pub(super) fn rendition(req: &HttpRequest) -> Result<&str, Refusal> {
    let name = param(req, "rendition");
    let ok = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(name)
    } else {
        Err(Refusal::not_found("rendition"))
    }
}

/// The clip of the path.
pub(super) async fn find_clip(state: &AppState, req: &HttpRequest) -> Result<clip::Model, Refusal> {
    let id = param(req, "id");
    if !is_media_id(id) {
        return Err(Refusal::not_found("clip"));
    }
    let clip = Clip::find_by_id(id)
        .one(&state.db)
        .await
        .map_err(Refusal::internal)?
        .ok_or_else(|| Refusal::not_found("clip"))?;
    if clip.taken_down_at.is_some() {
        taken_down_unless_admin(req, clip.takedown_notice.as_deref()).await?;
    }
    Ok(clip)
}

/// The media of an item taken down: 410 with its notice to everyone but admins (who review it).
async fn taken_down_unless_admin(req: &HttpRequest, notice: Option<&str>) -> Result<(), Refusal> {
    let caller = MaybeUser::extract(req).await.ok().and_then(|u| u.0);
    if caller.is_some_and(|c| c.is_admin()) {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::GONE,
            "taken_down",
            crate::takedown::notice_of(notice),
        ))
    }
}

pub(super) fn clip_ready(clip: &clip::Model) -> Result<(), Refusal> {
    match clip.status.as_str() {
        "ready" => Ok(()),
        "processing" => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "clip_not_ready",
            "this clip is still being cut; try again in a few seconds",
        )),
        _ => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "clip_not_ready",
            "this clip could not be made",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_media_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_media_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!is_media_id("0123456789abcdef"));
        for ok in ["en", "pt-BR", "deu", "zh-Hant", "es-419"] {
            assert!(is_lang(ok), "{ok}");
        }
        for bad in [
            "e",
            "EN",
            "engl",
            "en-",
            "en-x",
            "en-toolongtag",
            "en_US",
            "../x",
        ] {
            assert!(!is_lang(bad), "{bad}");
        }
    }
}
