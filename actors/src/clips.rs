//! Clips: the last N seconds of a live broadcast, or a range of a VOD, cut by stream copy at
//! segment boundaries (every segment starts with a keyframe) into `clips/{id}/clip.mp4`, an HLS
//! copy and a thumbnail.
//!
//! A request inserts a `processing` row and queues a job; at most [`CONCURRENT`] jobs run and
//! [`MAX_QUEUED`] wait, beyond which requests are refused as busy. A job reads its segments
//! (from the recording's spool or the store), runs ffmpeg through
//! [`streamhall_media::clip::cut_clip`], uploads, and marks the row `ready` with the measured
//! duration, or `failed` with the reason. Rows a restart interrupted are marked failed at startup.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};
use streamhall_entities::{Clip, channel, clip, video};
use streamhall_media::hls::parse_media_playlist;
use streamhall_media::objects::ObjectStore;
use streamhall_media::vod::parse_segment_file_name;
use tokio::sync::Semaphore;

use crate::HlsDirectory;
use crate::recording::{RecordingConfig, RenditionMeta, SegmentSource, new_media_id};

/// Jobs cutting at once (each is one ffmpeg stream copy: cheap, mostly I/O).
pub const CONCURRENT: usize = 2;
/// Jobs waiting or running before new requests are refused.
pub const MAX_QUEUED: usize = 16;

/// Why a clip was not started.
#[derive(Debug, thiserror::Error)]
pub enum ClipRefused {
    #[error("the channel is not live")]
    NotLive,
    #[error("{0}")]
    TooShort(String),
    #[error("too many clips are being cut right now; try again in a few seconds")]
    Busy,
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

struct Job {
    clip_id: String,
    inputs: Vec<SegmentSource>,
    /// Seconds into the concatenated inputs where the clip starts.
    start: f64,
    duration: f64,
}

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct ClipJobs {
    db: DatabaseConnection,
    store: Arc<dyn ObjectStore>,
    hls: HlsDirectory,
    cfg: RecordingConfig,
    permits: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
}

impl ClipJobs {
    pub fn new(
        db: DatabaseConnection,
        store: Arc<dyn ObjectStore>,
        hls: HlsDirectory,
        cfg: RecordingConfig,
    ) -> Self {
        Self {
            db,
            store,
            hls,
            cfg,
            permits: Arc::new(Semaphore::new(CONCURRENT)),
            queued: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Jobs waiting or running.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// The last `seconds` of the channel's live broadcast (its DVR window).
    pub async fn clip_live(
        &self,
        channel: &channel::Model,
        author_id: i64,
        seconds: u32,
        title: String,
    ) -> Result<clip::Model, ClipRefused> {
        let live = self.hls.live_info(&channel.slug).filter(|i| !i.ended);
        let Some(rec) = live.and(self.hls.recorder(&channel.slug)) else {
            return Err(ClipRefused::NotLive);
        };
        let want = f64::from(seconds);
        let (video_id, tail) = rec.tail(want);
        let have: f64 = tail.iter().map(|t| t.duration).sum();
        // A segment's worth of slack: the cut is at segment boundaries.
        if have + 1.5 < want {
            return Err(ClipRefused::TooShort(format!(
                "only {have:.0} s of this broadcast can be clipped so far"
            )));
        }
        let start_secs = tail.first().map_or(0.0, |t| t.offset);
        let inputs = tail.into_iter().map(|t| t.source).collect();
        let row = self
            .insert(
                channel.id,
                Some(video_id),
                author_id,
                title,
                start_secs,
                have,
            )
            .await?;
        self.spawn(Job {
            clip_id: row.id.clone(),
            inputs,
            start: 0.0,
            duration: have,
        });
        Ok(row)
    }

    /// `start..end` seconds of a ready VOD.
    pub async fn clip_vod(
        &self,
        v: &video::Model,
        author_id: i64,
        start: f64,
        end: f64,
        title: String,
    ) -> Result<clip::Model, ClipRefused> {
        if v.status != "ready" {
            return Err(ClipRefused::Invalid(
                "the video is still being processed".into(),
            ));
        }
        if !(start >= 0.0 && end > start && end <= v.duration_secs + 0.5) {
            return Err(ClipRefused::Invalid(format!(
                "the range must lie within the video (0 to {:.1} s)",
                v.duration_secs
            )));
        }
        let metas: Vec<RenditionMeta> =
            serde_json::from_value(v.renditions.clone()).unwrap_or_default();
        let Some(top) = metas.first() else {
            return Err(ClipRefused::Invalid("the video has no renditions".into()));
        };
        let key = format!("vod/{}/{}/index.m3u8", v.id, top.name);
        let playlist = match self.store.get(&key).await {
            Ok(Some(p)) => p,
            Ok(None) => return Err(ClipRefused::Invalid("the video has no playlist".into())),
            Err(e) => {
                tracing::warn!(error = %e, "reading a VOD playlist for a clip failed");
                return Err(ClipRefused::Busy);
            }
        };
        let text = String::from_utf8_lossy(&playlist);
        let pl = parse_media_playlist(&text).map_err(|e| {
            ClipRefused::Invalid(format!("the video's playlist is unreadable: {e}"))
        })?;
        let mut t = 0.0;
        let mut first_start = None;
        let mut inputs = Vec::new();
        for e in &pl.entries {
            let (s, d) = (t, e.duration);
            t += d;
            if s + d <= start || s >= end {
                continue;
            }
            if parse_segment_file_name(&e.uri).is_none() {
                continue;
            }
            first_start.get_or_insert(s);
            inputs.push(SegmentSource::Store(format!(
                "vod/{}/{}/{}",
                v.id, top.name, e.uri
            )));
        }
        let Some(first) = first_start else {
            return Err(ClipRefused::TooShort("no video in that range".into()));
        };
        let row = self
            .insert(
                v.channel_id,
                Some(v.id.clone()),
                author_id,
                title,
                start,
                end - start,
            )
            .await?;
        self.spawn(Job {
            clip_id: row.id.clone(),
            inputs,
            start: start - first,
            duration: end - start,
        });
        Ok(row)
    }

    async fn insert(
        &self,
        channel_id: i64,
        video_id: Option<String>,
        author_id: i64,
        title: String,
        start: f64,
        duration: f64,
    ) -> Result<clip::Model, ClipRefused> {
        // Claim a queue place first, so a burst cannot queue more than MAX_QUEUED.
        if self.queued.fetch_add(1, Ordering::SeqCst) >= MAX_QUEUED {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(ClipRefused::Busy);
        }
        let res = clip::ActiveModel {
            id: Set(new_media_id()),
            channel_id: Set(channel_id),
            video_id: Set(video_id),
            author_id: Set(author_id),
            title: Set(title.chars().take(140).collect()),
            start_secs: Set(start),
            duration_secs: Set(duration),
            status: Set("processing".into()),
            error: Set(None),
            size_bytes: Set(0),
            view_count: Set(0),
            created_at: Set(Utc::now()),
            taken_down_at: Set(None),
            takedown_notice: Set(None),
            takedown_ref: Set(None),
        }
        .insert(&self.db)
        .await;
        if res.is_err() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(res?)
    }

    fn spawn(&self, job: Job) {
        let me = self.clone();
        tokio::spawn(async move {
            let id = job.clip_id.clone();
            let res = match me.permits.acquire().await {
                Ok(_permit) => me.run(&job).await,
                Err(_) => Err(anyhow::anyhow!("the clip worker is shutting down")),
            };
            me.queued.fetch_sub(1, Ordering::SeqCst);
            let update = match res {
                Ok((duration, size)) => {
                    tracing::info!(clip = %id, duration, size, "clip ready");
                    Clip::update_many()
                        .col_expr(clip::Column::Status, Expr::value("ready"))
                        .col_expr(clip::Column::DurationSecs, Expr::value(duration))
                        .col_expr(
                            clip::Column::SizeBytes,
                            Expr::value(i64::try_from(size).unwrap_or(i64::MAX)),
                        )
                }
                Err(e) => {
                    tracing::warn!(clip = %id, error = %e, "clip failed");
                    let _ = me.store.delete_prefix(&format!("clips/{id}/")).await;
                    let msg: String = format!("{e:#}").chars().take(500).collect();
                    Clip::update_many()
                        .col_expr(clip::Column::Status, Expr::value("failed"))
                        .col_expr(clip::Column::Error, Expr::value(msg))
                }
            };
            if let Err(e) = update
                .filter(clip::Column::Id.eq(id.as_str()))
                .exec(&me.db)
                .await
            {
                tracing::error!(clip = %id, error = %e, "recording the clip's outcome failed");
            }
        });
    }

    /// Returns (measured duration, bytes stored).
    async fn run(&self, job: &Job) -> anyhow::Result<(f64, u64)> {
        let dir = self.cfg.spool_dir.join(format!("clip-{}", job.clip_id));
        let res = self.cut_and_upload(job, &dir).await;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        res
    }

    async fn cut_and_upload(&self, job: &Job, dir: &std::path::Path) -> anyhow::Result<(f64, u64)> {
        let input_dir = dir.join("in");
        let out_dir = dir.join("out");
        tokio::fs::create_dir_all(&input_dir).await?;
        tokio::fs::create_dir_all(&out_dir).await?;
        let mut inputs: Vec<PathBuf> = Vec::with_capacity(job.inputs.len());
        for (i, src) in job.inputs.iter().enumerate() {
            let data: Bytes = src
                .read(self.store.as_ref())
                .await?
                .ok_or_else(|| anyhow::anyhow!("a segment of the clip is no longer available"))?;
            let p = input_dir.join(format!("{i}.ts"));
            tokio::fs::write(&p, data).await?;
            inputs.push(p);
        }
        let cut = streamhall_media::clip::cut_clip(
            &self.cfg.ffmpeg_path,
            &inputs,
            job.start,
            job.duration,
            &out_dir,
        )
        .await?;
        let prefix = format!("clips/{}/", job.clip_id);
        let mut size = 0;
        for seg in &cut.hls_segments {
            let Some(name) = seg.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            self.store.put_file(&format!("{prefix}{name}"), seg).await?;
            size += tokio::fs::metadata(seg).await.map(|m| m.len()).unwrap_or(0);
        }
        self.store
            .put_file(&format!("{prefix}index.m3u8"), &cut.hls_playlist)
            .await?;
        self.store
            .put_file(&format!("{prefix}thumb.jpg"), &cut.thumb)
            .await?;
        self.store
            .put_file(&format!("{prefix}clip.mp4"), &cut.mp4)
            .await?;
        size += tokio::fs::metadata(&cut.mp4)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        Ok((cut.duration, size))
    }
}

/// Removes the clip's objects, then its row. Returns the objects removed.
pub async fn delete_clip(
    db: &DatabaseConnection,
    store: &dyn ObjectStore,
    clip_id: &str,
) -> anyhow::Result<u64> {
    let removed = store.delete_prefix(&format!("clips/{clip_id}/")).await?;
    Clip::delete_by_id(clip_id.to_owned()).exec(db).await?;
    Ok(removed)
}

/// At startup: clips a stop interrupted are failed (their job is gone). With other nodes
/// sharing the database (`shared`), only clips started more than [`STALE_CLIP`] ago: a
/// younger one may be another node's job still running (a cut takes seconds).
pub async fn fail_interrupted(db: &DatabaseConnection, shared: bool) -> Result<u64, DbErr> {
    let mut update = Clip::update_many()
        .col_expr(clip::Column::Status, Expr::value("failed"))
        .col_expr(
            clip::Column::Error,
            Expr::value("the server restarted while cutting this clip; cut it again"),
        )
        .filter(clip::Column::Status.eq("processing"));
    if shared {
        update = update.filter(clip::Column::CreatedAt.lt(chrono::Utc::now() - STALE_CLIP));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// A clip job still `processing` after this long has lost its node.
pub const STALE_CLIP: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
