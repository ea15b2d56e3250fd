//! Playback tokens: who may watch a channel that is not public (see
//! [`streamhall_entities::channel::Visibility`]).
//!
//! - **The token.** `{channel_id}.{expiry}.{nonce}.{mac}`: the channel's id, the Unix second it
//!   stops working, 64 random bits (two tokens never look alike), and the first 128 bits of
//!   HMAC-SHA256 over the rest, hex. It names no user and carries no password. It is handed out
//!   by `POST /api/v1/channels/{slug}/playback-token` and rides on every HLS, VOD and clip URL
//!   as `?token=`.
//! - **Every node checks it without a lookup.** The MAC key is derived from the JWT signing
//!   secret (`auth.jwt_secret`), which every node of a cluster shares already; a separate
//!   label keeps the two uses apart, so a JWT can never pass as a playback token.
//! - **Short-lived.** `auth.playback.token_ttl_secs` (10 minutes); the web player asks for a new
//!   one before it runs out and reloads its playlists with it. Playlists served for a protected
//!   channel carry the token they were asked with in every URI they list (segments, child
//!   playlists, fMP4 maps, LL-HLS parts and preload hints), so a player that follows them needs
//!   nothing else.
//! - **Between nodes.** A node relaying a stream another node owns checks the viewer's token
//!   itself and asks the owner with [`RELAY_AUTH_HEADER`] (a MAC of a fixed label under the
//!   same key) instead, so the owner's answers stay shareable between viewers in the relay's
//!   cache. The header never reaches a viewer.
//! - **Who is protected.** [`Gates`] remembers each channel's visibility for
//!   [`GATE_TTL`] (a change made on another node applies there within it; on this node at
//!   once), so a player polling a playlist every second costs no database query.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::Deserialize;
use sha2::Sha256;
use streamhall_entities::{
    Channel,
    channel::{self, Visibility},
};
use subtle::ConstantTimeEq;

/// Node-to-node header of a relayed HLS request (see the module docs).
pub const RELAY_AUTH_HEADER: &str = "x-streamhall-relay-auth";
/// How long a channel's visibility is trusted before it is read again.
pub const GATE_TTL: Duration = Duration::from_secs(2);
/// Channels whose visibility is remembered; when full the table starts over.
const GATE_CAPACITY: usize = 10_000;
/// Bytes of the MAC kept in a token (128 bits).
const MAC_LEN: usize = 16;

/// `[auth.playback]`: playback tokens and password attempts.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlaybackConfig {
    /// How long a playback token works, in seconds (the player renews it before then).
    pub token_ttl_secs: u64,
    /// Wrong channel passwords one client address may try, per `window_secs` (all channels).
    pub password_failures_per_ip: u32,
    /// Wrong passwords for one channel from all addresses, per `window_secs`: a hard limit,
    /// so guessing one channel's password from many addresses stays slow.
    pub password_failures_per_channel: u32,
    pub window_secs: u64,
}

impl Default for PlaybackConfig {
    fn default() -> Self {
        Self {
            token_ttl_secs: 600,
            password_failures_per_ip: 10,
            password_failures_per_channel: 100,
            window_secs: 300,
        }
    }
}

/// Why a token was refused; each is a 403 with its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No `token` parameter.
    Missing,
    /// Not a token of this server (malformed or a wrong MAC).
    Invalid,
    /// Past its expiry.
    Expired,
    /// A valid token of another channel.
    WrongChannel,
}

impl Refused {
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "playback_token_required",
            Self::Invalid => "playback_token_invalid",
            Self::Expired => "playback_token_expired",
            Self::WrongChannel => "playback_token_wrong_channel",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::Missing => {
                "this channel is not public: get a playback token from the channel page first"
            }
            Self::Invalid => "the playback token is not valid; get a new one from the channel page",
            Self::Expired => "the playback token has expired; get a new one from the channel page",
            Self::WrongChannel => "the playback token is for another channel",
        }
    }
}

/// Mints and checks playback tokens, and remembers which channels need them.
pub struct PlaybackKeys {
    key: [u8; 32],
    ttl_secs: i64,
    relay_auth: String,
    pub gates: Gates,
}

impl std::fmt::Debug for PlaybackKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlaybackKeys")
    }
}

fn mac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts a key of any length.
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
    m.update(data);
    m.finalize().into_bytes().into()
}

impl PlaybackKeys {
    /// From the JWT signing secret every node shares.
    pub fn new(jwt_secret: &[u8], ttl_secs: u64) -> Self {
        let key = mac(jwt_secret, b"streamhall playback token v1");
        let relay_auth = hex::encode(mac(&key, b"streamhall hls relay v1"));
        Self {
            key,
            ttl_secs: i64::try_from(ttl_secs.max(1)).unwrap_or(600),
            relay_auth,
            gates: Gates::new(GATE_TTL),
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// A token for `channel_id`, valid for the configured lifetime, and its expiry (Unix
    /// seconds).
    pub fn issue(&self, channel_id: i64) -> Result<(String, i64), getrandom::Error> {
        let expires = chrono::Utc::now().timestamp() + self.ttl_secs;
        Ok((self.issue_until(channel_id, expires)?, expires))
    }

    /// A token for `channel_id` that stops working at `expires` (Unix seconds).
    pub fn issue_until(&self, channel_id: i64, expires: i64) -> Result<String, getrandom::Error> {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce)?;
        let body = format!("{channel_id}.{expires}.{}", hex::encode(nonce));
        let tag = mac(&self.key, body.as_bytes());
        Ok(format!("{body}.{}", hex::encode(&tag[..MAC_LEN])))
    }

    /// Checks `token` for `channel_id` at `now` (Unix seconds).
    pub fn verify_at(&self, token: &str, channel_id: i64, now: i64) -> Result<(), Refused> {
        let (body, tag) = token.rsplit_once('.').ok_or(Refused::Invalid)?;
        let tag = hex::decode(tag).map_err(|_| Refused::Invalid)?;
        let expected = mac(&self.key, body.as_bytes());
        if tag.len() != MAC_LEN || !bool::from(tag.as_slice().ct_eq(&expected[..MAC_LEN])) {
            return Err(Refused::Invalid);
        }
        let mut parts = body.splitn(3, '.');
        let (Some(id), Some(exp)) = (parts.next(), parts.next()) else {
            return Err(Refused::Invalid);
        };
        let id: i64 = id.parse().map_err(|_| Refused::Invalid)?;
        let exp: i64 = exp.parse().map_err(|_| Refused::Invalid)?;
        if id != channel_id {
            return Err(Refused::WrongChannel);
        }
        if exp <= now {
            return Err(Refused::Expired);
        }
        Ok(())
    }

    pub fn verify(&self, token: &str, channel_id: i64) -> Result<(), Refused> {
        self.verify_at(token, channel_id, chrono::Utc::now().timestamp())
    }

    /// The value this node sends in [`RELAY_AUTH_HEADER`] when it relays.
    pub fn relay_auth(&self) -> &str {
        &self.relay_auth
    }

    /// Whether a request comes from another node of this cluster, relaying for a viewer it
    /// has checked.
    pub fn is_relay(&self, req: &actix_web::HttpRequest) -> bool {
        req.headers()
            .get(RELAY_AUTH_HEADER)
            .is_some_and(|v| bool::from(v.as_bytes().ct_eq(self.relay_auth.as_bytes())))
    }
}

/// The `token` query parameter of a request, if any.
pub fn query_token(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .filter(|t| !t.is_empty())
}

/// What playback needs to know about a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gate {
    pub channel_id: i64,
    pub owner_id: i64,
    pub visibility: Visibility,
}

/// Channels' gates by slug, each kept for a short time (`None`: no such channel). Bounded.
pub struct Gates {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Option<Gate>)>>,
}

impl Gates {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, slug: &str) -> Option<Option<Gate>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(slug)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, gate)| *gate)
    }

    /// The channel's gate, from memory or the database.
    pub async fn get(&self, db: &DatabaseConnection, slug: &str) -> Result<Option<Gate>, DbErr> {
        if let Some(hit) = self.cached(slug) {
            return Ok(hit);
        }
        let row: Option<(i64, i64, String)> = Channel::find()
            .select_only()
            .column(channel::Column::Id)
            .column(channel::Column::OwnerId)
            .column(channel::Column::Visibility)
            .filter(channel::Column::Slug.eq(slug))
            .into_tuple()
            .one(db)
            .await?;
        let gate = row.map(|(channel_id, owner_id, visibility)| Gate {
            channel_id,
            owner_id,
            visibility: Visibility::parse(&visibility).unwrap_or(Visibility::Followers),
        });
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= GATE_CAPACITY && !entries.contains_key(slug) {
            entries.clear();
        }
        entries.insert(slug.to_owned(), (Instant::now(), gate));
        Ok(gate)
    }

    /// Forgets a channel (its visibility changed on this node).
    pub fn forget(&self, slug: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(slug);
    }
}

/// `uri` with `token` added to its query.
fn with_token(uri: &str, token: &str) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}token={token}")
}

/// A playlist whose every URI carries `token`: URI lines, and `URI="…"` attributes of tags
/// (`EXT-X-MAP`, `EXT-X-PART`, `EXT-X-PRELOAD-HINT`, `EXT-X-RENDITION-REPORT`, `EXT-X-MEDIA`).
/// `token` is a checked token (hex digits and dots only), so it needs no escaping.
pub fn rewrite_playlist(body: &[u8], token: &str) -> bytes::Bytes {
    let Ok(text) = std::str::from_utf8(body) else {
        return bytes::Bytes::copy_from_slice(body);
    };
    let mut out = String::with_capacity(text.len() + 64 * token.len());
    for line in text.split_inclusive('\n') {
        let (content, end) = match line.strip_suffix('\n') {
            Some(c) => c.strip_suffix('\r').map_or((c, "\n"), |c| (c, "\r\n")),
            None => (line, ""),
        };
        if content.is_empty() {
            out.push_str(line);
        } else if content.starts_with('#') {
            let mut rest = content;
            while let Some(at) = rest.find("URI=\"") {
                let start = at + 5;
                out.push_str(&rest[..start]);
                rest = &rest[start..];
                let Some(close) = rest.find('"') else { break };
                out.push_str(&with_token(&rest[..close], token));
                rest = &rest[close..];
            }
            out.push_str(rest);
            out.push_str(end);
        } else {
            out.push_str(&with_token(content, token));
            out.push_str(end);
        }
    }
    bytes::Bytes::from(out)
}

/// A sprite VTT (`sprite.jpg#xywh=…` cues) whose every tile image carries `token`, before its
/// `#xywh` fragment. Timing lines, the header and blank lines stay as they are.
pub fn rewrite_sprite_vtt(body: &[u8], token: &str) -> bytes::Bytes {
    let Ok(text) = std::str::from_utf8(body) else {
        return bytes::Bytes::copy_from_slice(body);
    };
    let mut out = String::with_capacity(text.len() + 32 * token.len());
    for line in text.split_inclusive('\n') {
        match line.find("#xywh=") {
            Some(at) if !line.contains("-->") => {
                out.push_str(&with_token(&line[..at], token));
                out.push_str(&line[at..]);
            }
            _ => out.push_str(line),
        }
    }
    bytes::Bytes::from(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn keys() -> PlaybackKeys {
        PlaybackKeys::new(b"0123456789abcdef0123456789abcdef", 600)
    }

    #[test]
    fn a_token_works_for_its_channel_until_it_expires() {
        let k = keys();
        let (token, exp) = k.issue(7).unwrap();
        assert!(!token.contains("0123456789abcdef0123"), "no secret in it");
        assert_eq!(k.verify(&token, 7), Ok(()));
        assert_eq!(k.verify(&token, 8), Err(Refused::WrongChannel));
        assert_eq!(k.verify_at(&token, 7, exp), Err(Refused::Expired));
        assert_ne!(k.issue(7).unwrap().0, token, "tokens differ");
    }

    #[test]
    fn forged_and_foreign_tokens_are_invalid() {
        let k = keys();
        let (token, _) = k.issue(7).unwrap();
        // Moving the expiry breaks the MAC.
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("7.{}.{}.{}", i64::MAX, parts[2], parts[3]);
        assert_eq!(k.verify(&forged, 7), Err(Refused::Invalid));
        let other = PlaybackKeys::new(b"another secret of thirty-two bytes!", 600);
        assert_eq!(other.verify(&token, 7), Err(Refused::Invalid));
        for junk in [
            "",
            "x",
            "7.1.2",
            "7.1.2.zz",
            "a.b.c.00000000000000000000000000000000",
        ] {
            assert_eq!(k.verify(junk, 7), Err(Refused::Invalid), "{junk:?}");
        }
        assert_ne!(k.relay_auth(), other.relay_auth());
    }

    #[test]
    fn playlists_carry_the_token_on_every_uri() {
        let playlist = "#EXTM3U\n#EXT-X-MAP:URI=\"init-1.mp4\"\n#EXTINF:1.0,\nseg-1.ts\r\n\
            #EXT-X-PART:DURATION=0.2,URI=\"part-1.m4s\",INDEPENDENT=YES\n\
            #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-2.m4s?x=1\"\n\
            #EXT-X-STREAM-INF:BANDWIDTH=1\n480p/index.m3u8\n";
        let out = rewrite_playlist(playlist.as_bytes(), "1.2.3.4");
        let out = std::str::from_utf8(&out).unwrap();
        assert_eq!(
            out,
            "#EXTM3U\n#EXT-X-MAP:URI=\"init-1.mp4?token=1.2.3.4\"\n#EXTINF:1.0,\n\
             seg-1.ts?token=1.2.3.4\r\n\
             #EXT-X-PART:DURATION=0.2,URI=\"part-1.m4s?token=1.2.3.4\",INDEPENDENT=YES\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-2.m4s?x=1&token=1.2.3.4\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1\n480p/index.m3u8?token=1.2.3.4\n"
        );
    }

    #[test]
    fn sprite_tiles_carry_the_token() {
        let vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nsprite.jpg#xywh=0,0,160,90\n\n\
            00:00:02.000 --> 00:00:04.000\r\nsprite.jpg#xywh=160,0,160,90\r\n";
        let out = rewrite_sprite_vtt(vtt.as_bytes(), "1.2.3.4");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nsprite.jpg?token=1.2.3.4#xywh=0,0,160,90\n\n\
             00:00:02.000 --> 00:00:04.000\r\nsprite.jpg?token=1.2.3.4#xywh=160,0,160,90\r\n"
        );
    }

    #[test]
    fn the_token_parameter_is_found_among_others() {
        assert_eq!(query_token("vid=abc&token=1.2.3.4"), Some("1.2.3.4"));
        assert_eq!(query_token("token="), None);
        assert_eq!(query_token("vid=abc"), None);
    }
}
