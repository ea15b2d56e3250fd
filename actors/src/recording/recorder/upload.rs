//! The upload task of a recording: spooled segments to the store, a few at a time, retried
//! with backoff while the store fails; at the end the VOD is finalised with what was stored
//! (a segment after a dropped one starts a discontinuity).

use super::*;
use crate::recording::finalise::Finalise;

/// Segments uploaded at once per recording.
const UPLOAD_CONCURRENCY: usize = 4;
/// Longest wait between retries while the store fails.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Upload lags kept for the percentiles in health.
const LAG_SAMPLES: usize = 512;

impl Recorder {
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

    pub(super) async fn run(self: Arc<Self>) {
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
pub(super) fn mark_gaps(entries: &[Entry]) -> Vec<u64> {
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
