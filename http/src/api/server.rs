//! `/api/v1/server`: what a client needs to know about this server, e.g. where encoders push.

use std::net::SocketAddr;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use ts_rs::TS;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ServerInfo {
    /// The encoder's "Server" field (OBS: Settings → Stream → Custom); the stream key goes
    /// in its own field.
    pub rtmp_url: String,
    /// SRT: `srt://HOST:PORT`; the encoder adds `?streamid=#!::r=live/KEY,m=publish`.
    pub srt_url: String,
    /// Whether going live needs a verified email address (`accounts.require_email_verification`).
    pub email_verification_required: bool,
    /// Whether this server sends email (verification links, password resets).
    pub sends_email: bool,
}

/// Public facts about this server.
#[utoipa::path(get, path = "/api/v1/server", tag = "server",
    responses((status = 200, body = ServerInfo)))]
pub async fn info(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(ServerInfo {
        rtmp_url: state.rtmp_url.clone(),
        srt_url: state.srt_url.clone(),
        email_verification_required: state.accounts.require_verified_email,
        sends_email: state.accounts.mailer.is_some(),
    })
}

/// The RTMP URL encoders use: the host people open (from `public_url`) with the RTMP port.
pub fn rtmp_url(public_url: &str, rtmp: SocketAddr) -> String {
    format!(
        "rtmp://{}:{}/live",
        ingest_host(public_url, rtmp),
        rtmp.port()
    )
}

/// The SRT URL encoders call: the host people open with the SRT port.
pub fn srt_url(public_url: &str, srt: SocketAddr) -> String {
    format!("srt://{}:{}", ingest_host(public_url, srt), srt.port())
}

fn ingest_host(public_url: &str, listen: SocketAddr) -> String {
    let rest = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = if let Some(v6) = authority.strip_prefix('[') {
        format!("[{}]", v6.split(']').next().unwrap_or_default())
    } else {
        authority.split(':').next().unwrap_or_default().to_owned()
    };
    if host.is_empty() {
        listen.ip().to_string()
    } else {
        host
    }
}

#[cfg(test)]
mod tests {
    use super::rtmp_url;

    #[test]
    fn rtmp_url_takes_the_public_host_and_the_rtmp_port() {
        let rtmp = "0.0.0.0:1935".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(
            rtmp_url("http://127.0.0.1:8080", rtmp),
            "rtmp://127.0.0.1:1935/live"
        );
        assert_eq!(
            rtmp_url("https://live.example.com", rtmp),
            "rtmp://live.example.com:1935/live"
        );
        assert_eq!(
            rtmp_url("https://live.example.com:8443/base", rtmp),
            "rtmp://live.example.com:1935/live"
        );
        assert_eq!(
            rtmp_url("http://[::1]:8080", rtmp),
            "rtmp://[::1]:1935/live"
        );
    }
}
