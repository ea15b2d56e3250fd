//! [`HlsDirectory`]: what HTTP handlers read to serve HLS, without going through a mailbox.
//!
//! One [`StreamEntry`] per channel with a live (or recently ended) broadcast: the
//! [`LiveWindow`] the stream's Segment actor writes, the broadcast's [`LiveInfo`], the newest
//! segment of the lowest rendition (the thumbnail source) and the last thumbnail. Reads take a
//! short read lock and clone `Bytes`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use streamhall_media::hls::{LiveWindow, LlWindow, Lookup, Readiness, SealedFile};
use streamhall_media::transcode::PlannedRendition;

use crate::health::StreamStatus;
use crate::locks::{read, write};
use crate::recording::Recorder;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenditionInfo {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Peak bits per second, as in the master playlist.
    pub bandwidth: u64,
}

/// What a page needs to know about a channel's broadcast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveInfo {
    pub broadcast_id: i64,
    pub started_at: DateTime<Utc>,
    pub renditions: Vec<RenditionInfo>,
    /// The broadcast is over; the playlists carry `#EXT-X-ENDLIST` for a little while.
    pub ended: bool,
    pub target_duration: u32,
    /// Starting, live or failed (the stream's [`StatusCore`](crate::StatusCore) decides).
    pub status: StreamStatus,
    /// For viewers, while failed.
    pub viewer_problem: Option<String>,
}

/// One channel's HLS state.
pub struct StreamEntry {
    pub(crate) window: RwLock<LiveWindow>,
    /// Low-latency HLS (fMP4 parts); empty when `live.ladder.low_latency` is off.
    pub(crate) ll: RwLock<LlWindow>,
    /// Bumped at every change of `ll`: blocked playlist and part requests wait on it.
    pub(crate) ll_changed: tokio::sync::watch::Sender<u64>,
    pub(crate) info: RwLock<LiveInfo>,
    pub(crate) thumbnail: RwLock<Option<Bytes>>,
    /// Newest segment of the lowest rendition, for the thumbnail.
    pub(crate) latest_low_segment: Mutex<Option<Bytes>>,
    /// The broadcast's recording; also the DVR window beyond the live one.
    pub(crate) recorder: Option<Arc<Recorder>>,
}

impl StreamEntry {
    pub(crate) fn new(
        broadcast_id: i64,
        started_at: DateTime<Utc>,
        window: LiveWindow,
        ll: LlWindow,
        recorder: Option<Arc<Recorder>>,
    ) -> Self {
        Self {
            window: RwLock::new(window),
            ll: RwLock::new(ll),
            ll_changed: tokio::sync::watch::Sender::new(0),
            info: RwLock::new(LiveInfo {
                broadcast_id,
                started_at,
                renditions: Vec::new(),
                ended: false,
                target_duration: 1,
                status: StreamStatus::Starting,
                viewer_problem: None,
            }),
            thumbnail: RwLock::new(None),
            latest_low_segment: Mutex::new(None),
            recorder,
        }
    }

    pub(crate) fn broadcast_id(&self) -> i64 {
        read(&self.info).broadcast_id
    }

    pub(crate) fn set_plan(&self, plan: &[PlannedRendition]) {
        write(&self.info).renditions = plan
            .iter()
            .map(|p| RenditionInfo {
                name: p.name.clone(),
                width: p.width,
                height: p.height,
                bandwidth: p.peak_bandwidth_bps(),
            })
            .collect();
    }

    pub(crate) fn set_status(&self, status: StreamStatus, viewer_problem: Option<String>) {
        let mut info = write(&self.info);
        info.status = status;
        info.viewer_problem = viewer_problem;
    }

    pub(crate) fn end(&self) {
        write(&self.window).end();
        write(&self.ll).end();
        write(&self.info).ended = true;
        self.ll_touched();
    }

    /// Wakes the requests waiting on the low-latency window.
    pub(crate) fn ll_touched(&self) {
        self.ll_changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// How long a blocked request may wait: three target durations (RFC 8216bis §6.2.5.2).
    fn ll_wait(&self) -> std::time::Duration {
        let target = read(&self.ll).target_duration().max(1);
        std::time::Duration::from_secs(3 * u64::from(target))
    }
}

/// The answer to a low-latency playlist request.
#[derive(Debug, Clone, PartialEq)]
pub enum LlPlaylist {
    Playlist(Bytes),
    /// `_HLS_msn` further ahead than the server may be asked to wait: 400.
    TooFar,
    /// What was asked for did not come within three target durations: 503, the player retries.
    Timeout,
    NotFound,
}

/// Shared, cheap to clone; `Send + Sync`.
#[derive(Clone, Default)]
pub struct HlsDirectory {
    streams: Arc<RwLock<HashMap<String, Arc<StreamEntry>>>>,
}

impl HlsDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&self, slug: &str) -> Option<Arc<StreamEntry>> {
        read(&self.streams).get(slug).cloned()
    }

    /// `None` until the stream is announced: a player that read the master while only the
    /// first rendition had segments would never learn of the others (players read it once).
    pub fn master(&self, slug: &str) -> Option<Bytes> {
        let e = self.entry(slug)?;
        if read(&e.info).status == StreamStatus::Starting {
            return None;
        }
        let m = read(&e.window).master_playlist();
        (!m.is_empty()).then_some(m)
    }

    pub fn media_playlist(&self, slug: &str, rendition: &str) -> Option<Bytes> {
        let e = self.entry(slug)?;
        let p = read(&e.window).media_playlist(rendition)?;
        (!p.is_empty()).then_some(p)
    }

    pub fn segment(&self, slug: &str, rendition: &str, name: &str) -> Option<Bytes> {
        let e = self.entry(slug)?;
        read(&e.window).segment(rendition, name)
    }

    /// A segment with its sealed memory file, for a connection that sends with `sendfile`.
    pub fn sealed_segment(
        &self,
        slug: &str,
        rendition: &str,
        name: &str,
    ) -> Option<(Bytes, Option<Arc<SealedFile>>)> {
        let e = self.entry(slug)?;
        read(&e.window).sealed_segment(rendition, name)
    }

    pub fn live_info(&self, slug: &str) -> Option<LiveInfo> {
        let e = self.entry(slug)?;
        let mut info = read(&e.info).clone();
        let stats = read(&e.window).snapshot();
        // The renditions the master playlist lists, nothing else.
        info.renditions.retain(|r| {
            stats
                .renditions
                .iter()
                .any(|s| s.listed && s.name == r.name)
        });
        info.target_duration = stats
            .renditions
            .iter()
            .filter(|r| r.active)
            .map(|r| r.target_duration)
            .max()
            .unwrap_or(info.target_duration);
        Some(info)
    }

    /// The recording of the channel's current (or just ended) broadcast.
    pub fn recorder(&self, slug: &str) -> Option<Arc<Recorder>> {
        self.entry(slug)?.recorder.clone()
    }

    /// The master with the DVR window: the live master with each `{r}/index.m3u8` as
    /// `{r}/dvr.m3u8`. `None` without a recording or before the live master exists.
    pub fn dvr_master(&self, slug: &str) -> Option<Bytes> {
        self.entry(slug)?.recorder.as_ref()?;
        let live = self.master(slug)?;
        rename_variants(std::str::from_utf8(&live).ok()?, "dvr.m3u8", |_| true)
    }

    /// The low-latency master: the live master with each `{r}/index.m3u8` as `{r}/ll.m3u8`,
    /// listing only renditions whose low-latency copy has parts. `None` before the live
    /// master exists or when no rendition has one.
    pub fn ll_master(&self, slug: &str) -> Option<Bytes> {
        let e = self.entry(slug)?;
        let live = self.master(slug)?;
        let ll = read(&e.ll);
        rename_variants(std::str::from_utf8(&live).ok()?, "ll.m3u8", |r| ll.has(r))
    }

    /// Whether this node serves the channel's broadcast with low-latency playlists.
    pub fn has_low_latency(&self, slug: &str) -> bool {
        self.entry(slug).is_some_and(|e| {
            let listed = read(&e.window).snapshot();
            let ll = read(&e.ll);
            listed
                .renditions
                .iter()
                .any(|r| r.listed && ll.has(&r.name))
        })
    }

    /// A low-latency media playlist. With `msn` (and `part`), a blocking reload: answered once
    /// the playlist holds that segment (or part), at most three target durations later.
    pub async fn ll_playlist(
        &self,
        slug: &str,
        rendition: &str,
        msn: Option<u64>,
        part: Option<u64>,
    ) -> LlPlaylist {
        let Some(e) = self.entry(slug) else {
            return LlPlaylist::NotFound;
        };
        let mut changed = e.ll_changed.subscribe();
        let deadline = tokio::time::Instant::now() + e.ll_wait();
        loop {
            // Seen before looking, so a change after the look wakes the wait below.
            changed.borrow_and_update();
            {
                let ll = read(&e.ll);
                let ready = match msn {
                    None => Readiness::Ready,
                    Some(msn) => ll.readiness(rendition, msn, part),
                };
                match ready {
                    Readiness::Ready => {
                        return ll
                            .playlist(rendition)
                            .map_or(LlPlaylist::NotFound, LlPlaylist::Playlist);
                    }
                    Readiness::TooFar => return LlPlaylist::TooFar,
                    Readiness::Unknown => return LlPlaylist::NotFound,
                    Readiness::Wait => {}
                }
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                _ => return LlPlaylist::Timeout,
            }
        }
    }

    /// A low-latency init segment (`init-N.mp4`), part (`p-N.m4s`, held until it exists when
    /// it is the one the preload hint names) or segment (`s-N.m4s`).
    pub async fn ll_media(&self, slug: &str, rendition: &str, name: &str) -> Option<Bytes> {
        let e = self.entry(slug)?;
        if name.starts_with("init-") {
            return read(&e.ll).init(rendition, name);
        }
        if name.starts_with("s-") {
            return read(&e.ll).segment(rendition, name);
        }
        let mut changed = e.ll_changed.subscribe();
        let deadline = tokio::time::Instant::now() + e.ll_wait();
        loop {
            changed.borrow_and_update();
            match read(&e.ll).part(rendition, name) {
                Lookup::Found(b) => return Some(b),
                Lookup::Missing => return None,
                Lookup::Pending => {}
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }

    pub fn dvr_playlist(&self, slug: &str, rendition: &str) -> Option<Bytes> {
        self.entry(slug)?.recorder.as_ref()?.dvr_playlist(rendition)
    }

    /// A segment of the recording (spool or store): for a DVR player that rewound past the
    /// live window. Look in the window ([`segment`](Self::segment)) first.
    pub async fn recorded_segment(&self, slug: &str, rendition: &str, name: &str) -> Option<Bytes> {
        let seq = streamhall_media::hls::parse_segment_name(name)?;
        let rec = self.entry(slug)?.recorder.clone()?;
        rec.read_segment(rendition, seq).await
    }

    pub fn thumbnail(&self, slug: &str) -> Option<Bytes> {
        let e = self.entry(slug)?;
        read(&e.thumbnail).clone()
    }

    /// What another node needs to know to serve the channel's broadcast: its id, what a page
    /// shows, and whether it has a DVR window. `None` without an entry or once it ended.
    pub fn lease_view(&self, slug: &str) -> Option<(i64, LiveInfo, bool)> {
        let info = self.live_info(slug).filter(|i| !i.ended)?;
        let dvr = self.recorder(slug).is_some();
        Some((info.broadcast_id, info, dvr))
    }

    /// Slugs with an entry (live or recently ended).
    pub fn slugs(&self) -> Vec<String> {
        read(&self.streams).keys().cloned().collect()
    }

    pub(crate) fn insert(&self, slug: &str, entry: Arc<StreamEntry>) {
        write(&self.streams).insert(slug.to_owned(), entry);
    }

    /// Removes the entry if it still belongs to `broadcast_id` (a newer broadcast may have
    /// taken the slug since).
    pub(crate) fn remove_if(&self, slug: &str, broadcast_id: i64) {
        let mut map = write(&self.streams);
        if map
            .get(slug)
            .is_some_and(|e| e.broadcast_id() == broadcast_id)
        {
            map.remove(slug);
        }
    }
}

/// The master playlist `live` with each variant's `{r}/index.m3u8` as `{r}/{playlist}`, keeping
/// only the variants (`#EXT-X-STREAM-INF` and its URI) for which `keep(r)`; `None` when none is
/// kept.
fn rename_variants(live: &str, playlist: &str, keep: impl Fn(&str) -> bool) -> Option<Bytes> {
    let mut out = String::with_capacity(live.len() + 16);
    let mut stream_inf: Option<&str> = None;
    let mut any = false;
    for line in live.lines() {
        if line.starts_with("#EXT-X-STREAM-INF") {
            stream_inf = Some(line);
            continue;
        }
        match line.strip_suffix("/index.m3u8") {
            Some(r) if !line.starts_with('#') => {
                if let Some(inf) = stream_inf.take().filter(|_| keep(r)) {
                    out.push_str(inf);
                    out.push('\n');
                    out.push_str(r);
                    out.push('/');
                    out.push_str(playlist);
                    out.push('\n');
                    any = true;
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    any.then(|| Bytes::from(out))
}
