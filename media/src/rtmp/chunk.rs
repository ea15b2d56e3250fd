//! The RTMP chunk stream: reassembling messages from interleaved chunks (fmt 0-3, extended
//! timestamps, per-chunk-stream state) under caps, and splitting our messages into chunks.

use std::collections::HashMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Chunk size both sides start with.
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Chunk streams one peer may keep state for. Encoders use a handful.
const MAX_CHUNK_STREAMS: usize = 64;
const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;

/// One reassembled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub csid: u32,
    pub msg_type: u8,
    pub stream_id: u32,
    /// Absolute, in milliseconds (wrapping at 2^32).
    pub timestamp: u32,
    pub payload: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("message of {len} bytes is over the {max} byte limit")]
    MessageTooLong { len: u32, max: u32 },
    #[error("chunk continues chunk stream {0} that has no header yet")]
    NoPreviousHeader(u32),
    #[error("new message header on chunk stream {0} before its previous message ended")]
    InterruptedMessage(u32),
    #[error("more than {MAX_CHUNK_STREAMS} chunk streams")]
    TooManyChunkStreams,
    #[error("messages in progress hold more than {0} bytes")]
    TooMuchBuffered(usize),
}

#[derive(Debug, Default)]
struct StreamState {
    timestamp: u32,
    /// The timestamp field of the last header: the delta a fmt 3 new message reuses.
    timestamp_field: u32,
    /// The last header's timestamp field was extended: fmt 3 chunks may repeat it.
    extended: bool,
    msg_len: u32,
    msg_type: u8,
    stream_id: u32,
    /// The message being reassembled, `None` between messages.
    partial: Option<BytesMut>,
}

/// Reassembles messages from the bytes a peer sends. Feed it with [`decode`](Self::decode)
/// after every read; it consumes whole chunks only, so the caller's buffer never holds more
/// than one chunk plus one read.
#[derive(Debug)]
pub struct ChunkDecoder {
    chunk_size: u32,
    max_message_len: u32,
    max_buffered: usize,
    buffered: usize,
    streams: HashMap<u32, StreamState>,
}

impl ChunkDecoder {
    /// `max_message_len` bounds each message; all messages in progress together are bounded
    /// by twice that.
    pub fn new(max_message_len: u32) -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_message_len,
            max_buffered: (max_message_len as usize).saturating_mul(2),
            buffered: 0,
            streams: HashMap::new(),
        }
    }

    /// Applies the peer's SetChunkSize; the caller checks it against its own cap first.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.max(1);
    }

    /// Drops the partial message on `csid` (the peer's Abort message).
    pub fn abort(&mut self, csid: u32) {
        if let Some(partial) = self.streams.get_mut(&csid).and_then(|s| s.partial.take()) {
            self.buffered -= partial.len();
        }
    }

    /// Bytes held in messages not yet complete.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Returns the next complete message, consuming its chunks from `buf`, or `None` when
    /// `buf` does not yet hold a full chunk that completes one.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ChunkError> {
        loop {
            match self.decode_chunk(buf)? {
                ChunkOutcome::NeedMore => return Ok(None),
                ChunkOutcome::Message(m) => return Ok(Some(m)),
                ChunkOutcome::Partial => {}
            }
        }
    }

    fn decode_chunk(&mut self, buf: &mut BytesMut) -> Result<ChunkOutcome, ChunkError> {
        let mut r: &[u8] = buf;
        // Basic header.
        let Some(&first) = r.first() else {
            return Ok(ChunkOutcome::NeedMore);
        };
        let fmt = first >> 6;
        let csid = match first & 0x3F {
            0 => {
                let Some(&b) = r.get(1) else {
                    return Ok(ChunkOutcome::NeedMore);
                };
                r = &r[2..];
                64 + u32::from(b)
            }
            1 => {
                let (Some(&b1), Some(&b2)) = (r.get(1), r.get(2)) else {
                    return Ok(ChunkOutcome::NeedMore);
                };
                r = &r[3..];
                64 + u32::from(b1) + 256 * u32::from(b2)
            }
            n => {
                r = &r[1..];
                u32::from(n)
            }
        };

        if !self.streams.contains_key(&csid) {
            if fmt != 0 {
                return Err(ChunkError::NoPreviousHeader(csid));
            }
            if self.streams.len() >= MAX_CHUNK_STREAMS {
                return Err(ChunkError::TooManyChunkStreams);
            }
        }
        let prev = self.streams.get(&csid);
        let in_progress = prev.is_some_and(|s| s.partial.is_some());

        // Message header.
        let header_len = [11, 7, 3, 0][usize::from(fmt)];
        if r.len() < header_len {
            return Ok(ChunkOutcome::NeedMore);
        }
        let mut timestamp_field = prev.map_or(0, |s| s.timestamp_field);
        let mut msg_len = prev.map_or(0, |s| s.msg_len);
        let mut msg_type = prev.map_or(0, |s| s.msg_type);
        let mut stream_id = prev.map_or(0, |s| s.stream_id);
        if fmt <= 2 {
            timestamp_field = get_u24(&mut r);
        }
        if fmt <= 1 {
            msg_len = get_u24(&mut r);
            msg_type = r.get_u8();
        }
        if fmt == 0 {
            stream_id = r.get_u32_le();
        }
        if fmt != 3 && in_progress {
            return Err(ChunkError::InterruptedMessage(csid));
        }

        // Extended timestamp: announced by 0xFFFFFF in fmt 0-2; a fmt 3 chunk after an
        // extended header repeats it. Some encoders skip the repeat, so it is only taken
        // when the bytes match.
        let mut extended = prev.is_some_and(|s| s.extended);
        if fmt <= 2 {
            extended = timestamp_field == EXTENDED_TIMESTAMP;
            if extended {
                if r.len() < 4 {
                    return Ok(ChunkOutcome::NeedMore);
                }
                timestamp_field = r.get_u32();
            }
        } else if extended {
            if r.len() < 4 {
                return Ok(ChunkOutcome::NeedMore);
            }
            if r[..4] == timestamp_field.to_be_bytes() {
                r.advance(4);
            }
        }

        if msg_len > self.max_message_len {
            return Err(ChunkError::MessageTooLong {
                len: msg_len,
                max: self.max_message_len,
            });
        }
        let already = prev
            .and_then(|s| s.partial.as_ref())
            .map_or(0, BytesMut::len);
        let remaining = msg_len as usize - already;
        let payload_len = remaining.min(self.chunk_size as usize);
        if r.len() < payload_len {
            return Ok(ChunkOutcome::NeedMore);
        }
        let whole_message = payload_len == remaining && !in_progress;
        if !whole_message && self.buffered + payload_len > self.max_buffered {
            return Err(ChunkError::TooMuchBuffered(self.max_buffered));
        }

        // The whole chunk is here: commit.
        let header_consumed = buf.len() - r.len();
        let state = self.streams.entry(csid).or_default();
        if !in_progress {
            state.timestamp = match fmt {
                0 => timestamp_field,
                _ => state.timestamp.wrapping_add(timestamp_field),
            };
        }
        state.timestamp_field = timestamp_field;
        state.extended = extended;
        state.msg_len = msg_len;
        state.msg_type = msg_type;
        state.stream_id = stream_id;
        buf.advance(header_consumed);

        if whole_message {
            // Copied out, so that a consumer holding a small tag does not pin the read buffer.
            let payload = Bytes::copy_from_slice(&buf[..payload_len]);
            buf.advance(payload_len);
            return Ok(ChunkOutcome::Message(Message {
                csid,
                msg_type,
                stream_id,
                timestamp: state.timestamp,
                payload,
            }));
        }
        let partial = state
            .partial
            .get_or_insert_with(|| BytesMut::with_capacity((msg_len as usize).min(64 * 1024)));
        partial.extend_from_slice(&buf[..payload_len]);
        buf.advance(payload_len);
        self.buffered += payload_len;
        if partial.len() < msg_len as usize {
            return Ok(ChunkOutcome::Partial);
        }
        let payload = state.partial.take().unwrap_or_default().freeze();
        self.buffered -= payload.len();
        Ok(ChunkOutcome::Message(Message {
            csid,
            msg_type,
            stream_id,
            timestamp: state.timestamp,
            payload,
        }))
    }
}

enum ChunkOutcome {
    NeedMore,
    Partial,
    Message(Message),
}

fn get_u24(r: &mut &[u8]) -> u32 {
    let v = u32::from(r[0]) << 16 | u32::from(r[1]) << 8 | u32::from(r[2]);
    r.advance(3);
    v
}

fn put_u24(out: &mut BytesMut, v: u32) {
    out.put_u8((v >> 16) as u8);
    out.put_u8((v >> 8) as u8);
    out.put_u8(v as u8);
}

/// Splits our messages into chunks: a fmt 0 header, then fmt 3 continuations.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: usize,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE as usize,
        }
    }
}

impl ChunkEncoder {
    /// Takes effect for messages written after the SetChunkSize that announces it.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.max(1) as usize;
    }

    /// `csid` must be 2..=65599; `payload` at most 16 MiB - 1 (the 24-bit length field).
    pub fn write(
        &self,
        out: &mut BytesMut,
        csid: u32,
        msg_type: u8,
        stream_id: u32,
        timestamp: u32,
        payload: &[u8],
    ) {
        let extended = timestamp >= EXTENDED_TIMESTAMP;
        let mut first = true;
        let mut rest = payload;
        loop {
            let n = rest.len().min(self.chunk_size);
            put_basic_header(out, if first { 0 } else { 3 }, csid);
            if first {
                put_u24(
                    out,
                    if extended {
                        EXTENDED_TIMESTAMP
                    } else {
                        timestamp
                    },
                );
                put_u24(out, payload.len() as u32);
                out.put_u8(msg_type);
                out.put_u32_le(stream_id);
            }
            if extended {
                out.put_u32(timestamp);
            }
            out.put_slice(&rest[..n]);
            rest = &rest[n..];
            first = false;
            if rest.is_empty() {
                return;
            }
        }
    }
}

fn put_basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    match csid {
        2..=63 => out.put_u8(fmt << 6 | csid as u8),
        64..=319 => {
            out.put_u8(fmt << 6);
            out.put_u8((csid - 64) as u8);
        }
        _ => {
            let v = csid.saturating_sub(64);
            out.put_u8(fmt << 6 | 1);
            out.put_u8(v as u8);
            out.put_u8((v >> 8) as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn decode_all(dec: &mut ChunkDecoder, bytes: &[u8]) -> Vec<Message> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(m) = dec.decode(&mut buf).unwrap() {
            out.push(m);
        }
        assert!(buf.is_empty(), "{} bytes left over", buf.len());
        out
    }

    /// Feeds one byte at a time, as a slow network would.
    fn decode_bytewise(dec: &mut ChunkDecoder, bytes: &[u8]) -> Vec<Message> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &b in bytes {
            buf.put_u8(b);
            while let Some(m) = dec.decode(&mut buf).unwrap() {
                out.push(m);
            }
        }
        assert!(buf.is_empty());
        out
    }

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn message_across_chunk_boundaries_bytewise() {
        let body = payload(300);
        let mut wire = BytesMut::new();
        ChunkEncoder::default().write(&mut wire, 6, 9, 1, 1234, &body);
        // 300 bytes at 128 a chunk: 12-byte header + 128, 1 + 128, 1 + 44.
        assert_eq!(wire.len(), 12 + 128 + 1 + 128 + 1 + 44);
        assert_eq!(wire[12 + 128], 0xC0 | 6);
        let msgs = decode_bytewise(&mut ChunkDecoder::new(1 << 20), &wire);
        assert_eq!(
            msgs,
            vec![Message {
                csid: 6,
                msg_type: 9,
                stream_id: 1,
                timestamp: 1234,
                payload: body.into()
            }]
        );
    }

    #[test]
    fn interleaved_chunk_streams_and_header_compression() {
        // Video on csid 6 (200 bytes, split), audio on csid 4 in between, then fmt 1/2/3 messages.
        let video = payload(200);
        let mut wire = BytesMut::new();
        wire.put_slice(&[0x06, 0, 0, 100, 0, 0, 200, 9, 1, 0, 0, 0]); // fmt 0, ts 100, len 200
        wire.put_slice(&video[..128]);
        wire.put_slice(&[0x04, 0, 0, 90, 0, 0, 3, 8, 1, 0, 0, 0, b'a', b'b', b'c']); // audio ts 90
        wire.put_u8(0xC6); // fmt 3 continuation of the video message
        wire.put_slice(&video[128..]);
        wire.put_slice(&[0x44, 0, 0, 23, 0, 0, 2, 8, b'd', b'e']); // fmt 1: delta 23, len 2
        wire.put_slice(&[0x84, 0, 0, 20, b'f', b'g']); // fmt 2: delta 20, same len/type
        wire.put_slice(&[0xC4, b'h', b'i']); // fmt 3 new message: delta 20 again
        let msgs = decode_all(&mut ChunkDecoder::new(1 << 20), &wire);
        let summary: Vec<_> = msgs
            .iter()
            .map(|m| (m.csid, m.msg_type, m.timestamp, &m.payload[..]))
            .collect();
        assert_eq!(
            summary,
            vec![
                (4, 8, 90, &b"abc"[..]),
                (6, 9, 100, &video[..]),
                (4, 8, 113, &b"de"[..]),
                (4, 8, 133, &b"fg"[..]),
                (4, 8, 153, &b"hi"[..]),
            ]
        );
        assert!(msgs.iter().all(|m| m.stream_id == 1));
    }

    #[test]
    fn extended_timestamps() {
        // fmt 0 with an extended timestamp, split in two chunks; the continuation repeats it.
        let body = payload(150);
        let ts = 0x0123_4567u32;
        let mut wire = BytesMut::new();
        ChunkEncoder::default().write(&mut wire, 4, 8, 1, ts, &body);
        assert_eq!(&wire[1..4], &[0xFF, 0xFF, 0xFF]);
        assert_eq!(&wire[12 + 4 + 128 + 1..12 + 4 + 128 + 5], &ts.to_be_bytes());
        // Then a fmt 3 new message whose delta is the same extended field (ffmpeg's reading).
        wire.put_u8(0xC4);
        wire.put_slice(&ts.to_be_bytes());
        let short = payload(150);
        wire.put_slice(&short[..128]);
        wire.put_u8(0xC4);
        wire.put_slice(&ts.to_be_bytes());
        wire.put_slice(&short[128..]);
        // Then fmt 1 with an extended delta, continuation *without* the repeat.
        wire.put_slice(&[0x44, 0xFF, 0xFF, 0xFF, 0, 0, 130, 8, 0, 0, 0x10, 0]);
        let third = payload(130);
        wire.put_slice(&third[..128]);
        wire.put_u8(0xC4);
        wire.put_slice(&third[128..]);
        // Only the next chunk shows that no repeat followed.
        wire.put_slice(&[0x03, 0, 0, 0, 0, 0, 1, 20, 0, 0, 0, 0, 0x05]);

        let msgs = decode_bytewise(&mut ChunkDecoder::new(1 << 20), &wire);
        let stamps: Vec<_> = msgs.iter().map(|m| m.timestamp).collect();
        assert_eq!(stamps, vec![ts, ts * 2, ts * 2 + 0x1000, 0]);
        assert_eq!(&msgs[0].payload[..], &body[..]);
        assert_eq!(&msgs[1].payload[..], &short[..]);
        assert_eq!(&msgs[2].payload[..], &third[..]);
    }

    #[test]
    fn larger_chunk_size_and_long_csids() {
        let body = payload(5000);
        let mut enc = ChunkEncoder::default();
        enc.set_chunk_size(4096);
        let mut dec = ChunkDecoder::new(1 << 20);
        dec.set_chunk_size(4096);
        let mut wire = BytesMut::new();
        enc.write(&mut wire, 100, 9, 1, 0, &body);
        enc.write(&mut wire, 1000, 8, 1, 5, b"x");
        assert_eq!(wire[0], 0); // two-byte basic header
        let msgs = decode_all(&mut dec, &wire);
        assert_eq!((msgs[0].csid, msgs[0].payload.len()), (100, 5000));
        assert_eq!((msgs[1].csid, &msgs[1].payload[..]), (1000, &b"x"[..]));
    }

    #[test]
    fn zero_length_message() {
        let msgs = decode_all(
            &mut ChunkDecoder::new(100),
            &[0x03, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0],
        );
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].payload.is_empty());
    }

    #[test]
    fn protocol_violations_are_errors() {
        let mut buf = BytesMut::from(&[0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 20, 0, 0, 0, 0][..]);
        assert_eq!(
            ChunkDecoder::new(1 << 20).decode(&mut buf),
            Err(ChunkError::MessageTooLong {
                len: 0xFF_FFFF,
                max: 1 << 20
            })
        );
        let mut buf = BytesMut::from(&[0xC5, 1, 2][..]);
        assert_eq!(
            ChunkDecoder::new(100).decode(&mut buf),
            Err(ChunkError::NoPreviousHeader(5))
        );
        let mut buf = BytesMut::from(&[0x45, 0, 0, 0, 0, 0, 1, 8][..]);
        assert_eq!(
            ChunkDecoder::new(100).decode(&mut buf),
            Err(ChunkError::NoPreviousHeader(5))
        );

        // A fresh fmt 0 header while a message is half done.
        let mut buf = BytesMut::new();
        buf.put_slice(&[0x05, 0, 0, 0, 0, 1, 0, 9, 0, 0, 0, 0]);
        buf.put_slice(&[0u8; 128]);
        buf.put_slice(&[0x05, 0, 0, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0]);
        assert_eq!(
            ChunkDecoder::new(1000).decode(&mut buf),
            Err(ChunkError::InterruptedMessage(5))
        );

        // Many chunk streams.
        let mut dec = ChunkDecoder::new(1000);
        let mut buf = BytesMut::new();
        for csid in 3..(3 + MAX_CHUNK_STREAMS as u8 + 1) {
            buf.put_slice(&[0, csid, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 0xAA]);
        }
        let mut result = Ok(None);
        for _ in 0..=MAX_CHUNK_STREAMS {
            result = dec.decode(&mut buf);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(ChunkError::TooManyChunkStreams));
    }

    #[test]
    fn buffered_partial_messages_are_bounded() {
        // Max message 200, so at most 400 bytes in progress: four half-sent messages are too many.
        let mut dec = ChunkDecoder::new(200);
        let mut buf = BytesMut::new();
        for csid in 4..8u8 {
            buf.put_slice(&[csid, 0, 0, 0, 0, 0, 200, 9, 0, 0, 0, 0]);
            buf.put_slice(&[0u8; 128]);
        }
        // Three partials fit (384 bytes); the fourth pushes past 400.
        assert_eq!(dec.decode(&mut buf), Err(ChunkError::TooMuchBuffered(400)));
        assert_eq!(dec.buffered, 384);
        dec.abort(4);
        assert_eq!(dec.buffered, 256);
    }

    #[test]
    fn pseudo_random_input_never_panics() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..300 {
            let mut dec = ChunkDecoder::new(4096);
            if round % 2 == 0 {
                dec.set_chunk_size(1 + (round % 300));
            }
            let mut buf = BytesMut::new();
            for _ in 0..512 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Bias towards small csids and fmt 0 so that real headers get parsed.
                let b = (state >> 32) as u8;
                buf.put_u8(if state.is_multiple_of(5) { b & 0x07 } else { b });
            }
            while let Ok(Some(_)) = dec.decode(&mut buf) {}
        }
    }
}
