//! Picks up the segments ffmpeg has finished in its working directory.
//!
//! ffmpeg (`temp_file`) renames a segment into place before listing it in its playlist, so
//! "listed and present" means finished. Each one is read once and deleted; the watcher
//! remembers the next ffmpeg sequence number per rendition. Poll it (e.g. every 50 ms) from
//! the task that owns the [`LiveWindow`](super::LiveWindow). It does small blocking file I/O
//! (a playlist and a segment of a few hundred KB per call), fine on a tokio worker at that
//! rate; use `spawn_blocking` if the directory is on slow storage.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::m3u8::parse_media_playlist;
use crate::transcode::{PlannedRendition, playlist_path, rendition_dir};

/// A segment ffmpeg finished, already removed from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedSegment {
    pub rendition: String,
    /// From ffmpeg's `#EXTINF`.
    pub duration: f64,
    pub data: Bytes,
}

struct Watched {
    name: String,
    dir: PathBuf,
    playlist: PathBuf,
    /// ffmpeg sequence number of the next segment to take.
    next: u64,
}

/// Watches `out_dir/{rendition}/` for every rendition of the plan.
pub struct OutputWatcher {
    out_dir: PathBuf,
    renditions: Vec<Watched>,
    lost: u64,
}

impl OutputWatcher {
    /// Creates (and empties) one directory per rendition under `out_dir`.
    pub fn new(out_dir: &Path, plan: &[PlannedRendition]) -> io::Result<Self> {
        let mut w = Self {
            out_dir: out_dir.to_path_buf(),
            renditions: Vec::new(),
            lost: 0,
        };
        w.restart(plan)?;
        Ok(w)
    }

    /// Call before every ffmpeg start into this directory (the first is done by `new`): takes
    /// the new plan, empties the rendition directories and starts counting from ffmpeg's 0.
    /// Collect the previous run's last segments with [`poll`](Self::poll) first.
    pub fn restart(&mut self, plan: &[PlannedRendition]) -> io::Result<()> {
        for r in &self.renditions {
            remove_dir_if_exists(&r.dir)?;
        }
        self.renditions.clear();
        for p in plan {
            let dir = rendition_dir(&self.out_dir, &p.name);
            remove_dir_if_exists(&dir)?;
            std::fs::create_dir_all(&dir)?;
            self.renditions.push(Watched {
                name: p.name.clone(),
                playlist: playlist_path(&self.out_dir, &p.name),
                dir,
                next: 0,
            });
        }
        Ok(())
    }

    /// Takes every newly finished segment, per rendition in playlist order (renditions in plan
    /// order). A playlist that does not exist yet or is unreadable mid-write is retried on the
    /// next poll.
    pub fn poll(&mut self) -> io::Result<Vec<FinishedSegment>> {
        let mut out = Vec::new();
        for r in &mut self.renditions {
            self.lost += take_finished(r, &mut out)?;
        }
        Ok(out)
    }

    /// Segments that left ffmpeg's playlist before they were taken (the poller fell behind
    /// by more than ffmpeg's list size); their files were deleted.
    pub fn lost_segments(&self) -> u64 {
        self.lost
    }

    /// Removes the rendition directories (the stream is over).
    pub fn remove_all(self) -> io::Result<()> {
        for r in &self.renditions {
            remove_dir_if_exists(&r.dir)?;
        }
        Ok(())
    }
}

/// Returns how many segments were lost.
fn take_finished(r: &mut Watched, out: &mut Vec<FinishedSegment>) -> io::Result<u64> {
    let text = match std::fs::read_to_string(&r.playlist) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let pl = match parse_media_playlist(&text) {
        Ok(pl) => pl,
        Err(e) => {
            tracing::debug!(rendition = %r.name, "ffmpeg playlist not readable yet: {e}");
            return Ok(0);
        }
    };
    let first = pl.media_sequence;
    let end = first + pl.entries.len() as u64;
    // Everything taken is deleted, so a listed file at or behind `next - 1` that exists again
    // means a new ffmpeg run started over without `restart`: follow it.
    let restarted = end < r.next
        || (first..r.next)
            .zip(&pl.entries)
            .any(|(_, e)| is_plain_file_name(&e.uri) && r.dir.join(&e.uri).exists());
    if restarted {
        tracing::warn!(rendition = %r.name, "ffmpeg playlist started over");
        r.next = first;
    }
    let mut lost = 0;
    while r.next < first {
        // Dropped out of ffmpeg's list before we saw it; don't leave the file behind.
        let path = r.dir.join(format!("seg-{}.ts", r.next));
        if remove_file_if_exists(&path)? {
            tracing::warn!(rendition = %r.name, seq = r.next, "segment lost: watcher too slow");
            lost += 1;
        }
        r.next += 1;
    }
    for (seq, entry) in (first..).zip(&pl.entries) {
        if seq < r.next {
            continue;
        }
        if !is_plain_file_name(&entry.uri) {
            tracing::warn!(rendition = %r.name, uri = %entry.uri, "unexpected segment URI skipped");
            r.next = seq + 1;
            continue;
        }
        let path = r.dir.join(&entry.uri);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            // Listed but not there (yet): try again on the next poll, in order.
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(e),
        };
        remove_file_if_exists(&path)?;
        out.push(FinishedSegment {
            rendition: r.name.clone(),
            duration: entry.duration,
            data: Bytes::from(data),
        });
        r.next = seq + 1;
    }
    Ok(lost)
}

fn is_plain_file_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\'])
}

fn remove_file_if_exists(path: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn remove_dir_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::transcode::{LadderConfig, SourceInfo, plan_ladder};
    use std::fs;

    fn plan() -> Vec<PlannedRendition> {
        let cfg = LadderConfig {
            renditions: vec![crate::transcode::Rendition::new("360p", 360, 800)],
            ..LadderConfig::default()
        };
        let src = SourceInfo {
            width: 1280,
            height: 720,
            fps: Some(30.0),
            video_bitrate_kbps: None,
            audio: true,
            audio_aac: true,
            video_codec: None,
        };
        plan_ladder(&cfg, &src)
    }

    /// Writes what ffmpeg would: the last `fresh` segment files, then the playlist listing
    /// them after the older ones.
    fn ffmpeg_writes(dir: &Path, rendition: &str, first: u64, durations: &[f64], fresh: usize) {
        let d = dir.join(rendition);
        let mut pl = format!("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-MEDIA-SEQUENCE:{first}\n");
        for (i, dur) in durations.iter().enumerate() {
            let seq = first + i as u64;
            let name = format!("seg-{seq}.ts");
            if i + fresh >= durations.len() {
                fs::write(d.join(&name), format!("{rendition}:{seq}")).unwrap();
            }
            pl.push_str(&format!("#EXTINF:{dur:.6},\n{name}\n"));
        }
        fs::write(d.join("index.m3u8"), pl).unwrap();
    }

    fn got(segs: &[FinishedSegment]) -> Vec<(String, f64, String)> {
        segs.iter()
            .map(|s| {
                (
                    s.rendition.clone(),
                    s.duration,
                    String::from_utf8(s.data.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    fn t(r: &str, d: f64, data: &str) -> (String, f64, String) {
        (r.to_owned(), d, data.to_owned())
    }

    #[test]
    fn takes_each_finished_segment_once_and_deletes_it() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("360p")).unwrap();
        fs::write(tmp.path().join("360p/stale.ts"), "old run").unwrap();
        let mut w = OutputWatcher::new(tmp.path(), &plan()).unwrap();
        assert!(
            !tmp.path().join("360p/stale.ts").exists(),
            "new() empties the directories"
        );
        assert!(w.poll().unwrap().is_empty(), "no playlists yet");
        ffmpeg_writes(tmp.path(), "360p", 0, &[1.0, 1.0], 2);
        ffmpeg_writes(tmp.path(), "source", 0, &[8.0], 1);
        assert_eq!(
            got(&w.poll().unwrap()),
            [
                t("source", 8.0, "source:0"),
                t("360p", 1.0, "360p:0"),
                t("360p", 1.0, "360p:1")
            ]
        );
        assert!(!tmp.path().join("360p/seg-0.ts").exists());
        assert!(w.poll().unwrap().is_empty(), "nothing twice");
        // ffmpeg slides its window on.
        fs::write(tmp.path().join("360p/seg-2.ts.tmp"), "in progress").unwrap();
        ffmpeg_writes(tmp.path(), "360p", 1, &[1.0], 0);
        assert!(w.poll().unwrap().is_empty());
        ffmpeg_writes(tmp.path(), "360p", 1, &[1.0, 0.5], 1);
        assert_eq!(got(&w.poll().unwrap()), [t("360p", 0.5, "360p:2")]);
        assert_eq!(w.lost_segments(), 0);
        w.remove_all().unwrap();
        assert!(!tmp.path().join("360p").exists());
    }

    #[test]
    fn listed_but_missing_waits_then_is_skipped_when_it_slides_out() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = OutputWatcher::new(tmp.path(), &plan()).unwrap();
        ffmpeg_writes(tmp.path(), "360p", 0, &[1.0, 1.0], 2);
        fs::remove_file(tmp.path().join("360p/seg-0.ts")).unwrap();
        assert!(
            w.poll().unwrap().is_empty(),
            "order is kept: seg-1 waits for seg-0"
        );
        ffmpeg_writes(tmp.path(), "360p", 1, &[1.0, 1.0], 1);
        assert_eq!(
            got(&w.poll().unwrap()),
            [t("360p", 1.0, "360p:1"), t("360p", 1.0, "360p:2")]
        );
    }

    #[test]
    fn a_slow_poller_loses_segments_but_not_disk_space() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = OutputWatcher::new(tmp.path(), &plan()).unwrap();
        ffmpeg_writes(tmp.path(), "360p", 0, &[1.0, 1.0], 2);
        ffmpeg_writes(tmp.path(), "360p", 2, &[1.0, 1.0], 2);
        assert_eq!(
            got(&w.poll().unwrap()),
            [t("360p", 1.0, "360p:2"), t("360p", 1.0, "360p:3")]
        );
        assert_eq!(w.lost_segments(), 2);
        assert_eq!(
            fs::read_dir(tmp.path().join("360p")).unwrap().count(),
            1,
            "only index.m3u8"
        );
    }

    #[test]
    fn follows_ffmpeg_restarts() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = OutputWatcher::new(tmp.path(), &plan()).unwrap();
        ffmpeg_writes(tmp.path(), "360p", 0, &[1.0, 1.0, 1.0], 3);
        assert_eq!(w.poll().unwrap().len(), 3);
        // Explicit restart: directories emptied, counting from 0 again.
        w.restart(&plan()).unwrap();
        assert!(!tmp.path().join("360p/index.m3u8").exists());
        ffmpeg_writes(tmp.path(), "360p", 0, &[1.0], 1);
        assert_eq!(got(&w.poll().unwrap()), [t("360p", 1.0, "360p:0")]);
        // A restart nobody announced, detected by a file we already took being back.
        ffmpeg_writes(tmp.path(), "360p", 0, &[0.7], 1);
        assert_eq!(got(&w.poll().unwrap()), [t("360p", 0.7, "360p:0")]);
        ffmpeg_writes(tmp.path(), "360p", 0, &[0.7, 1.0, 1.0], 2);
        assert_eq!(w.poll().unwrap().len(), 2);
        // ... or by a playlist that ends behind us.
        fs::remove_file(tmp.path().join("360p/index.m3u8")).unwrap();
        ffmpeg_writes(tmp.path(), "360p", 0, &[0.5], 0);
        fs::write(
            tmp.path().join("360p/index.m3u8"),
            "#EXTM3U\n#EXTINF:0.5,\nseg-0.ts\n",
        )
        .unwrap();
        fs::write(tmp.path().join("360p/seg-0.ts"), "360p:0").unwrap();
        assert_eq!(got(&w.poll().unwrap()), [t("360p", 0.5, "360p:0")]);
    }
}
