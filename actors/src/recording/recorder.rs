//! The [`Recorder`] of one broadcast: spool, uploads, the DVR index and playlists.

use super::finalise::Finalise;
use super::*;

/// Segments uploaded at once per recording.
const UPLOAD_CONCURRENCY: usize = 4;
/// Longest wait between retries while the store fails.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Upload lags kept for the percentiles in health.
const LAG_SAMPLES: usize = 512;

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
