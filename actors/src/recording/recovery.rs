//! After a crash: recordings left behind finished from the spool and the store; and retention.

use super::finalise::Finalise;
use super::*;

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
