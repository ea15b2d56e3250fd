//! Media of a granted publish: audio and video messages, `onMetaData` and aggregate messages,
//! sent as [`IngestEvent`]s to the grant's sink, waiting while it is full.

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{End, MAX_ENCODER_NAME, Session, SessionError, Step, msg_type, truncated};
use crate::flv::{FlvTag, StreamMetadata, TagKind};
use crate::rtmp::IngestEvent;
use crate::rtmp::amf0::{self, Amf0Value};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) async fn on_media(&mut self, kind: TagKind, timestamp_ms: u32, data: Bytes) -> Step {
        if data.is_empty() || self.publishing.is_none() {
            return Ok(None);
        }
        self.active_until = tokio::time::Instant::now() + self.shared.cfg.idle_timeout;
        self.emit(IngestEvent::Tag(FlvTag {
            kind,
            timestamp_ms,
            data,
        }))
        .await
    }

    pub(super) async fn on_data(&mut self, timestamp_ms: u32, payload: &[u8]) -> Step {
        if self.publishing.is_none() {
            return Ok(None);
        }
        let values = amf0::decode_all(payload)?;
        let mut values = values.as_slice();
        if values.first().and_then(Amf0Value::as_str) == Some("@setDataFrame") {
            values = &values[1..];
        }
        let (Some(Amf0Value::String(name)), Some(meta)) = (values.first(), values.get(1)) else {
            return Ok(None);
        };
        if name != "onMetaData" || meta.properties().is_none() {
            return Ok(None);
        }
        let metadata = stream_metadata(meta);
        let script =
            amf0::encode_all(&[Amf0Value::String("onMetaData".into()), meta.clone()]).freeze();
        if let Some(end) = self.emit(IngestEvent::Metadata(metadata)).await? {
            return Ok(Some(end));
        }
        self.emit(IngestEvent::Tag(FlvTag {
            kind: TagKind::Script,
            timestamp_ms,
            data: script,
        }))
        .await
    }

    /// An aggregate message: FLV tags back to back, timestamps relative to the first.
    pub(super) async fn on_aggregate(&mut self, timestamp_ms: u32, mut payload: &[u8]) -> Step {
        let mut first_ts = None;
        while payload.len() >= 11 {
            let tag_type = payload[0];
            let len = (usize::from(payload[1]) << 16)
                | (usize::from(payload[2]) << 8)
                | usize::from(payload[3]);
            let ts = u32::from_be_bytes([payload[7], payload[4], payload[5], payload[6]]);
            let Some(data) = payload.get(11..11 + len) else {
                return Err(SessionError::Protocol("truncated aggregate message"));
            };
            let data = Bytes::copy_from_slice(data);
            payload = payload.get(11 + len + 4..).unwrap_or_default();
            let first = *first_ts.get_or_insert(ts);
            let ts = timestamp_ms.wrapping_add(ts.wrapping_sub(first));
            let kind = match tag_type {
                msg_type::AUDIO => TagKind::Audio,
                msg_type::VIDEO => TagKind::Video,
                _ => continue,
            };
            if let Some(end) = self.on_media(kind, ts, data).await? {
                return Ok(Some(end));
            }
        }
        Ok(None)
    }

    /// Sends to the sink of the current publish, waiting while it is full.
    async fn emit(&mut self, event: IngestEvent) -> Step {
        let Some(p) = &self.publishing else {
            return Ok(None);
        };
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => Ok(Some(End::Shutdown)),
            _ = p.kick.cancelled() => Ok(Some(End::Kicked)),
            sent = p.sink.send(event) => match sent {
                Ok(()) => Ok(None),
                Err(_) => Err(SessionError::ConsumerGone),
            },
        }
    }
}

pub(super) fn stream_metadata(meta: &Amf0Value) -> StreamMetadata {
    let number = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| meta.get(k).and_then(Amf0Value::as_number))
    };
    StreamMetadata {
        width: number(&["width"]),
        height: number(&["height"]),
        framerate: number(&["framerate", "videoframerate", "fps"]),
        video_bitrate_kbps: number(&["videodatarate"]),
        audio_bitrate_kbps: number(&["audiodatarate"]),
        encoder: meta
            .get("encoder")
            .and_then(Amf0Value::as_str)
            .map(|s| truncated(s, MAX_ENCODER_NAME).to_owned()),
    }
}
