//! The [`Recorder`] of one broadcast: spool, uploads, the DVR index and playlists.
//!
//! This file holds the recording's index (every segment of every rendition and where it is:
//! spool, uploading, stored or lost), taking segments in (spooling them, evicting from a full
//! spool) and its health; `upload` is the task that moves spooled segments to the store and
//! finalises the VOD at the end, `reads` serves the DVR window and a live clip's tail.

mod reads;
#[cfg(test)]
mod tests;
mod upload;

pub use reads::{SegmentSource, TailSegment};

use super::*;

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
}
