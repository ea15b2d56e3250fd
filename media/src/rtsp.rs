//! RTSP pull: the server connects to a camera (`rtsp://`), sets up its H.264 video and AAC
//! audio, and turns the frames into the same [`IngestEvent`]s a publisher produces. RTSP,
//! RTP and depacketizing come from `retina`; frames arrive length-prefixed (AVCC) with the
//! decoder configuration record, which is what FLV carries, so no bitstream is rewritten.
//!
//! Credentials go to retina only, never into a log or an error: errors are retina's, whose
//! messages name the URL without credentials (the URL given here never holds any).

use std::time::Duration;

use futures_util::StreamExt;
use retina::client::{
    Credentials, Demuxed, PlayOptions, Session, SessionOptions, SetupOptions, Transport,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef};
use secrecy::{ExposeSecret, SecretString};

use crate::flv::{aac_frame, aac_sequence_header, avc_frame, avc_sequence_header};
use crate::ingest::IngestEvent;

/// Where to pull from.
#[derive(Debug, Clone)]
pub struct PullSource {
    /// `rtsp://host[:port]/path`, without credentials.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// RTP over the RTSP connection (default) or over UDP.
    pub udp: bool,
}

/// Why a pull stopped or could not start. Shown to the streamer: no credentials in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullError {
    #[error("invalid RTSP URL: {0}")]
    BadUrl(String),
    #[error("the camera did not answer in time")]
    Timeout,
    #[error("RTSP: {0}")]
    Rtsp(String),
    #[error("the camera offers no H.264 video (found: {0})")]
    NoVideo(String),
    #[error("the camera sent nothing for {0} s")]
    Stalled(u64),
    #[error("the camera ended the stream")]
    Ended,
}

/// How long DESCRIBE, SETUP and PLAY may take together.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A playing session that yields no frame for this long is dropped.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A playing RTSP session, read frame by frame.
pub struct RtspPull {
    session: Demuxed,
    video: usize,
    audio: Option<usize>,
    video_config_sent: bool,
    audio_config_sent: bool,
    pending: std::collections::VecDeque<IngestEvent>,
}

impl std::fmt::Debug for RtspPull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspPull")
            .field("video", &self.video)
            .field("audio", &self.audio)
            .finish()
    }
}

fn rtsp_error(e: impl std::fmt::Display) -> PullError {
    PullError::Rtsp(e.to_string())
}

impl RtspPull {
    /// DESCRIBE, SETUP of the first H.264 stream and the first AAC one, PLAY.
    pub async fn connect(src: &PullSource) -> Result<Self, PullError> {
        tokio::time::timeout(CONNECT_TIMEOUT, Self::connect_inner(src))
            .await
            .map_err(|_| PullError::Timeout)?
    }

    async fn connect_inner(src: &PullSource) -> Result<Self, PullError> {
        let url = url::Url::parse(&src.url).map_err(|e| PullError::BadUrl(e.to_string()))?;
        if url.scheme() != "rtsp" {
            return Err(PullError::BadUrl("the scheme must be rtsp://".into()));
        }
        let creds = src.username.as_ref().map(|u| Credentials {
            username: u.clone(),
            password: src
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default(),
        });
        let options = SessionOptions::default()
            .creds(creds)
            .user_agent(format!("streamhall/{}", env!("CARGO_PKG_VERSION")));
        let mut session = Session::describe(url, options).await.map_err(rtsp_error)?;
        let streams = session.streams();
        let video = streams
            .iter()
            .position(|s| s.media() == "video" && s.encoding_name() == "h264");
        let Some(video) = video else {
            let found: Vec<String> = streams
                .iter()
                .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
                .collect();
            return Err(PullError::NoVideo(if found.is_empty() {
                "nothing".into()
            } else {
                found.join(", ")
            }));
        };
        let audio = streams
            .iter()
            .position(|s| s.media() == "audio" && s.encoding_name() == "mpeg4-generic");
        let transport = || {
            if src.udp {
                Transport::Udp(Default::default())
            } else {
                Transport::Tcp(Default::default())
            }
        };
        let setup = || {
            SetupOptions::default()
                .transport(transport())
                .frame_format(FrameFormat::MP4)
        };
        session.setup(video, setup()).await.map_err(rtsp_error)?;
        if let Some(a) = audio {
            session.setup(a, setup()).await.map_err(rtsp_error)?;
        }
        let session = session
            .play(PlayOptions::default())
            .await
            .map_err(rtsp_error)?
            .demuxed()
            .map_err(rtsp_error)?;
        Ok(Self {
            session,
            video,
            audio,
            video_config_sent: false,
            audio_config_sent: false,
            pending: Default::default(),
        })
    }

    /// The next event; an error when the camera stalls, fails or ends the stream.
    pub async fn next(&mut self) -> Result<IngestEvent, PullError> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            let item = tokio::time::timeout(STALL_TIMEOUT, self.session.next())
                .await
                .map_err(|_| PullError::Stalled(STALL_TIMEOUT.as_secs()))?;
            match item {
                None => return Err(PullError::Ended),
                Some(Err(e)) => return Err(rtsp_error(e)),
                Some(Ok(item)) => self.convert(item),
            }
        }
    }

    fn convert(&mut self, item: CodecItem) {
        match item {
            CodecItem::VideoFrame(f) if f.stream_id() == self.video => {
                let ts = millis(f.timestamp().elapsed(), f.timestamp().clock_rate().get());
                if !self.video_config_sent || f.has_new_parameters() {
                    let Some(ParametersRef::Video(p)) =
                        self.session.streams()[self.video].parameters()
                    else {
                        // No SPS/PPS yet (the camera sends them in band): not decodable.
                        return;
                    };
                    self.pending
                        .push_back(IngestEvent::Tag(avc_sequence_header(p.extra_data(), ts)));
                    self.video_config_sent = true;
                }
                let keyframe = f.is_random_access_point();
                self.pending
                    .push_back(IngestEvent::Tag(avc_frame(f.data(), keyframe, ts, 0)));
            }
            CodecItem::AudioFrame(f) if Some(f.stream_id()) == self.audio => {
                let ts = millis(f.timestamp().elapsed(), f.timestamp().clock_rate().get());
                if !self.audio_config_sent {
                    let Some(ParametersRef::Audio(p)) = self
                        .audio
                        .and_then(|a| self.session.streams()[a].parameters())
                    else {
                        return;
                    };
                    self.pending
                        .push_back(IngestEvent::Tag(aac_sequence_header(p.extra_data(), ts)));
                    self.audio_config_sent = true;
                }
                self.pending
                    .push_back(IngestEvent::Tag(aac_frame(f.data(), ts)));
            }
            _ => {}
        }
    }
}

/// RTP time (elapsed since the session's start) in milliseconds, clamped to FLV's range.
fn millis(elapsed: i64, clock_rate: u32) -> u32 {
    let ms = elapsed.max(0) as i128 * 1000 / i128::from(clock_rate.max(1));
    ms.min(i128::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_time_becomes_milliseconds() {
        assert_eq!(millis(90_000, 90_000), 1000);
        assert_eq!(millis(48_000 * 3, 48_000), 3000);
        assert_eq!(millis(-5, 90_000), 0);
        assert_eq!(millis(i64::MAX, 1), u32::MAX);
    }
}
