//! Clips: a stretch of recorded or live MPEG-TS segments cut by stream copy (no re-encode)
//! into an MP4, an HLS copy and a thumbnail.
//!
//! [`cut_clip`] runs, each bounded by one deadline ([`CLIP_TIMEOUT`]) and killed when it
//! passes or when the future is dropped:
//! 1. ffmpeg joins the inputs (the `concatf:` protocol over a list file) into one MPEG-TS in
//!    `out_dir`. ffmpeg re-bases the timestamps where a discontinuity between segments makes
//!    them jump back (or forward by more than 10 s), so the joined file has one timeline; the
//!    audio frames that then overlap the previous run's are dropped.
//! 2. ffprobe lists the joined file's video keyframes: the cut starts at the last one at or
//!    before `start`, so the clip begins with a picture and ends at `start + duration`.
//! 3. ffmpeg copies that range into `clip.mp4` (faststart) and `0.ts`, `1.ts`, ... (ffmpeg's
//!    HLS muxer; we render `index.m3u8` from its playlist).
//! 4. ffmpeg decodes one frame of the clip into `thumb.jpg`, 320 px wide.
//! 5. ffprobe measures the MP4's duration.
//!
//! [`ClipError`], [`ffprobe_path`] and the process handling here serve [`crate::sprite`] too.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::time::Instant;

use crate::hls::parse_media_playlist;
use crate::transcode::process::STDERR_TAIL_LINES;
use crate::vod::{VodSegment, render_vod_playlist_with};

/// The longest a whole clip job (all five processes) may take.
pub const CLIP_TIMEOUT: Duration = Duration::from_secs(120);

/// Width of `thumb.jpg`; the height follows the aspect ratio.
pub const CLIP_THUMB_WIDTH: u32 = 320;

/// Longest stderr line kept in an error; ffmpeg's are short.
const STDERR_LINE_MAX: usize = 512;

/// Scratch files in `out_dir`, removed when the job ends however it ends.
const INPUT_LIST: &str = "inputs.txt";
const JOINED: &str = "joined.ts";
const FFMPEG_PLAYLIST: &str = "ffmpeg-index.m3u8";

/// The clip's files, all in the `out_dir` given to [`cut_clip`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClipCut {
    /// `clip.mp4`: H.264 + AAC as they came, `moov` first.
    pub mp4: PathBuf,
    /// `index.m3u8`: a VOD playlist over [`hls_segments`](Self::hls_segments).
    pub hls_playlist: PathBuf,
    /// `0.ts`, `1.ts`, ... in playlist order.
    pub hls_segments: Vec<PathBuf>,
    /// `thumb.jpg`: the clip's first frame, [`CLIP_THUMB_WIDTH`] px wide.
    pub thumb: PathBuf,
    /// Seconds, as ffprobe measures `clip.mp4`.
    pub duration: f64,
}

/// Why a clip (or a sprite sheet) could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("no input segments")]
    NoInputs,
    #[error("input {}: {problem}", path.display())]
    Input { path: PathBuf, problem: String },
    /// Start, duration or interval out of range (the message says which).
    #[error("{0}")]
    Range(String),
    #[error("the inputs have no video")]
    NoVideo,
    #[error("could not start {}: {source}", program.display())]
    Spawn { program: PathBuf, source: io::Error },
    #[error("{} failed ({status}): {}", program.display(), stderr_tail.join(" | "))]
    Failed {
        program: PathBuf,
        /// How it exited, e.g. `exit status: 1`.
        status: String,
        /// Its last stderr lines (it runs with `-loglevel error`), oldest first.
        stderr_tail: Vec<String>,
    },
    #[error("{} was killed: the job took longer than {limit:?}", program.display())]
    Timeout { program: PathBuf, limit: Duration },
    /// A tool succeeded but did not write what it should have.
    #[error("unexpected output: {0}")]
    Output(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// ffprobe beside `ffmpeg`: the same directory, `ffmpeg` in the file name replaced
/// (`/opt/ff/ffmpeg-6` -> `/opt/ff/ffprobe-6`; a bare `ffmpeg` -> `ffprobe` from PATH). A file
/// name without `ffmpeg` in it gets plain `ffprobe` in the same directory.
pub fn ffprobe_path(ffmpeg: &Path) -> PathBuf {
    let name = ffmpeg
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let probe = if name.contains("ffmpeg") {
        name.replacen("ffmpeg", "ffprobe", 1)
    } else {
        "ffprobe".to_owned()
    };
    ffmpeg.with_file_name(probe)
}

/// Cuts `duration` seconds from `start` seconds into the concatenation of `inputs` (MPEG-TS
/// segment files in play order, possibly with discontinuities between them) into `out_dir`
/// (created if missing). The cut starts at the last keyframe at or before `start`, so the clip
/// can be up to one GOP longer than asked; it is shorter when the inputs end first. Pass only
/// the segments around the clip: they are copied into one file first.
pub async fn cut_clip(
    ffmpeg: &Path,
    inputs: &[PathBuf],
    start: f64,
    duration: f64,
    out_dir: &Path,
) -> Result<ClipCut, ClipError> {
    if !start.is_finite() || start < 0.0 {
        return Err(ClipError::Range(format!(
            "clip start {start} s is not >= 0"
        )));
    }
    if !duration.is_finite() || duration <= 0.0 {
        return Err(ClipError::Range(format!(
            "clip duration {duration} s is not > 0"
        )));
    }
    let deadline = Deadline::after(CLIP_TIMEOUT);
    let ffprobe = ffprobe_path(ffmpeg);
    let list = prepare(inputs, out_dir, INPUT_LIST).await?;
    let _scratch = Scratch(vec![
        out_dir.join(INPUT_LIST),
        out_dir.join(JOINED),
        out_dir.join(FFMPEG_PLAYLIST),
    ]);

    run_tool(ffmpeg, &join_argv(&list), out_dir, &deadline).await?;
    let probed =
        parse_keyframes(&run_text(&ffprobe, &keyframes_argv(), out_dir, &deadline).await?)?;
    let from = probed.cut_from(start)?;
    let end = start + duration;
    run_tool(ffmpeg, &cut_argv(from, end - from), out_dir, &deadline).await?;
    run_tool(ffmpeg, &thumb_argv(), out_dir, &deadline).await?;
    let measured = run_text(&ffprobe, &duration_argv(), out_dir, &deadline).await?;
    let duration = measured
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| {
            ClipError::Output(format!("ffprobe gave clip.mp4 a duration of {measured:?}"))
        })?;

    let hls_segments = write_hls_playlist(out_dir).await?;
    Ok(ClipCut {
        mp4: out_dir.join("clip.mp4"),
        hls_playlist: out_dir.join("index.m3u8"),
        hls_segments,
        thumb: out_dir.join("thumb.jpg"),
        duration,
    })
}

/// Re-renders ffmpeg's playlist of the HLS copy as ours (`index.m3u8`); returns the segments.
async fn write_hls_playlist(out_dir: &Path) -> Result<Vec<PathBuf>, ClipError> {
    let text = tokio::fs::read_to_string(out_dir.join(FFMPEG_PLAYLIST)).await?;
    let parsed = parse_media_playlist(&text)
        .map_err(|e| ClipError::Output(format!("ffmpeg's HLS playlist: {e}")))?;
    if parsed.entries.is_empty() {
        return Err(ClipError::Output("ffmpeg wrote no HLS segment".into()));
    }
    let mut segments = Vec::with_capacity(parsed.entries.len());
    let mut paths = Vec::with_capacity(parsed.entries.len());
    for (n, e) in parsed.entries.iter().enumerate() {
        if e.uri != format!("{n}.ts") {
            return Err(ClipError::Output(format!(
                "HLS segment {n} is named {:?}",
                e.uri
            )));
        }
        segments.push(VodSegment {
            seq: n as u64,
            duration: e.duration,
            discontinuity: false,
        });
        paths.push(out_dir.join(&e.uri));
    }
    let playlist = render_vod_playlist_with(&segments, |s| format!("{}.ts", s.seq));
    tokio::fs::write(out_dir.join("index.m3u8"), playlist).await?;
    Ok(paths)
}

/// What ffprobe says about the joined file.
#[derive(Debug, PartialEq)]
struct Probed {
    /// Timestamp of the concatenation's first moment (`format=start_time`).
    start_time: f64,
    /// Length in seconds (`format=duration`).
    duration: f64,
    /// Video keyframe timestamps, in file order.
    keyframes: Vec<f64>,
}

impl Probed {
    /// Where the copy starts, in seconds from the concatenation's start: the last keyframe at
    /// or before `start` (or the first keyframe), a millisecond early so rounding in ffmpeg's
    /// `-ss` cannot skip it.
    fn cut_from(&self, start: f64) -> Result<f64, ClipError> {
        if start >= self.duration {
            return Err(ClipError::Range(format!(
                "clip start {start:.3} s is past the end of the inputs ({:.3} s)",
                self.duration
            )));
        }
        let first = *self.keyframes.first().ok_or(ClipError::NoVideo)?;
        let target = self.start_time + start + 0.0005;
        let key = self
            .keyframes
            .iter()
            .copied()
            .filter(|k| *k <= target)
            .fold(first, f64::max);
        Ok((key - self.start_time - 0.001).max(0.0))
    }
}

/// Parses `-show_entries format=start_time,duration:packet=pts_time,flags -of csv=p=1`
/// (packet lines may end with a `side_data` section).
fn parse_keyframes(text: &str) -> Result<Probed, ClipError> {
    let mut start_time = None;
    let mut duration = None;
    let mut keyframes = Vec::new();
    for line in text.lines() {
        let mut fields = line.trim().split(',');
        match fields.next() {
            Some("packet") => {
                let pts = fields.next().and_then(|v| v.parse::<f64>().ok());
                let key = fields.next().is_some_and(|f| f.starts_with('K'));
                if let (Some(pts), true) = (pts, key) {
                    keyframes.push(pts);
                }
            }
            Some("format") => {
                start_time = fields.next().and_then(|v| v.parse::<f64>().ok());
                duration = fields.next().and_then(|v| v.parse::<f64>().ok());
            }
            _ => {}
        }
    }
    match (start_time, duration) {
        (Some(start_time), Some(duration)) => Ok(Probed {
            start_time,
            duration,
            keyframes,
        }),
        _ => Err(ClipError::Output(format!(
            "ffprobe gave no start time and duration for the joined inputs: {:?}",
            text.lines().last().unwrap_or_default()
        ))),
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// Step 1: the first video and audio stream of `list`'s files, copied into [`JOINED`].
fn join_argv(list: &Path) -> Vec<OsString> {
    let mut a = os(&[
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-f",
        "mpegts",
        "-i",
    ]);
    a.push(concat_url(list));
    a.extend(os(&["-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy"]));
    a.extend(os(&["-bsf:a", DROP_OVERLAPPING_AUDIO]));
    a.extend(os(&["-f", "mpegts", "-y", JOINED]));
    a
}

/// Audio bitstream filters for the join. Where ffmpeg re-bases a discontinuity it lines up
/// the video; the new run's first audio frame can then start before the old run's last one
/// ends (its timestamps go back), which MP4 cannot hold. `setts` marks every audio frame that
/// starts more than half a frame before the end of the last one kept (`pts` = none, `dts` =
/// that last one's, so the next frame is compared with it too) and `noise` drops the marked
/// ones: a frame or two of audio is lost at a discontinuity, audio and video stay in sync.
const DROP_OVERLAPPING_AUDIO: &str = "setts=\
    dts=if(lt(DTS\\,PREV_OUTDTS+DURATION/2)\\,PREV_OUTDTS\\,DTS):\
    pts=if(lt(DTS\\,PREV_OUTDTS+DURATION/2)\\,NOPTS\\,PTS),\
    noise=drop=eq(pts\\,nopts)";

/// Step 2 (ffprobe): the joined file's start, length and video packets.
fn keyframes_argv() -> Vec<OsString> {
    os(&[
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "format=start_time,duration:packet=pts_time,flags",
        "-of",
        "csv=p=1",
        JOINED,
    ])
}

/// Step 3: `length` seconds from `from` (seconds after the joined file's start) into the MP4
/// and the HLS copy. With stream copy, `-ss` after the input drops packets before `from`
/// and video waits for a keyframe, which `from` is.
fn cut_argv(from: f64, length: f64) -> Vec<OsString> {
    let from = format!("{from:.6}");
    let length = format!("{length:.6}");
    let range = ["-map", "0", "-c", "copy", "-ss", &from, "-t", &length];
    let mut a = os(&[
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-i",
        JOINED,
    ]);
    a.extend(os(&range));
    a.extend(os(&[
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        "-y",
        "clip.mp4",
    ]));
    a.extend(os(&range));
    a.extend(os(&[
        "-f",
        "hls",
        "-hls_time",
        "1",
        "-hls_list_size",
        "0",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_type",
        "mpegts",
        "-hls_segment_filename",
        "%d.ts",
        "-y",
        FFMPEG_PLAYLIST,
    ]));
    a
}

/// Step 4: the clip's first frame, scaled (the only decode).
fn thumb_argv() -> Vec<OsString> {
    let scale = format!("scale={CLIP_THUMB_WIDTH}:-2");
    os(&[
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-i",
        "clip.mp4",
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
        "-vf",
        &scale,
        "-q:v",
        "3",
        "-update",
        "1",
        "-y",
        "thumb.jpg",
    ])
}

/// Step 5 (ffprobe): the MP4's duration.
fn duration_argv() -> Vec<OsString> {
    os(&[
        "-v",
        "error",
        "-show_entries",
        "format=duration",
        "-of",
        "csv=p=0",
        "clip.mp4",
    ])
}

// ---------------------------------------------------------------------------------------------
// Shared with the sprite: inputs, the concat list, running a tool under a deadline.

/// Checks `inputs` (each a non-empty file), creates `out_dir`, and writes the `concatf:` list
/// of the inputs' absolute paths to `out_dir/list_name`; returns the list's absolute path.
pub(crate) async fn prepare(
    inputs: &[PathBuf],
    out_dir: &Path,
    list_name: &str,
) -> Result<PathBuf, ClipError> {
    if inputs.is_empty() {
        return Err(ClipError::NoInputs);
    }
    let mut list = Vec::with_capacity(inputs.len() * 80);
    for path in inputs {
        let problem = |problem: &str| ClipError::Input {
            path: path.clone(),
            problem: problem.to_owned(),
        };
        let meta = match tokio::fs::metadata(path).await {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(problem("missing")),
            Err(e) => return Err(problem(&e.to_string())),
        };
        if !meta.is_file() {
            return Err(problem("not a file"));
        }
        if meta.len() == 0 {
            return Err(problem("empty"));
        }
        let abs = std::path::absolute(path).map_err(|e| problem(&e.to_string()))?;
        let bytes = abs.as_os_str().as_encoded_bytes();
        if bytes.iter().any(|b| matches!(b, b'\n' | b'\r')) {
            return Err(problem("a line break in the path"));
        }
        // One `av_get_token` per line: quoted, with `'` written as `'\''`.
        list.extend_from_slice(b"'file:");
        for &b in bytes {
            if b == b'\'' {
                list.extend_from_slice(b"'\\''");
            } else {
                list.push(b);
            }
        }
        list.extend_from_slice(b"'\n");
    }
    tokio::fs::create_dir_all(out_dir).await?;
    let list_path = std::path::absolute(out_dir.join(list_name))?;
    tokio::fs::write(&list_path, list).await?;
    Ok(list_path)
}

/// `concatf:file:{list}`: ffmpeg reads the list's files as one byte stream.
pub(crate) fn concat_url(list: &Path) -> OsString {
    let mut url = OsString::from("concatf:file:");
    url.push(list);
    url
}

/// Removes its files when dropped.
pub(crate) struct Scratch(pub(crate) Vec<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// One job's time limit, shared by its processes.
pub(crate) struct Deadline {
    at: Instant,
    limit: Duration,
}

impl Deadline {
    pub(crate) fn after(limit: Duration) -> Self {
        Self {
            at: Instant::now() + limit,
            limit,
        }
    }
}

/// Runs `program args` in `cwd` with no stdin; returns its stdout. Killed (`kill_on_drop`)
/// when the deadline passes or the future is dropped.
pub(crate) async fn run_tool(
    program: &Path,
    args: &[OsString],
    cwd: &Path,
    deadline: &Deadline,
) -> Result<Vec<u8>, ClipError> {
    let child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ClipError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    let out = tokio::time::timeout_at(deadline.at, child.wait_with_output())
        .await
        .map_err(|_| ClipError::Timeout {
            program: program.to_owned(),
            limit: deadline.limit,
        })??;
    if !out.status.success() {
        return Err(ClipError::Failed {
            program: program.to_owned(),
            status: out.status.to_string(),
            stderr_tail: stderr_tail(&out.stderr),
        });
    }
    Ok(out.stdout)
}

/// [`run_tool`] for a tool whose output is text.
pub(crate) async fn run_text(
    program: &Path,
    args: &[OsString],
    cwd: &Path,
    deadline: &Deadline,
) -> Result<String, ClipError> {
    let out = run_tool(program, args, cwd, deadline).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn stderr_tail(stderr: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(stderr);
    let mut tail = VecDeque::with_capacity(STDERR_TAIL_LINES);
    for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line.chars().take(STDERR_LINE_MAX).collect());
    }
    tail.into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn strings(argv: &[OsString]) -> Vec<&str> {
        argv.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn ffprobe_sits_beside_ffmpeg() {
        for (ffmpeg, probe) in [
            ("ffmpeg", "ffprobe"),
            ("/usr/bin/ffmpeg", "/usr/bin/ffprobe"),
            ("/opt/ff/ffmpeg-6.1", "/opt/ff/ffprobe-6.1"),
            ("C:/ff/ffmpeg.exe", "C:/ff/ffprobe.exe"),
            ("/opt/bin/avconv", "/opt/bin/ffprobe"),
        ] {
            assert_eq!(
                ffprobe_path(Path::new(ffmpeg)),
                Path::new(probe),
                "{ffmpeg}"
            );
        }
    }

    #[test]
    fn argv() {
        assert_eq!(
            strings(&join_argv(Path::new("/clips/c1/inputs.txt"))).join(" "),
            "-hide_banner -nostdin -loglevel error -f mpegts -i concatf:file:/clips/c1/inputs.txt \
             -map 0:v:0? -map 0:a:0? -c copy -bsf:a \
             setts=dts=if(lt(DTS\\,PREV_OUTDTS+DURATION/2)\\,PREV_OUTDTS\\,DTS):\
             pts=if(lt(DTS\\,PREV_OUTDTS+DURATION/2)\\,NOPTS\\,PTS),noise=drop=eq(pts\\,nopts) \
             -f mpegts -y joined.ts"
        );
        assert_eq!(
            strings(&cut_argv(4.999, 15.501)).join(" "),
            "-hide_banner -nostdin -loglevel error -i joined.ts \
             -map 0 -c copy -ss 4.999000 -t 15.501000 -movflags +faststart -f mp4 -y clip.mp4 \
             -map 0 -c copy -ss 4.999000 -t 15.501000 -f hls -hls_time 1 -hls_list_size 0 \
             -hls_playlist_type vod -hls_segment_type mpegts -hls_segment_filename %d.ts \
             -y ffmpeg-index.m3u8"
        );
        assert_eq!(
            strings(&thumb_argv()).join(" "),
            "-hide_banner -nostdin -loglevel error -i clip.mp4 -map 0:v:0 -frames:v 1 \
             -vf scale=320:-2 -q:v 3 -update 1 -y thumb.jpg"
        );
        assert_eq!(
            strings(&keyframes_argv()).join(" "),
            "-v error -select_streams v:0 -show_entries \
             format=start_time,duration:packet=pts_time,flags -of csv=p=1 joined.ts"
        );
    }

    /// Shaped like ffprobe 5.1's output for a joined file (audio starts 23 ms before video).
    const PROBED: &str = "packet,1.423222,K_,side_data,\npacket,1.456556,__\n\
        packet,2.423222,K_,side_data,\npacket,2.456556,__\npacket,N/A,K_\n\
        packet,3.423222,K_\nformat,1.400000,3.100000\n";

    #[test]
    fn the_cut_starts_at_the_keyframe_at_or_before_start() {
        let p = parse_keyframes(PROBED).unwrap();
        assert_eq!(
            p,
            Probed {
                start_time: 1.4,
                duration: 3.1,
                keyframes: vec![1.423222, 2.423222, 3.423222],
            }
        );
        let from = |s: f64| (p.cut_from(s).unwrap() * 1e6).round() / 1e6;
        // Before the first keyframe: the first one.
        assert_eq!(from(0.0), 0.022222);
        assert_eq!(from(1.0), 0.022222);
        assert_eq!(from(1.5), 1.022222);
        // Exactly on a keyframe: that one.
        assert_eq!(from(2.023222), 2.022222);
        assert_eq!(from(3.0), 2.022222);
        assert!(matches!(p.cut_from(3.1), Err(ClipError::Range(_))));
        let audio_only = parse_keyframes("format,0.000000,10.000000\n").unwrap();
        assert!(matches!(audio_only.cut_from(1.0), Err(ClipError::NoVideo)));
        assert!(matches!(
            parse_keyframes("packet,1.0,K_\n"),
            Err(ClipError::Output(_))
        ));
    }

    #[test]
    fn stderr_tail_keeps_the_last_lines() {
        let text: String = (0..30).map(|i| format!("line {i}\n\n")).collect();
        let tail = stderr_tail(text.as_bytes());
        assert_eq!(tail.len(), STDERR_TAIL_LINES);
        assert_eq!(tail.last().map(String::as_str), Some("line 29"));
        assert_eq!(tail[0], "line 10");
    }

    #[tokio::test]
    async fn the_list_quotes_paths_and_inputs_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let odd = tmp.path().join("it's a segment.ts");
        std::fs::write(&odd, b"x").unwrap();
        let out = tmp.path().join("out");
        let list = prepare(std::slice::from_ref(&odd), &out, "list.txt")
            .await
            .unwrap();
        let text = std::fs::read_to_string(&list).unwrap();
        let dir = tmp.path().display();
        assert_eq!(text, format!("'file:{dir}/it'\\''s a segment.ts'\n"));

        assert!(matches!(
            prepare(&[], &out, "l").await,
            Err(ClipError::NoInputs)
        ));
        let missing = tmp.path().join("nope.ts");
        let err = prepare(&[odd.clone(), missing.clone()], &out, "l")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClipError::Input { path, .. } if *path == missing),
            "{err}"
        );
        assert!(err.to_string().ends_with("nope.ts: missing"), "{err}");
        let empty = tmp.path().join("empty.ts");
        std::fs::write(&empty, b"").unwrap();
        let err = prepare(&[empty], &out, "l").await.unwrap_err();
        assert!(err.to_string().ends_with("empty.ts: empty"), "{err}");
        let err = prepare(&[tmp.path().to_owned()], &out, "l")
            .await
            .unwrap_err();
        assert!(err.to_string().ends_with("not a file"), "{err}");
    }

    #[tokio::test]
    async fn a_tool_that_fails_or_hangs_gives_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let sh = Path::new("/bin/sh");
        let deadline = Deadline::after(Duration::from_secs(10));
        let err = run_tool(
            sh,
            &os(&["-c", "echo one >&2; echo two >&2; exit 3"]),
            tmp.path(),
            &deadline,
        )
        .await
        .unwrap_err();
        match &err {
            ClipError::Failed { stderr_tail, .. } => assert_eq!(stderr_tail, &["one", "two"]),
            other => panic!("{other}"),
        }
        assert!(
            err.to_string().contains("exit status: 3): one | two"),
            "{err}"
        );

        let short = Deadline::after(Duration::from_millis(200));
        let started = std::time::Instant::now();
        let err = run_tool(sh, &os(&["-c", "sleep 30"]), tmp.path(), &short)
            .await
            .unwrap_err();
        assert!(matches!(err, ClipError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));

        let err = run_tool(Path::new("/nonexistent/ffmpeg"), &[], tmp.path(), &deadline)
            .await
            .unwrap_err();
        assert!(matches!(err, ClipError::Spawn { .. }), "{err}");
    }
}
