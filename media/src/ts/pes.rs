//! PES packets (ISO 13818-1 2.4.3.6): reassembly from transport packets, the header's
//! PTS/DTS, and the 90 kHz clock that turns them into FLV milliseconds.

/// A PES larger than this is dropped: no sane access unit at live bitrates comes near it, and
/// a stream that never sends another payload_unit_start must not grow memory without limit.
pub const MAX_PES_LEN: usize = 8 * 1024 * 1024;

/// Why an assembled PES was not handed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PesDrop {
    /// It grew past [`MAX_PES_LEN`].
    TooLarge,
    /// It ended before its PES_packet_length.
    Truncated,
}

/// Collects the packets of one PID into PES packets.
#[derive(Debug, Default)]
pub(super) struct PesAssembler {
    buf: Vec<u8>,
    /// A PES start has been seen and nothing was lost since.
    active: bool,
    /// 6 + PES_packet_length when the header gives a length (0 means unbounded, video only).
    expected_len: Option<usize>,
}

/// What feeding one packet produced.
#[derive(Debug, Default)]
pub(super) struct PesEvents {
    /// PES packets completed by this packet, in order (at most two: the one a start closes and
    /// one that is complete within this packet).
    pub(super) complete: Vec<Vec<u8>>,
    pub(super) dropped: Option<PesDrop>,
}

impl PesAssembler {
    /// Feeds the payload of one packet. `unit_start` is payload_unit_start_indicator.
    pub(super) fn push(&mut self, payload: &[u8], unit_start: bool) -> PesEvents {
        let mut events = PesEvents::default();
        if unit_start {
            if self.active {
                match self.expected_len {
                    Some(len) if self.buf.len() < len => events.dropped = Some(PesDrop::Truncated),
                    _ => events.complete.push(std::mem::take(&mut self.buf)),
                }
            }
            self.buf.clear();
            self.active = true;
            self.expected_len = None;
        } else if !self.active {
            // The middle of a PES whose start we missed or dropped.
            return events;
        }
        self.buf.extend_from_slice(payload);
        if self.expected_len.is_none() && self.buf.len() >= 6 {
            let len = usize::from(u16::from_be_bytes([self.buf[4], self.buf[5]]));
            self.expected_len = (len != 0).then_some(6 + len);
        }
        if self.buf.len() > MAX_PES_LEN {
            self.abandon();
            events.dropped = Some(PesDrop::TooLarge);
        } else if let Some(len) = self.expected_len
            && self.buf.len() >= len
        {
            // Whatever follows the announced length in the last packet is not PES data.
            self.buf.truncate(len);
            self.active = false;
            events.complete.push(std::mem::take(&mut self.buf));
        }
        events
    }

    /// Throws away the PES being collected; data is ignored until the next start.
    pub(super) fn abandon(&mut self) {
        self.buf = Vec::new();
        self.active = false;
        self.expected_len = None;
    }

    /// A PES is being collected.
    pub(super) fn is_active(&self) -> bool {
        self.active
    }

    /// The bytes collected so far of the current PES.
    pub(super) fn current(&self) -> &[u8] {
        &self.buf
    }

    /// End of stream: the PES being collected, if it is whole.
    pub(super) fn finish(&mut self) -> Result<Option<Vec<u8>>, PesDrop> {
        if !self.active {
            return Ok(None);
        }
        let truncated = self.expected_len.is_some_and(|len| self.buf.len() < len);
        let buf = std::mem::take(&mut self.buf);
        self.abandon();
        if truncated {
            Err(PesDrop::Truncated)
        } else {
            Ok(Some(buf))
        }
    }
}

/// The parts of a PES header we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PesHeader {
    /// 33-bit presentation time stamp, 90 kHz.
    pub(super) pts: u64,
    /// 33-bit decode time stamp; equal to `pts` when the header has none.
    pub(super) dts: u64,
    /// Where the elementary stream data starts.
    pub(super) payload_offset: usize,
}

/// Why a PES header is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PesHeaderError {
    /// Not enough bytes yet.
    Short,
    /// No packet_start_code_prefix, a stream_id without the optional header, or no PTS.
    Malformed,
}

/// Parses the PES header at the start of `pes`.
pub(super) fn parse_pes_header(pes: &[u8]) -> Result<PesHeader, PesHeaderError> {
    if pes.len() < 9 {
        return Err(PesHeaderError::Short);
    }
    if pes[..3] != [0, 0, 1] || pes[6] & 0xC0 != 0x80 {
        return Err(PesHeaderError::Malformed);
    }
    let flags = pes[7] >> 6;
    let header_len = usize::from(pes[8]);
    let payload_offset = 9 + header_len;
    if pes.len() < payload_offset {
        return Err(PesHeaderError::Short);
    }
    let fields = &pes[9..payload_offset];
    let (pts, dts) = match flags {
        0b10 => {
            let pts = read_timestamp(fields.get(..5))?;
            (pts, pts)
        }
        0b11 => (
            read_timestamp(fields.get(..5))?,
            read_timestamp(fields.get(5..10))?,
        ),
        // Without a PTS a frame cannot be placed in time; '01' is forbidden.
        _ => return Err(PesHeaderError::Malformed),
    };
    Ok(PesHeader {
        pts,
        dts,
        payload_offset,
    })
}

/// A 33-bit timestamp in its 5-byte form: 4 bits prefix, 3 bits, marker, 15 bits, marker,
/// 15 bits, marker.
fn read_timestamp(b: Option<&[u8]>) -> Result<u64, PesHeaderError> {
    let b = b.ok_or(PesHeaderError::Malformed)?;
    if b[0] & 1 != 1 || b[2] & 1 != 1 || b[4] & 1 != 1 {
        return Err(PesHeaderError::Malformed);
    }
    Ok((u64::from(b[0] >> 1) & 0x07) << 30
        | u64::from(b[1]) << 22
        | u64::from(b[2] >> 1) << 15
        | u64::from(b[3]) << 7
        | u64::from(b[4] >> 1))
}

/// Turns 33-bit 90 kHz timestamps into milliseconds since the stream's first DTS, with one
/// origin for audio and video so that their sync survives.
#[derive(Debug, Default)]
pub(super) struct Clock {
    /// The first timestamp seen, unwrapped.
    origin: Option<i64>,
    /// The last timestamp seen, unwrapped: the reference the next one is unwrapped against.
    last: Option<i64>,
}

const WRAP: i64 = 1 << 33;

impl Clock {
    /// Makes `ts` the origin unless there is one. Call with the first DTS of the stream.
    pub(super) fn observe(&mut self, ts: u64) {
        let t = self.unwrap(ts);
        self.origin.get_or_insert(t);
    }

    /// Milliseconds from the origin to `ts`, 0 for times before it. FLV timestamps are 32 bits
    /// and wrap after 49.7 days, as an RTMP encoder's do.
    pub(super) fn millis(&mut self, ts: u64) -> u32 {
        let t = self.unwrap(ts);
        let origin = *self.origin.get_or_insert(t);
        let ms = (t - origin).max(0) / 90;
        (ms as u64 & 0xFFFF_FFFF) as u32
    }

    /// Places a 33-bit timestamp on the unbounded timeline: the reading nearest the last one,
    /// so that a wrap from 2^33 - 1 to 0 goes forward and B-frame reordering goes back a little.
    fn unwrap(&mut self, ts: u64) -> i64 {
        let ts = (ts as i64) & (WRAP - 1);
        let t = match self.last {
            None => ts,
            Some(last) => {
                let delta = (ts - last).rem_euclid(WRAP);
                let delta = if delta >= WRAP / 2 {
                    delta - WRAP
                } else {
                    delta
                };
                last + delta
            }
        };
        self.last = Some(t);
        t
    }
}

/// The 5-byte form of `ts` with a 4-bit prefix ('0010' PTS only, '0011'/'0001' PTS and DTS).
#[cfg(test)]
pub(super) fn encode_timestamp(prefix: u8, ts: u64) -> [u8; 5] {
    [
        (prefix << 4) | (((ts >> 30) as u8 & 0x07) << 1) | 1,
        (ts >> 22) as u8,
        (((ts >> 15) as u8) << 1) | 1,
        (ts >> 7) as u8,
        ((ts as u8) << 1) | 1,
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn header_with_pts_and_dts() {
        let pts = (1 << 32) + 123_456_789;
        let dts = 987_654_321;
        let mut pes = vec![0, 0, 1, 0xE0, 0, 0, 0x80, 0xC0, 10];
        pes.extend_from_slice(&encode_timestamp(3, pts));
        pes.extend_from_slice(&encode_timestamp(1, dts));
        pes.extend_from_slice(&[0, 0, 0, 1, 0x09]);
        let h = parse_pes_header(&pes).unwrap();
        assert_eq!((h.pts, h.dts, h.payload_offset), (pts, dts, 19));

        assert_eq!(parse_pes_header(&pes[..12]), Err(PesHeaderError::Short));
        let mut no_marker = pes.clone();
        no_marker[13] &= 0xFE;
        assert_eq!(parse_pes_header(&no_marker), Err(PesHeaderError::Malformed));
        let mut no_pts = pes.clone();
        no_pts[7] = 0;
        assert_eq!(parse_pes_header(&no_pts), Err(PesHeaderError::Malformed));
    }

    #[test]
    fn header_with_pts_only() {
        let mut pes = vec![0, 0, 1, 0xC0, 0, 10, 0x80, 0x80, 5];
        pes.extend_from_slice(&encode_timestamp(2, 90_000));
        pes.push(0xFF);
        let h = parse_pes_header(&pes).unwrap();
        assert_eq!((h.pts, h.dts, h.payload_offset), (90_000, 90_000, 14));
    }

    #[test]
    fn clock_unwraps_33_bits() {
        let mut clock = Clock::default();
        let start = (1 << 33) - 90 * 1000; // one second before the wrap
        clock.observe(start);
        assert_eq!(clock.millis(start), 0);
        assert_eq!(clock.millis(start + 45_000), 500);
        // Past the wrap: the counter restarted near 0.
        assert_eq!(clock.millis(90_000), 2000);
        // A B-frame's PTS a little back across the wrap again.
        assert_eq!(clock.millis((1 << 33) - 1), 999);
        assert_eq!(clock.millis(180_000), 3000);
        // Earlier than the origin: clamped.
        let mut clock = Clock::default();
        clock.observe(10_000);
        assert_eq!(clock.millis(1_000), 0);
    }

    #[test]
    fn assembler_by_length_and_by_next_start() {
        let mut a = PesAssembler::default();
        // PES_packet_length 6: complete as soon as 12 bytes are in.
        let ev = a.push(&[0, 0, 1, 0xC0, 0, 6, 1, 2, 3], true);
        assert!(ev.complete.is_empty());
        let ev = a.push(&[4, 5, 6, 0xFF, 0xFF], false);
        assert_eq!(
            ev.complete,
            vec![vec![0, 0, 1, 0xC0, 0, 6, 1, 2, 3, 4, 5, 6]]
        );
        assert!(!a.is_active());

        // Length 0: complete when the next PES starts.
        let ev = a.push(&[0, 0, 1, 0xE0, 0, 0, 7], true);
        assert!(ev.complete.is_empty());
        a.push(&[8], false);
        let ev = a.push(&[0, 0, 1, 0xE0, 0, 0, 9], true);
        assert_eq!(ev.complete, vec![vec![0, 0, 1, 0xE0, 0, 0, 7, 8]]);
        assert_eq!(a.finish(), Ok(Some(vec![0, 0, 1, 0xE0, 0, 0, 9])));
        assert_eq!(a.finish(), Ok(None));

        // A start before the announced length was reached: the short one is dropped.
        a.push(&[0, 0, 1, 0xC0, 0, 9, 1], true);
        let ev = a.push(&[0, 0, 1, 0xC0, 0, 1, 1], true);
        assert_eq!(ev.dropped, Some(PesDrop::Truncated));
        assert_eq!(ev.complete, vec![vec![0, 0, 1, 0xC0, 0, 1, 1]]);
    }

    #[test]
    fn assembler_is_bounded() {
        let mut a = PesAssembler::default();
        a.push(&[0, 0, 1, 0xE0, 0, 0], true);
        let chunk = vec![0u8; 184];
        let mut dropped = None;
        for _ in 0..(MAX_PES_LEN / 184 + 2) {
            let ev = a.push(&chunk, false);
            if ev.dropped.is_some() {
                dropped = ev.dropped;
                break;
            }
        }
        assert_eq!(dropped, Some(PesDrop::TooLarge));
        assert!(!a.is_active());
        assert!(a.push(&chunk, false).complete.is_empty());
    }
}
