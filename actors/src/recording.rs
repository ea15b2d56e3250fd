//! Recording: every segment of a broadcast goes to the object store as it is produced, and at
//! the end the recording becomes a VOD (playlists with `EXT-X-ENDLIST`, thumbnail, seek
//! preview sprite, duration and size on the `videos` row).
//!
//! A [`Recorder`] belongs to one broadcast's [`StreamEntry`](crate::directory::StreamEntry).
//! The Segment actor hands it each finished segment ([`Recorder::push`]); the recorder writes
//! it to a spool file under `{spool_dir}/{video_id}/` and one upload task per recorder moves
//! spooled segments to `vod/{video_id}/{rendition}/{seq}_{ms}[_d].ts` (a few at a time, in
//! the order they were produced). While the store is down uploads are retried with backoff and
//! segments wait in the spool; when the spool is over its size, the oldest waiting segment of
//! a rendition other than the highest is dropped first (the highest goes last), counted in
//! `missing_segments`. The same index serves the live DVR window: a segment that has left the
//! in-memory live window is read from the spool or the store.
//!
//! Grace reconnects and ffmpeg restarts keep the same recorder (one recording; the live window
//! marks the discontinuity, which the segment's name carries). A node that stops uncleanly
//! leaves its spool and `recording` rows; [`recover`] finishes them at the next start from the
//! spool and the store listing alone.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use streamhall_entities::{Video, channel, video};
use streamhall_media::objects::{ObjectError, ObjectStore};
use streamhall_media::transcode::PlannedRendition;
use streamhall_media::vod::{
    VodRendition, VodSegment, parse_segment_file_name, render_vod_master, render_vod_playlist,
    segment_file_name, vod_duration,
};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::directory::lock;

/// Segments uploaded at once per recording.
const UPLOAD_CONCURRENCY: usize = 4;
/// Longest wait between retries while the store fails.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Upload lags kept for the percentiles in health.
const LAG_SAMPLES: usize = 512;
/// Videos longer than this get no seek-preview sprite (it would download the whole lowest
/// rendition once more).
const SPRITE_MAX_SECS: f64 = 3.0 * 3600.0;
/// At most this many sprite tiles; longer videos get a wider interval.
const SPRITE_MAX_TILES: f64 = 400.0;

/// How recordings are kept.
#[derive(Debug, Clone)]
pub struct RecordingConfig {
    /// Segments waiting for the store, under `{spool_dir}/{video_id}/`.
    pub spool_dir: PathBuf,
    /// Bytes the spool of one recording may hold before segments are dropped.
    pub spool_limit: u64,
    /// How far back live viewers may rewind.
    pub dvr: Duration,
    /// Between passes of the retention job.
    pub retention_every: Duration,
    /// For the seek-preview sprite and clips.
    pub ffmpeg_path: PathBuf,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            spool_dir: std::env::temp_dir().join("streamhall-spool"),
            spool_limit: 2 << 30,
            dvr: Duration::from_secs(30 * 60),
            retention_every: Duration::from_secs(600),
            ffmpeg_path: PathBuf::from("ffmpeg"),
        }
    }
}

/// One rendition as stored in `videos.renditions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenditionMeta {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bandwidth: u64,
    /// RFC 6381, as the live master said.
    #[serde(default)]
    pub codecs: String,
}

impl From<&PlannedRendition> for RenditionMeta {
    fn from(p: &PlannedRendition) -> Self {
        Self {
            name: p.name.clone(),
            width: p.width,
            height: p.height,
            bandwidth: p.peak_bandwidth_bps(),
            codecs: VodRendition::from(p).codecs,
        }
    }
}

/// A chapter as stored in `videos.chapters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chapter {
    pub title: String,
    pub start: f64,
}

/// A subtitle track as stored in `videos.subtitles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subtitle {
    pub lang: String,
    pub label: String,
}

/// 32 lowercase hex characters from 122 random bits: ids of videos and clips.
pub fn new_media_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `vod/{id}/`.
pub fn vod_prefix(video_id: &str) -> String {
    format!("vod/{video_id}/")
}

/// Where a stored segment lives.
pub fn segment_key(video_id: &str, rendition: &str, seg: &VodSegment) -> String {
    format!("vod/{video_id}/{rendition}/{}", segment_file_name(seg))
}

// ---------------------------------------------------------------------------------------------
// The videos row

/// Creates the `recording` row of a new broadcast. A channel that does not keep recordings gets
/// a `dvr_only` one (never listed, deleted when the broadcast ends).
pub async fn open_video(
    db: &DatabaseConnection,
    ch: &channel::Model,
    broadcast_id: i64,
    node_id: &str,
) -> Result<video::Model, DbErr> {
    let now = Utc::now();
    let title = if ch.title.trim().is_empty() {
        format!("Broadcast of {}", now.format("%Y-%m-%d"))
    } else {
        ch.title.clone()
    };
    video::ActiveModel {
        id: Set(new_media_id()),
        channel_id: Set(ch.id),
        broadcast_id: Set(Some(broadcast_id)),
        title: Set(title.chars().take(140).collect()),
        description: Set(String::new()),
        visibility: Set("public".into()),
        status: Set("recording".into()),
        dvr_only: Set(!ch.record_vods),
        duration_secs: Set(0.0),
        size_bytes: Set(0),
        renditions: Set(serde_json::json!([])),
        chapters: Set(serde_json::json!([])),
        subtitles: Set(serde_json::json!([])),
        has_thumbnail: Set(false),
        has_sprite: Set(false),
        missing_segments: Set(0),
        view_count: Set(0),
        error: Set(None),
        node_id: Set(node_id.chars().take(64).collect()),
        created_at: Set(now),
        ended_at: Set(None),
    }
    .insert(db)
    .await
}

/// Removes every object under `vod/{id}/` and then the row. Returns the objects removed.
/// Clips cut from the video keep their own objects (their `video_id` becomes null).
pub async fn delete_video(
    db: &DatabaseConnection,
    store: &dyn ObjectStore,
    video_id: &str,
) -> anyhow::Result<u64> {
    let removed = store.delete_prefix(&vod_prefix(video_id)).await?;
    Video::delete_by_id(video_id.to_owned()).exec(db).await?;
    Ok(removed)
}

// ---------------------------------------------------------------------------------------------
// The recorder

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Spool,
    Uploading,
    Stored,
    /// Dropped from a full spool, or the spool write failed.
    Lost,
}

#[derive(Debug, Clone)]
struct Entry {
    seg: VodSegment,
    pdt: SystemTime,
    size: u64,
    at: Location,
    produced: Instant,
}

struct RenditionIndex {
    meta: RenditionMeta,
    /// In sequence order; kept whole until the end (the VOD playlist needs every entry).
    entries: Vec<Entry>,
    dvr: Bytes,
}

impl RenditionIndex {
    fn position(&self, seq: u64) -> Option<usize> {
        self.entries.binary_search_by_key(&seq, |e| e.seg.seq).ok()
    }
}

#[derive(Default)]
struct State {
    renditions: Vec<RenditionIndex>,
    /// (rendition index, seq) waiting for upload, oldest first.
    pending: VecDeque<(usize, u64)>,
    spool_bytes: u64,
    uploaded: u64,
    uploaded_bytes: u64,
    lost: u64,
    ended: bool,
    store_error: Option<String>,
    lags_ms: VecDeque<u64>,
    renditions_saved: bool,
}

/// What the health tree shows of a recording.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct RecordingHealth {
    pub video_id: String,
    /// `recording`, `store_unavailable` (uploads are being retried; segments wait in the
    /// spool), `finishing`.
    pub state: String,
    pub dvr_only: bool,
    pub spooled_segments: u64,
    pub spooled_bytes: u64,
    pub uploaded_segments: u64,
    pub uploaded_bytes: u64,
    /// Dropped because the spool was full while the store was down.
    pub lost_segments: u64,
    pub last_error: Option<String>,
    /// From a segment being produced to it being stored, over the last uploads.
    pub upload_lag_p50_ms: Option<u64>,
    pub upload_lag_p99_ms: Option<u64>,
}

/// A segment a clip or the DVR window reads.
#[derive(Debug, Clone)]
pub enum SegmentSource {
    /// Waiting on local disk; `key` is where the uploader puts it (and deletes the spool
    /// file), so a reader that finds the file gone looks there.
    Spool {
        path: PathBuf,
        key: String,
    },
    Store(String),
}

impl SegmentSource {
    pub async fn read(&self, store: &dyn ObjectStore) -> Result<Option<Bytes>, ObjectError> {
        match self {
            SegmentSource::Spool { path, key } => match tokio::fs::read(path).await {
                Ok(d) => Ok(Some(Bytes::from(d))),
                // Uploaded since it was located.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => store.get(key).await,
                Err(e) => Err(e.into()),
            },
            SegmentSource::Store(k) => store.get(k).await,
        }
    }
}

/// One segment of the recording's tail, for a live clip.
#[derive(Debug, Clone)]
pub struct TailSegment {
    pub source: SegmentSource,
    pub duration: f64,
    /// Seconds from the start of the recording.
    pub offset: f64,
}

/// The recording of one broadcast. Shared by the Segment actor (pushes), HLS handlers (DVR
/// reads), clip jobs (tail reads) and its own upload task.
pub struct Recorder {
    video_id: String,
    slug: String,
    dvr_only: bool,
    db: DatabaseConnection,
    store: Arc<dyn ObjectStore>,
    cfg: RecordingConfig,
    spool: PathBuf,
    state: Mutex<State>,
    wake: Notify,
    started: AtomicBool,
    finished: watch::Sender<bool>,
}

impl Recorder {
    pub fn new(
        video: &video::Model,
        slug: &str,
        db: DatabaseConnection,
        store: Arc<dyn ObjectStore>,
        cfg: RecordingConfig,
    ) -> Arc<Self> {
        let spool = cfg.spool_dir.join(&video.id);
        Arc::new(Self {
            video_id: video.id.clone(),
            slug: slug.to_owned(),
            dvr_only: video.dvr_only,
            db,
            store,
            cfg,
            spool,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            started: AtomicBool::new(false),
            finished: watch::channel(false).0,
        })
    }

    pub fn video_id(&self) -> &str {
        &self.video_id
    }

    /// Starts the upload task (once).
    pub fn start(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move { me.run().await });
    }

    /// The ladder of the next ffmpeg run: renditions seen for the first time get an index; the
    /// row's `renditions` is updated the first time.
    pub fn set_plan(&self, plan: &[PlannedRendition]) {
        let save = {
            let mut st = lock(&self.state);
            for p in plan {
                if !st.renditions.iter().any(|r| r.meta.name == p.name) {
                    st.renditions.push(RenditionIndex {
                        meta: RenditionMeta::from(p),
                        entries: Vec::new(),
                        dvr: Bytes::new(),
                    });
                }
            }
            let save = !st.renditions_saved;
            st.renditions_saved = true;
            save.then(|| {
                st.renditions
                    .iter()
                    .map(|r| r.meta.clone())
                    .collect::<Vec<_>>()
            })
        };
        if let Some(metas) = save {
            let db = self.db.clone();
            let id = self.video_id.clone();
            tokio::spawn(async move {
                let json = serde_json::to_value(&metas).unwrap_or_default();
                if let Err(e) = Video::update_many()
                    .col_expr(video::Column::Renditions, Expr::value(json))
                    .filter(video::Column::Id.eq(id))
                    .exec(&db)
                    .await
                {
                    tracing::warn!(error = %e, "saving the recording's renditions failed");
                }
            });
        }
    }

    /// A segment the live window just took (sequence number `seq`): spooled, then uploaded.
    /// Small blocking file I/O, like the watcher's reads.
    pub fn push(
        &self,
        rendition: &str,
        seq: u64,
        duration: f64,
        discontinuity: bool,
        pdt: SystemTime,
        data: &Bytes,
    ) {
        let seg = VodSegment {
            seq,
            duration,
            discontinuity,
        };
        let path = self.spool_path(rendition, &seg);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, data));
        let mut st = lock(&self.state);
        let Some(ri) = st.renditions.iter().position(|r| r.meta.name == rendition) else {
            return;
        };
        let at = match written {
            Ok(()) => Location::Spool,
            Err(e) => {
                tracing::warn!(error = %e, "spooling a segment failed; it is not recorded");
                st.store_error = Some(format!("spool: {e}"));
                st.lost += 1;
                Location::Lost
            }
        };
        let size = data.len() as u64;
        st.renditions[ri].entries.push(Entry {
            seg,
            pdt,
            size,
            at,
            produced: Instant::now(),
        });
        if at == Location::Spool {
            st.pending.push_back((ri, seq));
            st.spool_bytes += size;
            self.evict(&mut st);
        }
        self.render_dvr(&mut st, ri);
        drop(st);
        self.wake.notify_one();
    }

    /// Over the spool's limit: drop the oldest waiting segment of the lowest rendition that has
    /// one waiting (renditions are in plan order, highest first), until under the limit.
    fn evict(&self, st: &mut State) {
        while st.spool_bytes > self.cfg.spool_limit {
            let victim = (0..st.renditions.len()).rev().find_map(|ri| {
                st.pending
                    .iter()
                    .position(|&(r, seq)| {
                        r == ri
                            && st.renditions[r]
                                .position(seq)
                                .is_some_and(|i| st.renditions[r].entries[i].at == Location::Spool)
                    })
                    .map(|p| (p, ri))
            });
            let Some((p, ri)) = victim else { break };
            let Some((_, seq)) = st.pending.remove(p) else {
                break;
            };
            let Some(i) = st.renditions[ri].position(seq) else {
                continue;
            };
            let e = &mut st.renditions[ri].entries[i];
            e.at = Location::Lost;
            let (size, seg) = (e.size, e.seg);
            let name = st.renditions[ri].meta.name.clone();
            st.spool_bytes = st.spool_bytes.saturating_sub(size);
            st.lost += 1;
            let _ = std::fs::remove_file(self.spool_path(&name, &seg));
            tracing::warn!(rendition = %name, seq, "spool full: a waiting segment was dropped");
            self.render_dvr(st, ri);
        }
    }

    fn spool_path(&self, rendition: &str, seg: &VodSegment) -> PathBuf {
        self.spool.join(rendition).join(segment_file_name(seg))
    }

    /// The DVR playlist of one rendition: the last `dvr` of segments, dropped ones as
    /// `EXT-X-GAP`, URIs `seg-{seq}.ts` beside the live playlist.
    fn render_dvr(&self, st: &mut State, ri: usize) {
        let ended = st.ended;
        let r = &mut st.renditions[ri];
        r.dvr = Bytes::from(render_dvr_playlist(&r.entries, self.cfg.dvr, ended));
    }

    /// The DVR media playlist, once the rendition has a segment.
    pub fn dvr_playlist(&self, rendition: &str) -> Option<Bytes> {
        let st = lock(&self.state);
        let r = st.renditions.iter().find(|r| r.meta.name == rendition)?;
        (!r.dvr.is_empty()).then(|| r.dvr.clone())
    }

    /// Where segment `seq` of `rendition` can be read, if it was recorded and not dropped.
    pub fn locate(&self, rendition: &str, seq: u64) -> Option<SegmentSource> {
        let st = lock(&self.state);
        let r = st.renditions.iter().find(|r| r.meta.name == rendition)?;
        let e = &r.entries[r.position(seq)?];
        self.source_of(&r.meta.name, e)
    }

    fn source_of(&self, rendition: &str, e: &Entry) -> Option<SegmentSource> {
        match e.at {
            Location::Spool | Location::Uploading => Some(SegmentSource::Spool {
                path: self.spool_path(rendition, &e.seg),
                key: segment_key(&self.video_id, rendition, &e.seg),
            }),
            Location::Stored => Some(SegmentSource::Store(segment_key(
                &self.video_id,
                rendition,
                &e.seg,
            ))),
            Location::Lost => None,
        }
    }

    /// Reads a segment that left the live window (DVR). An upload finishing between the lookup
    /// and the read moves the file: look again once.
    pub async fn read_segment(&self, rendition: &str, seq: u64) -> Option<Bytes> {
        for _ in 0..2 {
            let src = self.locate(rendition, seq)?;
            match src.read(self.store.as_ref()).await {
                Ok(Some(d)) => return Some(d),
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "reading a DVR segment failed");
                    return None;
                }
            }
        }
        None
    }

    /// The last segments of the highest rendition adding up to at least `seconds` (fewer when
    /// the recording is shorter, or a dropped segment interrupts it).
    pub fn tail(&self, seconds: f64) -> (String, Vec<TailSegment>) {
        let st = lock(&self.state);
        let Some(r) = st.renditions.iter().find(|r| !r.entries.is_empty()) else {
            return (String::new(), Vec::new());
        };
        let mut offsets = Vec::with_capacity(r.entries.len());
        let mut t = 0.0;
        for e in &r.entries {
            offsets.push(t);
            t += e.seg.duration;
        }
        let mut out = Vec::new();
        let mut total = 0.0;
        for (i, e) in r.entries.iter().enumerate().rev() {
            if total >= seconds {
                break;
            }
            let Some(source) = self.source_of(&r.meta.name, e) else {
                break;
            };
            total += e.seg.duration;
            out.push(TailSegment {
                source,
                duration: e.seg.duration,
                offset: offsets[i],
            });
        }
        out.reverse();
        (self.video_id.clone(), out)
    }

    pub fn health(&self) -> RecordingHealth {
        let st = lock(&self.state);
        let mut lags: Vec<u64> = st.lags_ms.iter().copied().collect();
        lags.sort_unstable();
        let pct = |p: f64| -> Option<u64> {
            if lags.is_empty() {
                return None;
            }
            let i = ((lags.len() as f64 - 1.0) * p).round() as usize;
            lags.get(i).copied()
        };
        let state = if st.store_error.is_some() && !st.pending.is_empty() {
            "store_unavailable"
        } else if st.ended {
            "finishing"
        } else {
            "recording"
        };
        RecordingHealth {
            video_id: self.video_id.clone(),
            state: state.into(),
            dvr_only: self.dvr_only,
            spooled_segments: st.pending.len() as u64,
            spooled_bytes: st.spool_bytes,
            uploaded_segments: st.uploaded,
            uploaded_bytes: st.uploaded_bytes,
            lost_segments: st.lost,
            last_error: st.store_error.clone(),
            upload_lag_p50_ms: pct(0.5),
            upload_lag_p99_ms: pct(0.99),
        }
    }

    /// The broadcast is over: upload what is left, then finalise (in the background; the
    /// returned receiver turns true when done).
    pub fn finish(self: &Arc<Self>) -> watch::Receiver<bool> {
        {
            let mut st = lock(&self.state);
            st.ended = true;
            for ri in 0..st.renditions.len() {
                self.render_dvr(&mut st, ri);
            }
        }
        self.start();
        self.wake.notify_one();
        self.finished.subscribe()
    }

    fn next_job(&self) -> Option<(String, VodSegment, Instant)> {
        let mut st = lock(&self.state);
        while let Some((ri, seq)) = st.pending.pop_front() {
            let Some(i) = st.renditions[ri].position(seq) else {
                continue;
            };
            let e = &mut st.renditions[ri].entries[i];
            if e.at != Location::Spool {
                continue;
            }
            e.at = Location::Uploading;
            let job = (e.seg, e.produced);
            return Some((st.renditions[ri].meta.name.clone(), job.0, job.1));
        }
        None
    }

    fn complete(
        &self,
        rendition: &str,
        seg: &VodSegment,
        produced: Instant,
        ok: bool,
        err: Option<String>,
    ) {
        let mut st = lock(&self.state);
        let Some(ri) = st.renditions.iter().position(|r| r.meta.name == rendition) else {
            return;
        };
        let Some(i) = st.renditions[ri].position(seg.seq) else {
            return;
        };
        let size = st.renditions[ri].entries[i].size;
        if ok {
            st.renditions[ri].entries[i].at = Location::Stored;
            st.spool_bytes = st.spool_bytes.saturating_sub(size);
            st.uploaded += 1;
            st.uploaded_bytes += size;
            st.store_error = None;
            if st.lags_ms.len() >= LAG_SAMPLES {
                st.lags_ms.pop_front();
            }
            st.lags_ms
                .push_back(u64::try_from(produced.elapsed().as_millis()).unwrap_or(u64::MAX));
        } else {
            // Back to the front: order is kept as far as retries allow.
            st.renditions[ri].entries[i].at = Location::Spool;
            st.pending.push_front((ri, seg.seq));
            st.store_error = err;
        }
    }

    fn drained(&self) -> bool {
        let st = lock(&self.state);
        st.ended
            && st.pending.is_empty()
            && st.renditions.iter().all(|r| {
                r.entries
                    .iter()
                    .all(|e| matches!(e.at, Location::Stored | Location::Lost))
            })
    }

    async fn run(self: Arc<Self>) {
        let mut uploads = JoinSet::new();
        let mut backoff = Duration::from_millis(250);
        loop {
            while uploads.len() < UPLOAD_CONCURRENCY {
                let Some((rendition, seg, produced)) = self.next_job() else {
                    break;
                };
                let store = Arc::clone(&self.store);
                let path = self.spool_path(&rendition, &seg);
                let key = segment_key(&self.video_id, &rendition, &seg);
                uploads.spawn(async move {
                    let res = store.put_file(&key, &path).await;
                    (rendition, seg, produced, path, res)
                });
            }
            if uploads.is_empty() {
                if self.drained() {
                    break;
                }
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            let Some(joined) = uploads.join_next().await else {
                continue;
            };
            let Ok((rendition, seg, produced, path, res)) = joined else {
                continue;
            };
            match res {
                Ok(()) => {
                    let _ = tokio::fs::remove_file(&path).await;
                    self.complete(&rendition, &seg, produced, true, None);
                    backoff = Duration::from_millis(250);
                }
                Err(e) => {
                    tracing::warn!(error = %e, rendition = %rendition, "uploading a segment failed; retrying");
                    self.complete(&rendition, &seg, produced, false, Some(e.to_string()));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        let renditions = {
            let st = lock(&self.state);
            st.renditions
                .iter()
                .map(|r| {
                    let segs = r
                        .entries
                        .iter()
                        .filter(|e| e.at == Location::Stored)
                        .map(|e| (e.seg, e.size))
                        .collect::<Vec<_>>();
                    (r.meta.clone(), mark_gaps(&r.entries), segs)
                })
                .collect::<Vec<_>>()
        };
        let lost = lock(&self.state).lost;
        let finalise = Finalise {
            db: &self.db,
            store: self.store.as_ref(),
            cfg: &self.cfg,
            video_id: &self.video_id,
            slug: Some(&self.slug),
            dvr_only: self.dvr_only,
        };
        let stored = renditions
            .into_iter()
            .map(|(meta, gaps, segs)| (meta, apply_gaps(segs, &gaps)))
            .collect();
        finalise.run_until_done(stored, lost).await;
        let _ = std::fs::remove_dir_all(&self.spool);
        self.finished.send_replace(true);
    }
}

/// Sequence numbers whose segment follows a dropped one (they start a discontinuity in the
/// VOD, which leaves the dropped ones out).
fn mark_gaps(entries: &[Entry]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut after_lost = false;
    for e in entries {
        if e.at == Location::Lost {
            after_lost = true;
        } else if after_lost {
            out.push(e.seg.seq);
            after_lost = false;
        }
    }
    out
}

fn apply_gaps(mut segs: Vec<(VodSegment, u64)>, gaps: &[u64]) -> Vec<(VodSegment, u64)> {
    for (s, _) in &mut segs {
        if gaps.contains(&s.seq) {
            s.discontinuity = true;
        }
    }
    segs
}

fn render_dvr_playlist(entries: &[Entry], window: Duration, ended: bool) -> String {
    use std::fmt::Write as _;
    if entries.is_empty() {
        return String::new();
    }
    // From the newest back to the window's length.
    let mut first = entries.len() - 1;
    let mut total = 0.0;
    for (i, e) in entries.iter().enumerate().rev() {
        total += e.seg.duration;
        first = i;
        if total >= window.as_secs_f64() {
            break;
        }
    }
    let listed = &entries[first..];
    let target = listed
        .iter()
        .map(|e| e.seg.duration.round() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let disc_seq = entries[..=first]
        .iter()
        .skip(1)
        .filter(|e| e.seg.discontinuity)
        .count();
    let mut s = String::with_capacity(64 + listed.len() * 90);
    // Version 8 for EXT-X-GAP.
    let _ = write!(
        s,
        "#EXTM3U\n#EXT-X-VERSION:8\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{}\n#EXT-X-DISCONTINUITY-SEQUENCE:{disc_seq}\n",
        listed[0].seg.seq
    );
    for (i, e) in listed.iter().enumerate() {
        if i > 0 && e.seg.discontinuity {
            s.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if i == 0 || e.seg.discontinuity {
            let t: DateTime<Utc> = e.pdt.into();
            let _ = writeln!(
                s,
                "#EXT-X-PROGRAM-DATE-TIME:{}",
                t.to_rfc3339_opts(SecondsFormat::Millis, true)
            );
        }
        if e.at == Location::Lost {
            s.push_str("#EXT-X-GAP\n");
        }
        let _ = write!(s, "#EXTINF:{:.3},\nseg-{}.ts\n", e.seg.duration, e.seg.seq);
    }
    if ended {
        s.push_str("#EXT-X-ENDLIST\n");
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Finalising

struct Finalise<'a> {
    db: &'a DatabaseConnection,
    store: &'a dyn ObjectStore,
    cfg: &'a RecordingConfig,
    video_id: &'a str,
    /// For the thumbnail the live stream left at `thumbnails/{slug}.jpg`.
    slug: Option<&'a str>,
    dvr_only: bool,
}

impl Finalise<'_> {
    /// Retries while the store or the database fails: the row stays `processing` meanwhile.
    async fn run_until_done(
        &self,
        renditions: Vec<(RenditionMeta, Vec<(VodSegment, u64)>)>,
        lost: u64,
    ) {
        let mut backoff = Duration::from_secs(1);
        self.set_status("processing").await;
        loop {
            let res = if self.dvr_only {
                delete_video(self.db, self.store, self.video_id)
                    .await
                    .map(|_| ())
            } else {
                self.once(&renditions, lost).await
            };
            match res {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(video = %self.video_id, error = %e, "finalising the recording failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    async fn set_status(&self, status: &str) {
        let _ = Video::update_many()
            .col_expr(video::Column::Status, Expr::value(status))
            .filter(video::Column::Id.eq(self.video_id))
            .filter(video::Column::Status.eq("recording"))
            .exec(self.db)
            .await;
    }

    async fn once(
        &self,
        renditions: &[(RenditionMeta, Vec<(VodSegment, u64)>)],
        lost: u64,
    ) -> anyhow::Result<()> {
        let id = self.video_id;
        let with_video: Vec<_> = renditions.iter().filter(|(_, s)| !s.is_empty()).collect();
        if with_video.is_empty() {
            // Nothing was ever recorded (the broadcast produced no video).
            self.store.delete_prefix(&vod_prefix(id)).await?;
            Video::update_many()
                .col_expr(video::Column::Status, Expr::value("failed"))
                .col_expr(
                    video::Column::Error,
                    Expr::value("the broadcast produced no video to record"),
                )
                .col_expr(video::Column::EndedAt, Expr::value(Utc::now()))
                .filter(video::Column::Id.eq(id))
                .exec(self.db)
                .await?;
            return Ok(());
        }
        let mut size: u64 = 0;
        for (meta, segs) in &with_video {
            let list: Vec<VodSegment> = segs.iter().map(|(s, _)| *s).collect();
            let playlist = render_vod_playlist(&list);
            size += playlist.len() as u64 + segs.iter().map(|(_, n)| n).sum::<u64>();
            self.store
                .put(
                    &format!("vod/{id}/{}/index.m3u8", meta.name),
                    Bytes::from(playlist),
                )
                .await?;
        }
        let master = render_vod_master(
            &with_video
                .iter()
                .map(|(m, _)| VodRendition {
                    name: m.name.clone(),
                    width: m.width,
                    height: m.height,
                    bandwidth: m.bandwidth,
                    codecs: m.codecs.clone(),
                })
                .collect::<Vec<_>>(),
        );
        self.store
            .put(&format!("vod/{id}/master.m3u8"), Bytes::from(master))
            .await?;
        // The duration of the highest rendition (the one the plan lists first).
        let highest: Vec<VodSegment> = with_video[0].1.iter().map(|(s, _)| *s).collect();
        let duration = vod_duration(&highest);
        let has_thumbnail = self.thumbnail(with_video.last().map(|(m, s)| (m, s))).await;
        let has_sprite = match with_video.last() {
            Some((meta, segs)) if duration <= SPRITE_MAX_SECS => {
                self.sprite(meta, segs, duration).await
            }
            _ => false,
        };
        let metas: Vec<&RenditionMeta> = with_video.iter().map(|(m, _)| m).collect();
        Video::update_many()
            .col_expr(video::Column::Status, Expr::value("ready"))
            .col_expr(video::Column::DurationSecs, Expr::value(duration))
            .col_expr(
                video::Column::SizeBytes,
                Expr::value(i64::try_from(size).unwrap_or(i64::MAX)),
            )
            .col_expr(
                video::Column::Renditions,
                Expr::value(serde_json::to_value(&metas)?),
            )
            .col_expr(video::Column::HasThumbnail, Expr::value(has_thumbnail))
            .col_expr(video::Column::HasSprite, Expr::value(has_sprite))
            .col_expr(
                video::Column::MissingSegments,
                Expr::value(i64::try_from(lost).unwrap_or(i64::MAX)),
            )
            .col_expr(video::Column::EndedAt, Expr::value(Utc::now()))
            .filter(video::Column::Id.eq(id))
            .exec(self.db)
            .await?;
        tracing::info!(video = %id, duration, size, lost, "recording finalised");
        Ok(())
    }

    /// The live stream's last thumbnail, else a frame of the lowest rendition's middle segment.
    async fn thumbnail(&self, lowest: Option<(&RenditionMeta, &Vec<(VodSegment, u64)>)>) -> bool {
        let key = format!("vod/{}/thumb.jpg", self.video_id);
        if let Some(slug) = self.slug
            && let Ok(Some(jpeg)) = self.store.get(&format!("thumbnails/{slug}.jpg")).await
            && self.store.put(&key, jpeg).await.is_ok()
        {
            return true;
        }
        let Some((meta, segs)) = lowest else {
            return false;
        };
        let Some((seg, _)) = segs.get(segs.len() / 2) else {
            return false;
        };
        let Ok(Some(ts)) = self
            .store
            .get(&segment_key(self.video_id, &meta.name, seg))
            .await
        else {
            return false;
        };
        match crate::stream::thumbnail::decode_jpeg(self.cfg.ffmpeg_path.clone(), ts).await {
            Ok(jpeg) => self.store.put(&key, jpeg).await.is_ok(),
            Err(e) => {
                tracing::warn!(video = %self.video_id, error = %e, "no thumbnail for the VOD");
                false
            }
        }
    }

    /// Seek-preview tiles from the lowest rendition. A failure is logged, not fatal.
    async fn sprite(
        &self,
        meta: &RenditionMeta,
        segs: &[(VodSegment, u64)],
        duration: f64,
    ) -> bool {
        let dir = self.cfg.spool_dir.join(format!("{}-sprite", self.video_id));
        let res = async {
            tokio::fs::create_dir_all(&dir).await?;
            let mut inputs = Vec::with_capacity(segs.len());
            for (i, (seg, _)) in segs.iter().enumerate() {
                let data = self
                    .store
                    .get(&segment_key(self.video_id, &meta.name, seg))
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("segment {} missing from the store", seg.seq))?;
                let p = dir.join(format!("{i}.ts"));
                tokio::fs::write(&p, data).await?;
                inputs.push(p);
            }
            let every = (duration / SPRITE_MAX_TILES).max(5.0);
            let out = dir.join("out");
            tokio::fs::create_dir_all(&out).await?;
            let sprite =
                streamhall_media::sprite::make_sprite(&self.cfg.ffmpeg_path, &inputs, every, &out)
                    .await?;
            self.store
                .put_file(&format!("vod/{}/sprite.jpg", self.video_id), &sprite.jpg)
                .await?;
            self.store
                .put(
                    &format!("vod/{}/sprite.vtt", self.video_id),
                    Bytes::from(sprite.vtt),
                )
                .await?;
            anyhow::Ok(())
        }
        .await;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        match res {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(video = %self.video_id, error = %e, "making the seek-preview sprite failed");
                false
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// After a crash, and retention

/// Finishes recordings an unclean stop left behind: uploads their spool, then finalises each
/// from what the store holds. With `node` set (other nodes share the database) only that
/// node's recordings: another node's are its own to finish, or the sweep's when it died
/// ([`crate::cluster`]). Runs in the background; returns how many it found.
pub async fn recover(
    db: DatabaseConnection,
    store: Arc<dyn ObjectStore>,
    cfg: RecordingConfig,
    node: Option<&str>,
) -> Result<usize, DbErr> {
    let mut query = Video::find().filter(video::Column::Status.is_in(["recording", "processing"]));
    if let Some(node) = node {
        query = query.filter(video::Column::NodeId.eq(node));
    }
    let orphans = query.all(&db).await?;
    let n = orphans.len();
    if n > 0 {
        tracing::warn!(
            recordings = n,
            "finishing recordings left by an unclean stop"
        );
    }
    finish_orphans(db, store, cfg, orphans);
    Ok(n)
}

/// Uploads what is left of each recording's spool on this node (none, for another node's)
/// and finalises it from the store's listing, in the background, one after the other.
pub(crate) fn finish_orphans(
    db: DatabaseConnection,
    store: Arc<dyn ObjectStore>,
    cfg: RecordingConfig,
    orphans: Vec<video::Model>,
) {
    if orphans.is_empty() {
        return;
    }
    let n = orphans.len();
    tokio::spawn(async move {
        for (i, v) in orphans.into_iter().enumerate() {
            tracing::info!(video = %v.id, progress = %format!("{}/{n}", i + 1), "finishing a recording");
            if let Err(e) = upload_spool(store.as_ref(), &cfg.spool_dir.join(&v.id), &v.id).await {
                tracing::warn!(video = %v.id, error = %e, "uploading a left-over spool failed; its segments are kept for the next start");
                continue;
            }
            let metas: Vec<RenditionMeta> =
                serde_json::from_value(v.renditions.clone()).unwrap_or_default();
            let listing = match store.list(&vod_prefix(&v.id)).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(video = %v.id, error = %e, "listing a recording failed");
                    continue;
                }
            };
            let mut by_rendition: HashMap<String, Vec<(VodSegment, u64)>> = HashMap::new();
            for o in listing {
                let rest = &o.key[vod_prefix(&v.id).len()..];
                if let Some((r, name)) = rest.split_once('/')
                    && let Some(seg) = parse_segment_file_name(name)
                {
                    by_rendition
                        .entry(r.to_owned())
                        .or_default()
                        .push((seg, o.size));
                }
            }
            let mut renditions: Vec<(RenditionMeta, Vec<(VodSegment, u64)>)> = metas
                .into_iter()
                .map(|m| {
                    let segs = by_rendition.remove(&m.name).unwrap_or_default();
                    (m, segs)
                })
                .collect();
            for (name, segs) in by_rendition {
                renditions.push((
                    RenditionMeta {
                        name,
                        width: 0,
                        height: 0,
                        bandwidth: 0,
                        codecs: String::new(),
                    },
                    segs,
                ));
            }
            for (_, segs) in &mut renditions {
                segs.sort_by_key(|(s, _)| s.seq);
            }
            let f = Finalise {
                db: &db,
                store: store.as_ref(),
                cfg: &cfg,
                video_id: &v.id,
                slug: None,
                dvr_only: v.dvr_only,
            };
            f.run_until_done(renditions, u64::try_from(v.missing_segments).unwrap_or(0))
                .await;
            let _ = tokio::fs::remove_dir_all(cfg.spool_dir.join(&v.id)).await;
        }
    });
}

async fn upload_spool(store: &dyn ObjectStore, dir: &Path, video_id: &str) -> anyhow::Result<()> {
    let Ok(mut renditions) = tokio::fs::read_dir(dir).await else {
        return Ok(());
    };
    while let Some(r) = renditions.next_entry().await? {
        let Some(rendition) = r.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let mut files = tokio::fs::read_dir(r.path()).await?;
        while let Some(f) = files.next_entry().await? {
            let Some(seg) = f.file_name().to_str().and_then(parse_segment_file_name) else {
                continue;
            };
            store
                .put_file(&segment_key(video_id, &rendition, &seg), &f.path())
                .await?;
            tokio::fs::remove_file(f.path()).await?;
        }
    }
    Ok(())
}

/// Deletes VODs older than their channel's `vod_retention_days`, at most `batch` per pass,
/// logging progress. Returns how many were deleted.
pub async fn retention_pass(
    db: &DatabaseConnection,
    store: &dyn ObjectStore,
    batch: u64,
) -> anyhow::Result<usize> {
    let channels = streamhall_entities::Channel::find()
        .filter(channel::Column::VodRetentionDays.is_not_null())
        .all(db)
        .await?;
    let mut expired = Vec::new();
    for ch in channels {
        let Some(days) = ch.vod_retention_days else {
            continue;
        };
        let cutoff = Utc::now() - chrono::Duration::days(i64::from(days.max(1)));
        let ids: Vec<String> = Video::find()
            .select_only()
            .column(video::Column::Id)
            .filter(video::Column::ChannelId.eq(ch.id))
            .filter(video::Column::Status.is_in(["ready", "failed"]))
            .filter(video::Column::CreatedAt.lt(cutoff))
            .order_by_asc(video::Column::CreatedAt)
            .limit(batch)
            .into_tuple()
            .all(db)
            .await?;
        expired.extend(ids);
        if expired.len() as u64 >= batch {
            expired.truncate(usize::try_from(batch).unwrap_or(usize::MAX));
            break;
        }
    }
    let n = expired.len();
    for (i, id) in expired.iter().enumerate() {
        let removed = delete_video(db, store, id).await?;
        tracing::info!(video = %id, objects = removed, progress = %format!("{}/{n}", i + 1), "retention: deleted an expired VOD");
    }
    Ok(n)
}

/// Runs [`retention_pass`] every `every`, forever.
pub fn spawn_retention(db: DatabaseConnection, store: Arc<dyn ObjectStore>, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match retention_pass(&db, store.as_ref(), 100).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "retention pass done"),
                Err(e) => tracing::warn!(error = %e, "retention pass failed; next pass retries"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, at: Location, disc: bool) -> Entry {
        Entry {
            seg: VodSegment {
                seq,
                duration: 1.0,
                discontinuity: disc,
            },
            pdt: SystemTime::UNIX_EPOCH + Duration::from_secs(seq),
            size: 10,
            at,
            produced: Instant::now(),
        }
    }

    #[test]
    fn dvr_playlist_lists_the_window_with_gaps_and_discontinuities() {
        let entries = vec![
            entry(10, Location::Stored, false),
            entry(11, Location::Stored, true),
            entry(12, Location::Lost, false),
            entry(13, Location::Spool, false),
            entry(14, Location::Spool, true),
        ];
        let p = render_dvr_playlist(&entries, Duration::from_secs(3), false);
        assert!(p.contains("#EXT-X-MEDIA-SEQUENCE:12\n"), "{p}");
        // The discontinuity before 11 is behind the window.
        assert!(p.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{p}");
        assert!(p.contains("#EXT-X-GAP\n#EXTINF:1.000,\nseg-12.ts\n"), "{p}");
        assert!(
            p.contains("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME"),
            "{p}"
        );
        assert!(!p.contains("ENDLIST"));
        let ended = render_dvr_playlist(&entries, Duration::from_secs(60), true);
        assert!(ended.contains("#EXT-X-MEDIA-SEQUENCE:10\n"));
        assert!(ended.ends_with("#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn a_segment_after_a_dropped_one_starts_a_discontinuity_in_the_vod() {
        let entries = vec![
            entry(1, Location::Stored, false),
            entry(2, Location::Lost, false),
            entry(3, Location::Lost, false),
            entry(4, Location::Stored, false),
            entry(5, Location::Stored, false),
        ];
        assert_eq!(mark_gaps(&entries), vec![4]);
    }
}
