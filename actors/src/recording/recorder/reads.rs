//! Reading a recording while it runs: the DVR playlist of each rendition (the last `dvr` of
//! segments, dropped ones as `EXT-X-GAP`), a DVR segment from the spool or the store, and the
//! tail a live clip is cut from.

use super::*;

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

impl Recorder {
    /// The DVR playlist of one rendition: the last `dvr` of segments, dropped ones as
    /// `EXT-X-GAP`, URIs `seg-{seq}.ts` beside the live playlist.
    pub(super) fn render_dvr(&self, st: &mut State, ri: usize) {
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
}

pub(super) fn render_dvr_playlist(entries: &[Entry], window: Duration, ended: bool) -> String {
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
