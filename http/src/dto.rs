//! The JSON shapes of the REST API. Each derives `ToSchema` for the OpenAPI document.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use streamhall_actors::{LiveInfo, StreamStatus};
use streamhall_entities::{channel, user};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::state::AppState;

/// A user as anyone may see them.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct PublicUser {
    pub id: i64,
    pub username: String,
    pub display_name: String,
}

impl From<&user::Model> for PublicUser {
    fn from(u: &user::Model) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
        }
    }
}

/// The signed-in user's own account.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct Me {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub bio: String,
    /// `user`, `moderator` (site-wide) or `admin`.
    pub role: String,
    pub created_at: DateTime<Utc>,
    /// Whether the owner proved `email` is theirs (the link in the verification email).
    /// Unverified accounts can watch and chat, but not go live when the server requires
    /// verification (`ServerInfo.email_verification_required`), and get no emails. Always sent;
    /// optional in TypeScript because a session a browser stored before this field existed
    /// lacks it.
    #[ts(as = "Option<bool>", optional)]
    pub email_verified: bool,
}

impl From<&user::Model> for Me {
    fn from(u: &user::Model) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            email: u.email.clone(),
            bio: u.bio.clone(),
            role: u.role.clone(),
            created_at: u.created_at,
            email_verified: u.email_verified(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct RegisterRequest {
    pub username: String,
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct LoginRequest {
    /// Username or email.
    pub login: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Returned by register, login and refresh.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct AuthResponse {
    pub user: Me,
    /// Bearer token for `Authorization`, valid `expires_in` seconds.
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    /// Single use: exchange it at `/auth/refresh` for a new pair.
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct UpdateMe {
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// A channel as listed and shown.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChannelDto {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub category: String,
    /// Announced and not ended: listed as live, followers were notified.
    pub is_live: bool,
    /// `offline`, `starting` (no video yet), `live`, `failed` (the server cannot produce video
    /// right now). Precise on the node that holds the broadcast; elsewhere `live` or `offline`
    /// from `is_live`.
    #[schema(value_type = String, example = "live")]
    pub stream_status: StreamStatus,
    /// For viewers, in plain words, while `failed`.
    pub stream_problem: Option<String>,
    /// Viewers right now (HLS players and, later, chat), summed over every node.
    pub viewer_count: u64,
    /// The current broadcast, when this node serves it and it has been announced.
    pub live: Option<LiveDto>,
    /// A JPEG of the stream, refreshed every few seconds; an offline card otherwise.
    pub thumbnail_url: String,
    pub owner: PublicUser,
    pub created_at: DateTime<Utc>,
    pub followers: i64,
    /// Broadcasts are kept as videos; otherwise only a DVR copy while live.
    pub record_vods: bool,
    /// Videos older than this many days are deleted; `null` keeps them forever.
    pub vod_retention_days: Option<i32>,
    /// Who may watch: `public`, `unlisted` (not listed; anyone with the link), `password`
    /// (viewers enter a password) or `followers`. Every value but `public` needs a playback
    /// token (`POST /channels/{slug}/playback-token`) on the HLS URLs.
    #[schema(example = "public")]
    pub visibility: String,
}

/// The broadcast in progress.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct LiveDto {
    pub broadcast_id: i64,
    pub started_at: DateTime<Utc>,
    /// The HLS master playlist to give a player.
    pub playback_url: String,
    /// The same with the DVR window (`live.dvr_minutes`): players that offer rewinding use
    /// it. `None` when the broadcast has no recording to rewind into.
    pub dvr_url: Option<String>,
    /// Low-latency HLS (fMP4 parts, blocking reload) when this server produces it for the
    /// broadcast (`live.ladder.low_latency`); players without LL-HLS use `playback_url`.
    pub low_latency_url: Option<String>,
    pub renditions: Vec<RenditionDto>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct RenditionDto {
    /// `source`, `720p`, `480p`, `360p`, …
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Peak bits per second.
    pub bandwidth: u64,
}

impl ChannelDto {
    pub fn new(state: &AppState, c: &channel::Model, owner: &user::Model) -> Self {
        // This node's broadcast, else the one another node owns (as its lease says).
        let (info, dvr) = match state.live.hls.live_info(&c.slug).filter(|i| !i.ended) {
            Some(i) => (Some(i), state.live.hls.recorder(&c.slug).is_some()),
            None => match state.live.cluster.remote(&c.slug) {
                Some(r) => (r.info.clone(), r.dvr),
                None => (None, false),
            },
        };
        let (stream_status, stream_problem) = match &info {
            Some(i) => (i.status, i.viewer_problem.clone()),
            None if c.is_live => (StreamStatus::Live, None),
            None => (StreamStatus::Offline, None),
        };
        // Playable once announced, also while failed after that (a stalled transcoder): the
        // player keeps its source and says what is wrong.
        let playable = |i: &LiveInfo| {
            i.status == StreamStatus::Live || (i.status == StreamStatus::Failed && c.is_live)
        };
        let live = info.filter(playable).map(|i| LiveDto {
            broadcast_id: i.broadcast_id,
            started_at: i.started_at,
            playback_url: format!("{}/hls/{}/master.m3u8", state.public_url, c.slug),
            dvr_url: dvr.then(|| format!("{}/hls/{}/dvr.m3u8", state.public_url, c.slug)),
            low_latency_url: state
                .live
                .hls
                .has_low_latency(&c.slug)
                .then(|| format!("{}/hls/{}/ll.m3u8", state.public_url, c.slug)),
            renditions: i
                .renditions
                .into_iter()
                .map(|r| RenditionDto {
                    name: r.name,
                    width: r.width,
                    height: r.height,
                    bandwidth: r.bandwidth,
                })
                .collect(),
        });
        Self {
            id: c.id,
            slug: c.slug.clone(),
            title: c.title.clone(),
            description: c.description.clone(),
            category: c.category.clone(),
            is_live: c.is_live,
            stream_status,
            stream_problem,
            viewer_count: if c.is_live {
                state.live.presence.count(&c.slug)
            } else {
                0
            },
            live,
            thumbnail_url: format!(
                "{}/api/v1/channels/{}/thumbnail.jpg",
                state.public_url, c.slug
            ),
            owner: PublicUser::from(owner),
            created_at: c.created_at,
            // Filled by the handler (one grouped query per page).
            followers: 0,
            record_vods: c.record_vods,
            vod_retention_days: c.vod_retention_days,
            visibility: c.visibility.clone(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct CreateChannel {
    pub slug: String,
    pub title: String,
    pub description: Option<String>,
    pub category: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct UpdateChannel {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub record_vods: Option<bool>,
    /// 1 to 3650; `null` keeps videos forever, absent leaves the setting as it is.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>)]
    #[ts(optional, type = "number | null")]
    pub vod_retention_days: Option<Option<i32>>,
    /// `public`, `unlisted`, `password` or `followers`.
    pub visibility: Option<String>,
    /// The password viewers enter (6 to 128 characters), for `password` channels: needed when
    /// a channel becomes `password` without one. Never returned.
    pub playback_password: Option<String>,
}

/// A field that may be absent (outer `None`) or `null` (inner `None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A new channel with its stream key, shown this once.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CreatedChannel {
    pub channel: ChannelDto,
    pub stream_key: String,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct StreamKey {
    /// Paste into the encoder's "Stream Key" field. Shown only now.
    pub stream_key: String,
}

/// One live session of a channel, from the first publish to its end.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct BroadcastDto {
    pub id: i64,
    /// The channel's title when it started.
    pub title: String,
    pub started_at: DateTime<Utc>,
    /// `null` while live.
    pub ended_at: Option<DateTime<Utc>>,
    pub peak_viewers: i64,
    /// When viewers could first watch; `None`: it never produced video.
    pub went_live_at: Option<DateTime<Utc>>,
    /// Why viewers could not watch, if they could not at some point.
    pub failure: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ChannelQuery {
    /// Only live channels.
    pub live: Option<bool>,
    /// Search in the slug, title and category and the owner's username and display name.
    pub q: Option<String>,
    pub category: Option<String>,
    /// 1 to 100, default 24.
    pub limit: Option<u64>,
    /// 0 to 100000 (422 beyond).
    pub offset: Option<u64>,
}

/// One page of a list; `next_offset` is absent on the last page.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChannelPage {
    pub items: Vec<ChannelDto>,
    pub next_offset: Option<u64>,
    /// On the first page (`offset` 0): the categories of every channel matching `live` and
    /// `q` (whatever `category` says), most live channels first. Empty on later pages.
    pub categories: Vec<CategoryCount>,
}

/// A category and how many matching channels it has.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CategoryCount {
    pub name: String,
    pub channels: u64,
    /// Of `channels`, how many are live.
    pub live: u64,
}

/// A recorded broadcast. Private ones are shown only to the channel's owner and admins.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct VideoDto {
    /// 32 hex characters.
    pub id: String,
    pub channel_slug: String,
    pub channel_title: String,
    /// The streamer's display name.
    pub streamer_name: String,
    pub title: String,
    pub description: String,
    #[ts(type = "\"public\" | \"unlisted\" | \"private\"")]
    pub visibility: String,
    /// Playable once `ready`.
    #[ts(type = "\"recording\" | \"processing\" | \"ready\" | \"failed\"")]
    pub status: String,
    pub duration_secs: f64,
    pub size_bytes: i64,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub thumbnail_url: Option<String>,
    /// WebVTT cues pointing into a sprite of seek-preview thumbnails.
    pub sprite_vtt_url: Option<String>,
    pub renditions: Vec<RenditionDto>,
    pub chapters: Vec<ChapterDto>,
    pub subtitles: Vec<SubtitleDto>,
    pub view_count: i64,
    /// The HLS master playlist to give a player. A private video's playlists and segments
    /// need the `Authorization` header on every request.
    pub playback_url: String,
    /// Segments lost while the object store was unreachable (the video skips there).
    pub missing_segments: i64,
    /// The caller may edit and delete it (the channel's owner or an admin).
    pub can_edit: bool,
    /// Set while it is taken down (shown to the channel's owner and admins only; viewers get
    /// 410 `taken_down`).
    pub takedown: Option<TakedownDto>,
}

/// A video or clip taken down by a moderation decision or a DMCA notice: hidden, not deleted.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct TakedownDto {
    pub at: DateTime<Utc>,
    /// The public notice shown in its place.
    pub notice: String,
    /// The DMCA notice that took it down, if one did: its owner may read it and counter at
    /// `/api/v1/dmca/notices/{id}`.
    pub dmca_notice_id: Option<i64>,
}

/// A named point in a video.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct ChapterDto {
    pub title: String,
    /// Seconds from the start.
    pub start: f64,
}

/// A subtitle track of a video.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SubtitleDto {
    /// BCP 47 tag, e.g. `en` or `pt-BR`.
    pub lang: String,
    pub label: String,
    /// The WebVTT file.
    pub url: String,
}

/// One page of videos, newest first; `next_offset` is absent on the last page.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct VideoPage {
    pub items: Vec<VideoDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub next_offset: Option<u64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// 1 to 100, default 24.
    pub limit: Option<u64>,
    /// 0 to 100000 (422 beyond).
    pub offset: Option<u64>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct UpdateVideo {
    /// 1 to 140 characters.
    pub title: Option<String>,
    /// Up to 5000 characters.
    pub description: Option<String>,
    #[ts(optional, type = "\"public\" | \"unlisted\" | \"private\"")]
    pub visibility: Option<String>,
}

/// Replaces a video's chapters: at most 100, starts ascending and inside the video.
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct PutChapters {
    pub chapters: Vec<ChapterDto>,
}

/// Adds or replaces the subtitle track of the path's language.
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct PutSubtitle {
    /// 1 to 40 characters, e.g. `English`.
    pub label: String,
    /// The WebVTT file's text (starts with `WEBVTT`, at most 1 MiB).
    pub vtt: String,
}

/// A cut of a live broadcast or of a video.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ClipDto {
    /// 32 hex characters.
    pub id: String,
    pub channel_slug: String,
    /// The video it was cut from, while that exists.
    pub video_id: Option<String>,
    /// Who made it (display name).
    pub author_name: String,
    pub title: String,
    pub duration_secs: f64,
    #[ts(type = "\"processing\" | \"ready\" | \"failed\"")]
    pub status: String,
    /// Why it failed, in plain words.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub mp4_url: String,
    /// Its HLS playlist.
    pub playback_url: String,
    pub thumbnail_url: Option<String>,
    pub view_count: i64,
    /// The caller may delete it (its author, the channel's owner or an admin).
    pub can_delete: bool,
    /// Set while it is taken down (shown to the channel's owner and admins only).
    pub takedown: Option<TakedownDto>,
}

/// One page of clips, newest first; `next_offset` is absent on the last page.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ClipPage {
    pub items: Vec<ClipDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub next_offset: Option<u64>,
}

/// Clips the last `seconds` of a live broadcast.
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct CreateLiveClip {
    /// 10 to 60.
    pub seconds: u32,
    /// 1 to 140 characters; default: the channel's title.
    pub title: Option<String>,
}

/// Clips `start..end` (seconds) of a video, 5 to 60 seconds long.
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct CreateVodClip {
    pub start: f64,
    pub end: f64,
    /// 1 to 140 characters; default: the video's title.
    pub title: Option<String>,
}
