//! Seek-preview thumbnails of a recording: one JPEG sprite sheet and the WebVTT index players
//! read to show the tile under the pointer (`sprite.jpg#xywh=x,y,w,h` cues).
//!
//! [`make_sprite`] runs ffmpeg twice over the inputs joined with `concatf:` (as
//! [`crate::clip`] does; discontinuities are re-based by ffmpeg): once copying the video to
//! nowhere to learn its length, then decoding keyframes only (`-skip_frame nokey`) through
//! `fps`, `scale`, `pad` and `tile` into one image. Which rendition to decode (the lowest is
//! cheapest) is the caller's choice.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::clip::{ClipError, Deadline, Scratch, concat_url, prepare, run_text, run_tool};
use crate::transcode::ProgressParser;

/// Size of one tile in pixels (16:9; other shapes are letterboxed).
pub const SPRITE_TILE_WIDTH: u32 = 160;
pub const SPRITE_TILE_HEIGHT: u32 = 90;
/// Tiles per row of the sheet.
pub const SPRITE_COLUMNS: u32 = 10;
/// Most tiles in one sheet; longer recordings get a longer interval instead.
pub const MAX_SPRITE_TILES: u32 = 400;
/// The longest one sprite job (both ffmpeg runs) may take.
pub const SPRITE_TIMEOUT: Duration = Duration::from_secs(600);

/// The sheet's name in `out_dir` and in the cues.
const SPRITE_JPG: &str = "sprite.jpg";
const INPUT_LIST: &str = "sprite-inputs.txt";

/// A sprite sheet and its index.
#[derive(Debug, Clone, PartialEq)]
pub struct Sprite {
    /// `out_dir/sprite.jpg`: `tiles` tiles, [`SPRITE_COLUMNS`] per row, row by row.
    pub jpg: PathBuf,
    /// The WebVTT index: one cue per tile, covering the recording from 0 to its end.
    pub vtt: String,
    /// Seconds between tiles: the `every_secs` asked for, or more for a long recording.
    pub interval: f64,
    pub tiles: u32,
}

/// Makes a sprite sheet of `inputs` (MPEG-TS segment files in play order), one tile per
/// `every_secs` seconds (raised so there are at most [`MAX_SPRITE_TILES`]), in `out_dir`.
pub async fn make_sprite(
    ffmpeg: &Path,
    inputs: &[PathBuf],
    every_secs: f64,
    out_dir: &Path,
) -> Result<Sprite, ClipError> {
    if !every_secs.is_finite() || every_secs < 0.001 {
        return Err(ClipError::Range(format!(
            "sprite interval {every_secs} s is not >= 0.001"
        )));
    }
    let deadline = Deadline::after(SPRITE_TIMEOUT);
    let list = prepare(inputs, out_dir, INPUT_LIST).await?;
    let _scratch = Scratch(vec![list.clone()]);

    let progress = run_text(ffmpeg, &measure_argv(&list), out_dir, &deadline).await?;
    let length_ms = measured_ms(&progress)?;
    let layout = Layout::plan(length_ms, every_secs);
    run_tool(ffmpeg, &sheet_argv(&list, &layout), out_dir, &deadline).await?;
    let jpg = out_dir.join(SPRITE_JPG);
    if !tokio::fs::try_exists(&jpg).await? {
        return Err(ClipError::Output("ffmpeg wrote no sprite.jpg".into()));
    }
    Ok(Sprite {
        jpg,
        vtt: layout.vtt(length_ms),
        interval: layout.interval_ms as f64 / 1000.0,
        tiles: layout.tiles,
    })
}

/// How many tiles, how far apart, in what grid.
#[derive(Debug, PartialEq)]
struct Layout {
    interval_ms: u64,
    tiles: u32,
    columns: u32,
    rows: u32,
}

impl Layout {
    fn plan(length_ms: u64, every_secs: f64) -> Self {
        let asked = (every_secs * 1000.0).round().max(1.0) as u64;
        let interval_ms = asked.max(length_ms.div_ceil(u64::from(MAX_SPRITE_TILES)));
        let tiles = length_ms
            .div_ceil(interval_ms)
            .clamp(1, u64::from(MAX_SPRITE_TILES)) as u32;
        let columns = tiles.min(SPRITE_COLUMNS);
        Self {
            interval_ms,
            tiles,
            columns,
            rows: tiles.div_ceil(columns),
        }
    }

    /// One cue per tile: tile `i` covers `[i * interval, (i + 1) * interval)`, the last one
    /// up to the end.
    fn vtt(&self, length_ms: u64) -> String {
        let mut v = String::with_capacity(16 + 64 * self.tiles as usize);
        v.push_str("WEBVTT\n");
        for i in 0..self.tiles {
            let start = u64::from(i) * self.interval_ms;
            let end = if i + 1 == self.tiles {
                length_ms.max(start + 1)
            } else {
                start + self.interval_ms
            };
            let x = (i % self.columns) * SPRITE_TILE_WIDTH;
            let y = (i / self.columns) * SPRITE_TILE_HEIGHT;
            let _ = write!(
                v,
                "\n{} --> {}\n{SPRITE_JPG}#xywh={x},{y},{SPRITE_TILE_WIDTH},{SPRITE_TILE_HEIGHT}\n",
                vtt_time(start),
                vtt_time(end)
            );
        }
        v
    }
}

/// `HH:MM:SS.mmm`.
fn vtt_time(ms: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// The video's length from the measuring run's `-progress` output.
fn measured_ms(progress: &str) -> Result<u64, ClipError> {
    let mut parser = ProgressParser::default();
    let last = progress.lines().filter_map(|l| parser.feed_line(l)).last();
    last.and_then(|p| p.out_time)
        .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX))
        .ok_or_else(|| ClipError::Output("ffmpeg reported no video length".into()))
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// Copies the first video stream to the null muxer: its `-progress` ends with the length.
fn measure_argv(list: &Path) -> Vec<OsString> {
    let mut a = os(&["-hide_banner", "-nostdin", "-loglevel", "error", "-nostats"]);
    a.extend(os(&["-progress", "pipe:1", "-f", "mpegts", "-i"]));
    a.push(concat_url(list));
    a.extend(os(&["-map", "0:v:0", "-c", "copy", "-f", "null", "-"]));
    a
}

/// Decodes keyframes only; `fps` picks the frame at each tile's start (repeating one when
/// keyframes are further apart than the interval) and `tile` lays them out.
fn sheet_argv(list: &Path, layout: &Layout) -> Vec<OsString> {
    let (w, h) = (SPRITE_TILE_WIDTH, SPRITE_TILE_HEIGHT);
    let filter = format!(
        "fps=fps=1000/{}:eof_action=pass,\
         scale={w}:{h}:force_original_aspect_ratio=decrease,\
         pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,tile={}x{}",
        layout.interval_ms, layout.columns, layout.rows
    );
    let mut a = os(&["-hide_banner", "-nostdin", "-loglevel", "error"]);
    a.extend(os(&["-skip_frame", "nokey", "-f", "mpegts", "-i"]));
    a.push(concat_url(list));
    a.extend(os(&[
        "-map",
        "0:v:0",
        "-vf",
        &filter,
        "-frames:v",
        "1",
        "-q:v",
        "5",
        "-update",
        "1",
        "-y",
        SPRITE_JPG,
    ]));
    a
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn layout_keeps_the_interval_until_the_cap() {
        assert_eq!(
            Layout::plan(25_000, 2.0),
            Layout {
                interval_ms: 2000,
                tiles: 13,
                columns: 10,
                rows: 2
            }
        );
        assert_eq!(
            Layout::plan(3_000, 5.0),
            Layout {
                interval_ms: 5000,
                tiles: 1,
                columns: 1,
                rows: 1
            }
        );
        // Three hours every 2 s would be 5400 tiles: 400 every 27 s.
        let long = Layout::plan(3 * 3_600_000, 2.0);
        assert_eq!((long.interval_ms, long.tiles, long.rows), (27_000, 400, 40));
        let odd = Layout::plan(3_600_001, 1.0);
        assert!(
            odd.tiles <= MAX_SPRITE_TILES && u64::from(odd.tiles) * odd.interval_ms >= 3_600_001
        );
        assert_eq!(Layout::plan(0, 1.0).tiles, 1);
    }

    #[test]
    fn vtt_cues_cover_the_length() {
        let layout = Layout::plan(25_000, 2.0);
        let vtt = layout.vtt(24_967);
        assert!(
            vtt.starts_with(
                "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nsprite.jpg#xywh=0,0,160,90\n\n\
             00:00:02.000 --> 00:00:04.000\nsprite.jpg#xywh=160,0,160,90\n"
            ),
            "{vtt}"
        );
        assert!(vtt.contains("00:00:18.000 --> 00:00:20.000\nsprite.jpg#xywh=1440,0,160,90\n"));
        assert!(vtt.contains("00:00:20.000 --> 00:00:22.000\nsprite.jpg#xywh=0,90,160,90\n"));
        assert!(vtt.ends_with("00:00:24.000 --> 00:00:24.967\nsprite.jpg#xywh=320,90,160,90\n"));
        assert_eq!(vtt.matches(" --> ").count(), 13);
        assert_eq!(vtt_time(3 * 3_600_000 + 61_001), "03:01:01.001");
    }

    #[test]
    fn argv() {
        let layout = Layout::plan(25_000, 2.0);
        let list = Path::new("/vod/v1/sprite-inputs.txt");
        let join = |a: Vec<OsString>| {
            a.iter()
                .map(|s| s.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            join(measure_argv(list)),
            "-hide_banner -nostdin -loglevel error -nostats -progress pipe:1 -f mpegts \
             -i concatf:file:/vod/v1/sprite-inputs.txt -map 0:v:0 -c copy -f null -"
        );
        assert_eq!(
            join(sheet_argv(list, &layout)),
            "-hide_banner -nostdin -loglevel error -skip_frame nokey -f mpegts \
             -i concatf:file:/vod/v1/sprite-inputs.txt -map 0:v:0 -vf \
             fps=fps=1000/2000:eof_action=pass,\
             scale=160:90:force_original_aspect_ratio=decrease,pad=160:90:(ow-iw)/2:(oh-ih)/2,\
             setsar=1,tile=10x2 -frames:v 1 -q:v 5 -update 1 -y sprite.jpg"
        );
    }

    #[test]
    fn length_from_progress() {
        let out = "frame=10\nout_time_us=1000000\nprogress=continue\n\
                   frame=749\nout_time_us=24966678\nprogress=end\n";
        assert_eq!(measured_ms(out).unwrap(), 24_966);
        assert!(matches!(measured_ms(""), Err(ClipError::Output(_))));
    }
}
