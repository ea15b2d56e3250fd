//! The NetConnection and NetStream commands of one RTMP connection: `connect` (checking the
//! application), `createStream`, `publish` (asking the [`PublishHandler`](crate::rtmp::PublishHandler)
//! for a grant), unpublishing, and the `_result`/`onStatus` replies encoders wait for.

use std::time::Instant;

use secrecy::SecretString;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{debug, info, warn};

use super::{
    CSID_COMMAND, CSID_STREAM, End, MAX_ENCODER_NAME, MAX_STREAMS, OUT_CHUNK_SIZE, Publishing,
    Session, SessionError, Step, WINDOW_SIZE, msg_type, truncated,
};
use crate::ingest::Protocol;
use crate::rtmp::amf0::{self, Amf0Value};
use crate::rtmp::{PublishRejected, PublishRequest, strip_query};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) async fn on_command(&mut self, stream_id: u32, payload: &[u8]) -> Step {
        let values = amf0::decode_all(payload)?;
        let name = values
            .first()
            .and_then(Amf0Value::as_str)
            .ok_or(SessionError::Protocol("command without a name"))?;
        let txn = values.get(1).and_then(Amf0Value::as_number).unwrap_or(0.0);
        if !self.connected && name != "connect" {
            return Err(SessionError::Protocol("command before connect"));
        }
        match name {
            "connect" => self.on_connect(txn, values.get(2)),
            "releaseStream" | "FCPublish" => {
                self.send_command(
                    CSID_COMMAND,
                    0,
                    &[
                        result(),
                        Amf0Value::Number(txn),
                        Amf0Value::Null,
                        Amf0Value::Undefined,
                    ],
                );
                Ok(None)
            }
            "createStream" => {
                if self.streams_created >= MAX_STREAMS {
                    return Err(SessionError::Protocol("too many streams"));
                }
                self.streams_created += 1;
                let id = f64::from(self.streams_created);
                self.send_command(
                    CSID_COMMAND,
                    0,
                    &[
                        result(),
                        Amf0Value::Number(txn),
                        Amf0Value::Null,
                        Amf0Value::Number(id),
                    ],
                );
                Ok(None)
            }
            "publish" => {
                let key = values
                    .get(3)
                    .and_then(Amf0Value::as_str)
                    .map(strip_query)
                    .unwrap_or_default();
                let key = SecretString::from(key.to_owned());
                drop(values);
                self.on_publish(stream_id, key).await
            }
            "FCUnpublish" | "deleteStream" | "closeStream" => {
                if let Some(p) = self.publishing.take() {
                    info!("publish ended by the encoder");
                    if name == "FCUnpublish" {
                        self.send_command(
                            CSID_STREAM,
                            p.stream_id,
                            &on_status(
                                "status",
                                "NetStream.Unpublish.Success",
                                "Stopped publishing.",
                            ),
                        );
                    }
                }
                Ok(None)
            }
            "play" | "play2" => Err(SessionError::Protocol("playback is not served over RTMP")),
            _ => {
                debug!(command = %truncated(name, 64), "ignoring command");
                Ok(None)
            }
        }
    }

    fn on_connect(&mut self, txn: f64, cmd: Option<&Amf0Value>) -> Step {
        if self.connected {
            return Err(SessionError::Protocol("second connect"));
        }
        let app = cmd
            .and_then(|c| c.get("app"))
            .and_then(Amf0Value::as_str)
            .unwrap_or_default();
        let app = strip_query(app).trim_end_matches('/');
        if app != self.shared.cfg.app {
            self.send_command(
                CSID_COMMAND,
                0,
                &[
                    Amf0Value::String("_error".into()),
                    Amf0Value::Number(txn),
                    Amf0Value::Null,
                    status_object(
                        "error",
                        "NetConnection.Connect.Rejected",
                        "Unknown application.",
                    ),
                ],
            );
            self.shared
                .limiter
                .record_failure(self.peer.ip(), Instant::now());
            warn!("connect rejected: unknown application");
            return Err(SessionError::UnknownApp);
        }
        self.encoder_name = cmd
            .and_then(|c| c.get("flashVer"))
            .and_then(Amf0Value::as_str)
            .map(|s| truncated(s, MAX_ENCODER_NAME).to_owned());
        self.connected = true;
        self.active_until = tokio::time::Instant::now() + self.shared.cfg.publish_timeout;

        self.send_protocol(msg_type::WINDOW_ACK_SIZE, &WINDOW_SIZE.to_be_bytes());
        let mut bw = [2u8; 5]; // limit type 2: dynamic
        bw[..4].copy_from_slice(&WINDOW_SIZE.to_be_bytes());
        self.send_protocol(msg_type::SET_PEER_BANDWIDTH, &bw);
        self.send_protocol(msg_type::SET_CHUNK_SIZE, &OUT_CHUNK_SIZE.to_be_bytes());
        self.encoder.set_chunk_size(OUT_CHUNK_SIZE);
        let mut info = status_object(
            "status",
            "NetConnection.Connect.Success",
            "Connection succeeded.",
        );
        if let Amf0Value::Object(props) = &mut info {
            props.push(("objectEncoding".into(), Amf0Value::Number(0.0)));
        }
        self.send_command(
            CSID_COMMAND,
            0,
            &[
                result(),
                Amf0Value::Number(txn),
                Amf0Value::Object(vec![
                    ("fmsVer".into(), Amf0Value::String("FMS/3,0,1,123".into())),
                    ("capabilities".into(), Amf0Value::Number(31.0)),
                ]),
                info,
            ],
        );
        Ok(None)
    }

    async fn on_publish(&mut self, stream_id: u32, stream_key: SecretString) -> Step {
        if self.publishing.is_some() {
            return Err(SessionError::Protocol("publish while publishing"));
        }
        let req = PublishRequest {
            stream_key,
            peer: self.peer,
            encoder: self.encoder_name.clone(),
            protocol: Protocol::Rtmp,
        };
        let decision = tokio::select! {
            _ = self.shutdown.cancelled() => return Ok(Some(End::Shutdown)),
            d = tokio::time::timeout(self.shared.cfg.publish_decision_timeout, self.shared.handler.publish(req)) => d,
        };
        let rejected = match decision {
            Ok(Ok(grant)) => {
                if grant.kick.is_cancelled() {
                    return Ok(Some(End::Kicked));
                }
                // User control StreamBegin, then the status encoders wait for.
                let mut begin = [0u8; 6];
                begin[2..].copy_from_slice(&stream_id.to_be_bytes());
                self.send_protocol(msg_type::USER_CONTROL, &begin);
                self.send_command(
                    CSID_STREAM,
                    stream_id,
                    &on_status("status", "NetStream.Publish.Start", "Publishing."),
                );
                self.publishing = Some(Publishing {
                    sink: grant.sink,
                    kick: grant.kick,
                    stream_id,
                });
                self.active_until = tokio::time::Instant::now() + self.shared.cfg.idle_timeout;
                info!(
                    encoder = self.encoder_name.as_deref().unwrap_or(""),
                    "publish started"
                );
                return Ok(None);
            }
            Ok(Err(rejected)) => rejected,
            Err(_) => PublishRejected::Internal,
        };
        let description = match rejected {
            PublishRejected::BadKey => "Invalid stream key.",
            PublishRejected::Busy => "Stream is already live.",
            PublishRejected::LiveElsewhere => {
                "Stream is already live through another server of this site; stop that encoder first."
            }
            PublishRejected::Unsupported => "This stream cannot be taken.",
            PublishRejected::Unverified => {
                "The channel owner's email address is not verified; open the link in the verification email (or resend it from the dashboard), then go live."
            }
            PublishRejected::Internal => "Try again later.",
        };
        self.send_command(
            CSID_STREAM,
            stream_id,
            &on_status("error", "NetStream.Publish.BadName", description),
        );
        if rejected == PublishRejected::BadKey {
            self.shared
                .limiter
                .record_failure(self.peer.ip(), Instant::now());
        }
        warn!(reason = %rejected, "publish rejected");
        if decision.is_err() {
            return Err(SessionError::DecisionTimeout);
        }
        Err(SessionError::Rejected(rejected))
    }
}

fn result() -> Amf0Value {
    Amf0Value::String("_result".into())
}

fn status_object(level: &str, code: &str, description: &str) -> Amf0Value {
    Amf0Value::Object(vec![
        ("level".into(), Amf0Value::String(level.into())),
        ("code".into(), Amf0Value::String(code.into())),
        ("description".into(), Amf0Value::String(description.into())),
    ])
}

fn on_status(level: &str, code: &str, description: &str) -> [Amf0Value; 4] {
    [
        Amf0Value::String("onStatus".into()),
        Amf0Value::Number(0.0),
        Amf0Value::Null,
        status_object(level, code, description),
    ]
}
