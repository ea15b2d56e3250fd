//! [`HlsDirectory`]: what HTTP handlers read to serve HLS, without going through a mailbox.
//!
//! One [`StreamEntry`] per channel with a live (or recently ended) broadcast: the
//! [`LiveWindow`] the stream's Segment actor writes, the broadcast's [`LiveInfo`], the newest
//! segment of the lowest rendition (the thumbnail source) and the last thumbnail. Reads take a
//! short read lock and clone `Bytes`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use streamhall_media::hls::LiveWindow;
use streamhall_media::transcode::PlannedRendition;

use crate::health::StreamStatus;
use crate::recording::Recorder;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

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
        recorder: Option<Arc<Recorder>>,
    ) -> Self {
        Self {
            window: RwLock::new(window),
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
        write(&self.info).ended = true;
    }
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
        let text = std::str::from_utf8(&live).ok()?;
        let mut out = String::with_capacity(text.len() + 16);
        for line in text.lines() {
            match line.strip_suffix("/index.m3u8") {
                Some(r) if !line.starts_with('#') => {
                    out.push_str(r);
                    out.push_str("/dvr.m3u8\n");
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        Some(Bytes::from(out))
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
