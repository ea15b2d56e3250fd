//! Finalising: a recording's segments into a VOD (playlists, thumbnail, sprite, the row).

use super::*;

/// Videos longer than this get no seek-preview sprite (it would download the whole lowest
/// rendition once more).
const SPRITE_MAX_SECS: f64 = 3.0 * 3600.0;
/// At most this many sprite tiles; longer videos get a wider interval.
const SPRITE_MAX_TILES: f64 = 400.0;

// ---------------------------------------------------------------------------------------------
// Finalising

pub(super) struct Finalise<'a> {
    pub(super) db: &'a DatabaseConnection,
    pub(super) store: &'a dyn ObjectStore,
    pub(super) cfg: &'a RecordingConfig,
    pub(super) video_id: &'a str,
    /// For the thumbnail the live stream left at `thumbnails/{slug}.jpg`.
    pub(super) slug: Option<&'a str>,
    pub(super) dvr_only: bool,
}

impl Finalise<'_> {
    /// Retries while the store or the database fails: the row stays `processing` meanwhile.
    pub(super) async fn run_until_done(
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
        match FfmpegThumbnailer::new(&self.cfg.ffmpeg_path).jpeg(ts).await {
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
