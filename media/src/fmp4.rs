//! Fragmented MP4 as ffmpeg writes it to a socket (`-f mp4 -movflags
//! empty_moov+default_base_moof+frag_keyframe+cmaf -frag_duration N`): `ftyp` and `moov` (the
//! init segment), then a `moof` + `mdat` pair per fragment. [`Fmp4Reader`] splits the byte
//! stream into those and reads, for each fragment, what a low-latency playlist needs: when its
//! video starts, how long it lasts, and whether it starts with a keyframe.
//!
//! Only the boxes and fields those answers need are parsed (ISO/IEC 14496-12: `tkhd`, `mdhd`,
//! `hdlr`, `trex`, `tfhd`, `tfdt`, `trun`); everything else passes through untouched.

use bytes::{Buf, Bytes, BytesMut};

/// A box larger than this is refused: fragments of a few hundred milliseconds are far smaller,
/// so a bigger size means the stream is not what we think it is.
const MAX_BOX: u64 = 64 * 1024 * 1024;

/// `sample_is_non_sync_sample` in the sample flags.
const NON_SYNC: u32 = 0x0001_0000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Fmp4Error {
    #[error("box `{0}` is malformed")]
    Malformed(&'static str),
    #[error("box of {0} bytes is larger than allowed")]
    TooLarge(u64),
    #[error("a fragment arrived before the init segment")]
    NoInit,
    #[error("the init segment has no video track")]
    NoVideo,
}

/// One track of the init segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Track {
    pub id: u32,
    pub timescale: u32,
    pub video: bool,
    default_duration: u32,
    default_flags: u32,
}

/// The tracks an init segment (`moov`) declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    pub tracks: Vec<Track>,
}

/// What a playlist needs to know about one fragment, from its video track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FragmentInfo {
    /// Decode time of the first video sample, in seconds of the track's timeline.
    pub start: f64,
    /// Sum of the video samples' durations, in seconds.
    pub duration: f64,
    /// The first video sample is a sync sample (an IDR): a player can start here.
    pub independent: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Fmp4Event {
    /// `ftyp` + `moov`, served as the playlist's `EXT-X-MAP`.
    Init { data: Bytes, init: Init },
    /// `moof` + `mdat`: one part.
    Fragment { data: Bytes, info: FragmentInfo },
}

/// Turns a byte stream into init and fragment events.
#[derive(Debug, Default)]
pub struct Fmp4Reader {
    buf: BytesMut,
    ftyp: Option<Bytes>,
    init: Option<Init>,
    moof: Option<(Bytes, FragmentInfo)>,
}

impl Fmp4Reader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns every event they complete, in order.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Fmp4Event>, Fmp4Error> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        while let Some((kind, body)) = self.next_box()? {
            match &kind {
                b"ftyp" => self.ftyp = Some(body),
                b"moov" => {
                    let init = parse_init(&body[8..])?;
                    if !init.tracks.iter().any(|t| t.video) {
                        return Err(Fmp4Error::NoVideo);
                    }
                    let mut data = BytesMut::new();
                    if let Some(f) = self.ftyp.take() {
                        data.extend_from_slice(&f);
                    }
                    data.extend_from_slice(&body);
                    self.init = Some(init.clone());
                    out.push(Fmp4Event::Init {
                        data: data.freeze(),
                        init,
                    });
                }
                b"moof" => {
                    let init = self.init.as_ref().ok_or(Fmp4Error::NoInit)?;
                    let info = parse_fragment(&body[8..], init)?;
                    self.moof = Some((body, info));
                }
                b"mdat" => {
                    if let Some((moof, info)) = self.moof.take() {
                        let mut data = BytesMut::with_capacity(moof.len() + body.len());
                        data.extend_from_slice(&moof);
                        data.extend_from_slice(&body);
                        out.push(Fmp4Event::Fragment {
                            data: data.freeze(),
                            info,
                        });
                    }
                }
                // `mfra` at the end, anything else: not part of a fragment.
                _ => {}
            }
        }
        Ok(out)
    }

    /// The next complete top-level box (header included), if the buffer holds one.
    fn next_box(&mut self) -> Result<Option<([u8; 4], Bytes)>, Fmp4Error> {
        let Some((size, header)) = box_header(&self.buf)? else {
            return Ok(None);
        };
        if size > MAX_BOX {
            return Err(Fmp4Error::TooLarge(size));
        }
        if (self.buf.len() as u64) < size {
            return Ok(None);
        }
        let mut kind = [0; 4];
        kind.copy_from_slice(&self.buf[4..8]);
        let body = self.buf.split_to(size as usize).freeze();
        debug_assert!(header <= body.len());
        Ok(Some((kind, body)))
    }
}

/// A box's total size and header length, once enough bytes are there to know them.
fn box_header(b: &[u8]) -> Result<Option<(u64, usize)>, Fmp4Error> {
    if b.len() < 8 {
        return Ok(None);
    }
    let size = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64;
    let (size, header) = match size {
        1 => {
            if b.len() < 16 {
                return Ok(None);
            }
            (
                u64::from_be_bytes(b[8..16].try_into().unwrap_or_default()),
                16,
            )
        }
        // "To the end of the file" has no end on a socket.
        0 => return Err(Fmp4Error::Malformed("size 0")),
        s => (s, 8),
    };
    if size < header as u64 {
        return Err(Fmp4Error::Malformed("size"));
    }
    Ok(Some((size, header)))
}

/// The child boxes of a container's payload, as (type, payload).
fn children(mut b: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        let (size, header) = box_header(b).ok()??;
        let size = usize::try_from(size).ok()?;
        if size > b.len() {
            return None;
        }
        let mut kind = [0; 4];
        kind.copy_from_slice(&b[4..8]);
        let payload = &b[header..size];
        b = &b[size..];
        Some((kind, payload))
    })
}

fn child<'a>(b: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(b).find(|(k, _)| k == kind).map(|(_, p)| p)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Reads the tracks of a `moov` payload.
pub fn parse_init(moov: &[u8]) -> Result<Init, Fmp4Error> {
    let mut tracks = Vec::new();
    for (kind, trak) in children(moov) {
        if &kind != b"trak" {
            continue;
        }
        let tkhd = child(trak, b"tkhd").ok_or(Fmp4Error::Malformed("tkhd"))?;
        let id_at = if tkhd.first() == Some(&1) { 20 } else { 12 };
        let id = u32_at(tkhd, id_at).ok_or(Fmp4Error::Malformed("tkhd"))?;
        let mdia = child(trak, b"mdia").ok_or(Fmp4Error::Malformed("mdia"))?;
        let mdhd = child(mdia, b"mdhd").ok_or(Fmp4Error::Malformed("mdhd"))?;
        let ts_at = if mdhd.first() == Some(&1) { 20 } else { 12 };
        let timescale = u32_at(mdhd, ts_at)
            .filter(|t| *t > 0)
            .ok_or(Fmp4Error::Malformed("mdhd"))?;
        let hdlr = child(mdia, b"hdlr").ok_or(Fmp4Error::Malformed("hdlr"))?;
        let video = hdlr.get(8..12) == Some(b"vide");
        tracks.push(Track {
            id,
            timescale,
            video,
            default_duration: 0,
            default_flags: 0,
        });
    }
    if let Some(mvex) = child(moov, b"mvex") {
        for (kind, trex) in children(mvex) {
            if &kind != b"trex" {
                continue;
            }
            let id = u32_at(trex, 4).ok_or(Fmp4Error::Malformed("trex"))?;
            if let Some(t) = tracks.iter_mut().find(|t| t.id == id) {
                t.default_duration = u32_at(trex, 12).unwrap_or(0);
                t.default_flags = u32_at(trex, 20).unwrap_or(0);
            }
        }
    }
    Ok(Init { tracks })
}

/// Reads a `moof` payload's video track: start, duration, first-sample sync.
pub fn parse_fragment(moof: &[u8], init: &Init) -> Result<FragmentInfo, Fmp4Error> {
    let bad = Fmp4Error::Malformed;
    for (kind, traf) in children(moof) {
        if &kind != b"traf" {
            continue;
        }
        let tfhd = child(traf, b"tfhd").ok_or(bad("tfhd"))?;
        let flags = u32_at(tfhd, 0).ok_or(bad("tfhd"))? & 0x00ff_ffff;
        let id = u32_at(tfhd, 4).ok_or(bad("tfhd"))?;
        let Some(track) = init.tracks.iter().find(|t| t.id == id) else {
            continue;
        };
        if !track.video {
            continue;
        }
        let mut at = 8;
        for (bit, len) in [(0x01, 8), (0x02, 4)] {
            if flags & bit != 0 {
                at += len;
            }
        }
        let mut default_duration = track.default_duration;
        if flags & 0x08 != 0 {
            default_duration = u32_at(tfhd, at).ok_or(bad("tfhd"))?;
            at += 4;
        }
        if flags & 0x10 != 0 {
            at += 4;
        }
        let mut default_flags = track.default_flags;
        if flags & 0x20 != 0 {
            default_flags = u32_at(tfhd, at).ok_or(bad("tfhd"))?;
        }
        let tfdt = child(traf, b"tfdt").ok_or(bad("tfdt"))?;
        let base = if tfdt.first() == Some(&1) {
            u64_at(tfdt, 4)
        } else {
            u32_at(tfdt, 4).map(u64::from)
        }
        .ok_or(bad("tfdt"))?;
        let mut ticks = 0u64;
        let mut first_flags = None;
        for (kind, trun) in children(traf) {
            if &kind != b"trun" {
                continue;
            }
            let (d, f) = read_trun(trun, default_duration, default_flags).ok_or(bad("trun"))?;
            // Several runs of 2^32 samples of 2^32 ticks overflow u64.
            ticks = ticks.saturating_add(d);
            first_flags = first_flags.or(f);
        }
        let scale = f64::from(track.timescale);
        return Ok(FragmentInfo {
            start: base as f64 / scale,
            duration: ticks as f64 / scale,
            independent: first_flags.is_some_and(|f| f & NON_SYNC == 0),
        });
    }
    Err(bad("moof without video"))
}

/// A `trun`'s total duration in ticks and its first sample's flags (`None` when empty).
fn read_trun(trun: &[u8], default_duration: u32, default_flags: u32) -> Option<(u64, Option<u32>)> {
    let mut b = trun;
    if b.len() < 8 {
        return None;
    }
    let flags = b.get_u32() & 0x00ff_ffff;
    let count = b.get_u32();
    if flags & 0x01 != 0 {
        b.advance(4.min(b.len()));
    }
    let mut first = None;
    if flags & 0x04 != 0 {
        if b.len() < 4 {
            return None;
        }
        first = Some(b.get_u32());
    }
    let per_sample = [0x100, 0x200, 0x400, 0x800]
        .iter()
        .filter(|bit| flags & **bit != 0)
        .count()
        * 4;
    if per_sample == 0 {
        // Every sample has the defaults: no loop over a count nothing else bounds (a count of
        // 2^32 in a few bytes kept this busy for seconds).
        let first = (count != 0).then(|| first.unwrap_or(default_flags));
        return Some((u64::from(count) * u64::from(default_duration), first));
    }
    if b.len() < per_sample * count as usize {
        return None;
    }
    let mut ticks = 0u64;
    for i in 0..count {
        let mut s = &b[per_sample * i as usize..per_sample * (i as usize + 1)];
        let duration = if flags & 0x100 != 0 {
            s.get_u32()
        } else {
            default_duration
        };
        if flags & 0x200 != 0 {
            s.advance(4);
        }
        let sample_flags = if flags & 0x400 != 0 {
            s.get_u32()
        } else {
            default_flags
        };
        if i == 0 && first.is_none() {
            first = Some(sample_flags);
        }
        ticks += u64::from(duration);
    }
    Some((ticks, if count == 0 { None } else { first }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    }

    fn full(version: u8, flags: u32, rest: &[u8]) -> Vec<u8> {
        let mut b = (u32::from(version) << 24 | flags).to_be_bytes().to_vec();
        b.extend_from_slice(rest);
        b
    }

    fn trak(id: u32, timescale: u32, handler: &[u8; 4]) -> Vec<u8> {
        let mut tkhd = vec![0; 8];
        tkhd.extend_from_slice(&id.to_be_bytes());
        tkhd.extend_from_slice(&[0; 68]);
        let mut mdhd = vec![0; 8];
        mdhd.extend_from_slice(&timescale.to_be_bytes());
        mdhd.extend_from_slice(&[0; 8]);
        let mut hdlr = vec![0; 4];
        hdlr.extend_from_slice(handler);
        hdlr.extend_from_slice(&[0; 13]);
        let mdia = [
            mp4_box(b"mdhd", &full(0, 0, &mdhd)),
            mp4_box(b"hdlr", &full(0, 0, &hdlr)),
        ]
        .concat();
        [
            mp4_box(b"tkhd", &full(0, 3, &tkhd)),
            mp4_box(b"mdia", &mdia),
        ]
        .concat()
    }

    fn init_bytes() -> Vec<u8> {
        let mut trex = Vec::new();
        for v in [1u32, 1, 512, 0, NON_SYNC] {
            trex.extend_from_slice(&v.to_be_bytes());
        }
        let moov = [
            mp4_box(b"trak", &trak(1, 15360, b"vide")),
            mp4_box(b"trak", &trak(2, 48000, b"soun")),
            mp4_box(b"mvex", &mp4_box(b"trex", &full(0, 0, &trex))),
        ]
        .concat();
        [mp4_box(b"ftyp", b"iso6\0\0\0\0"), mp4_box(b"moov", &moov)].concat()
    }

    /// A fragment with `n` video samples of 512 ticks at `base`, the first one sync or not.
    fn fragment(base: u64, n: u32, sync_first: bool) -> Vec<u8> {
        let tfhd = full(0, 0x02_0000, &1u32.to_be_bytes());
        let tfdt = full(1, 0, &base.to_be_bytes());
        let mut run = n.to_be_bytes().to_vec();
        run.extend_from_slice(&0u32.to_be_bytes());
        let first = if sync_first { 0 } else { NON_SYNC };
        run.extend_from_slice(&first.to_be_bytes());
        for _ in 0..n {
            run.extend_from_slice(&100u32.to_be_bytes());
        }
        let trun = full(0, 0x01 | 0x04 | 0x200, &run);
        let audio = mp4_box(
            b"traf",
            &[
                mp4_box(b"tfhd", &full(0, 0x08, &[0, 0, 0, 2, 0, 0, 4, 0])),
                mp4_box(b"tfdt", &full(0, 0, &[0, 0, 0, 0])),
            ]
            .concat(),
        );
        let video = mp4_box(
            b"traf",
            &[
                mp4_box(b"tfhd", &tfhd),
                mp4_box(b"tfdt", &tfdt),
                mp4_box(b"trun", &trun),
            ]
            .concat(),
        );
        [
            mp4_box(b"moof", &[audio, video].concat()),
            mp4_box(b"mdat", &vec![7; 100 * n as usize]),
        ]
        .concat()
    }

    /// Found by the `fmp4` fuzz target: a `trun` without per-sample fields claiming 2^32
    /// samples looped that many times, and two of them overflowed the tick count.
    #[test]
    fn sample_counts_without_sample_fields_are_not_looped_over() {
        let init = parse_init(&init_bytes()[24..]).unwrap();
        let tfhd = full(
            0,
            0x08 | 0x20,
            &[1u32, u32::MAX, 0].map(u32::to_be_bytes).concat(),
        );
        let trun = mp4_box(b"trun", &full(0, 0, &u32::MAX.to_be_bytes()));
        let traf = [
            mp4_box(b"tfhd", &tfhd),
            mp4_box(b"tfdt", &full(0, 0, &[0, 0, 0, 0])),
            trun.clone(),
            trun,
        ]
        .concat();
        let started = std::time::Instant::now();
        let info = parse_fragment(&mp4_box(b"traf", &traf), &init).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(info.duration, u64::MAX as f64 / 15360.0);
        assert!(info.independent);
    }

    #[test]
    fn splits_init_and_fragments_whatever_the_chunking() {
        let stream = [
            init_bytes(),
            fragment(0, 10, true),
            fragment(5120, 10, false),
        ]
        .concat();
        for chunk in [1, 7, 100, stream.len()] {
            let mut r = Fmp4Reader::new();
            let mut events = Vec::new();
            for c in stream.chunks(chunk) {
                events.extend(r.push(c).unwrap());
            }
            assert_eq!(events.len(), 3, "chunks of {chunk}");
            let Fmp4Event::Init { data, init } = &events[0] else {
                panic!("init first");
            };
            assert_eq!(data.len(), init_bytes().len());
            assert_eq!(init.tracks.len(), 2);
            assert!(init.tracks[0].video && !init.tracks[1].video);
            let Fmp4Event::Fragment { info, data } = &events[1] else {
                panic!("a fragment");
            };
            assert_eq!(data.len(), fragment(0, 10, true).len());
            assert_eq!(info.start, 0.0);
            assert!((info.duration - 5120.0 / 15360.0).abs() < 1e-9);
            assert!(info.independent);
            let Fmp4Event::Fragment { info, .. } = &events[2] else {
                panic!("a fragment");
            };
            assert!((info.start - 5120.0 / 15360.0).abs() < 1e-9);
            assert!(!info.independent);
        }
    }

    #[test]
    fn a_fragment_before_the_init_or_a_huge_box_is_an_error() {
        let mut r = Fmp4Reader::new();
        assert_eq!(r.push(&fragment(0, 1, true)), Err(Fmp4Error::NoInit));
        let mut r = Fmp4Reader::new();
        let mut huge = (u32::MAX).to_be_bytes().to_vec();
        huge.extend_from_slice(b"mdat");
        assert!(matches!(r.push(&huge), Err(Fmp4Error::TooLarge(_))));
    }
}
