//! `/api/v1/channels/{slug}/ingest`: how a channel's stream comes in. Pushed by an encoder
//! (RTMP or SRT, optionally with an SRT passphrase) or pulled by the server from an RTSP
//! camera. Owner or admin only. Passphrases and camera credentials are write-only: stored
//! sealed, never returned, never logged.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
use serde::{Deserialize, Serialize};
use streamhall_actors::pull::{PullStatus, check_pull_url};
use streamhall_entities::channel;
use ts_rs::TS;
use utoipa::ToSchema;

use super::channels::find_changeable;
use crate::{
    auth::AuthUser,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

/// A channel's ingest settings as its owner sees them: no secret in it.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChannelIngest {
    /// An SRT passphrase is set: SRT callers must encrypt with it.
    pub srt_passphrase_set: bool,
    /// `push` (an encoder connects with the stream key) or `pull` (the server pulls
    /// `pull_url`).
    pub source: String,
    pub pull_url: Option<String>,
    /// Camera credentials are stored (never shown).
    pub pull_has_credentials: bool,
    /// `tcp` or `udp`.
    pub pull_transport: String,
    /// Pulled all the time; otherwise only while someone watches.
    pub pull_always_on: bool,
    /// The pull right now, for a pulling channel.
    #[schema(value_type = Option<Object>)]
    pub pull_state: Option<PullStatus>,
}

/// Changes to a channel's ingest; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct UpdateChannelIngest {
    /// 10-79 characters; `null` turns SRT encryption off.
    #[serde(default, deserialize_with = "double_option")]
    #[ts(type = "string | null")]
    pub srt_passphrase: Option<Option<String>>,
    pub source: Option<String>,
    /// `rtsp://host[:port]/path`, without credentials.
    pub pull_url: Option<String>,
    /// With `pull_password`; both empty clear the stored credentials.
    pub pull_username: Option<String>,
    pub pull_password: Option<String>,
    pub pull_transport: Option<String>,
    pub pull_always_on: Option<bool>,
}

/// `null` (clear) apart from absent (keep).
fn double_option<'de, D>(d: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(d).map(Some)
}

fn view(state: &AppState, c: &channel::Model) -> ChannelIngest {
    ChannelIngest {
        srt_passphrase_set: c.srt_passphrase.is_some(),
        source: c.source.clone(),
        pull_url: c.pull_url.clone(),
        pull_has_credentials: c.pull_credentials.is_some(),
        pull_transport: c.pull_transport.clone(),
        pull_always_on: c.pull_always_on,
        pull_state: state.live.pulls.status(c.id),
    }
}

/// The channel's ingest settings.
#[utoipa::path(get, path = "/api/v1/channels/{slug}/ingest", tag = "channels", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = ChannelIngest), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    Ok(HttpResponse::Ok().json(view(&state, &c)))
}

/// Changes how the channel's stream comes in. A pull starts or stops at once.
#[utoipa::path(put, path = "/api/v1/channels/{slug}/ingest", tag = "channels", security(("bearer" = [])),
    params(("slug" = String, Path)), request_body = UpdateChannelIngest,
    responses((status = 200, body = ChannelIngest), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    slug: web::Path<String>,
    body: web::Json<UpdateChannelIngest>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    let body = body.into_inner();
    let seal = |plain: &str| {
        state
            .live
            .sealer
            .seal(plain)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))
    };
    let mut next = c.clone();
    if let Some(p) = &body.srt_passphrase {
        next.srt_passphrase = match p {
            None => None,
            Some(p) if (10..=79).contains(&p.chars().count()) && p.is_ascii() => Some(seal(p)?),
            Some(_) => {
                return Err(ApiError::invalid(
                    "srt_passphrase",
                    "the SRT passphrase must be 10 to 79 ASCII characters",
                ));
            }
        };
    }
    if let Some(source) = &body.source {
        if source != "push" && source != "pull" {
            return Err(ApiError::invalid("source", "source must be push or pull"));
        }
        // Pulling a camera is streaming too: it needs a verified address when encoders do.
        if source == "pull"
            && c.source != "pull"
            && state.accounts.require_verified_email
            && !caller.email_verified()
        {
            return Err(ApiError::Forbidden(
                "verify your email address before going live: open the link we emailed you",
            ));
        }
        next.source = source.clone();
    }
    if let Some(url) = &body.pull_url {
        let url = url.trim();
        if url.is_empty() {
            next.pull_url = None;
        } else {
            if url.len() > 2048 {
                return Err(ApiError::invalid("pull_url", "the URL is too long"));
            }
            check_pull_url(url, &state.live.ingest_allow_private)
                .await
                .map_err(|m| ApiError::invalid("pull_url", m))?;
            next.pull_url = Some(url.to_owned());
        }
    }
    match (&body.pull_username, &body.pull_password) {
        (None, None) => {}
        (Some(u), p) if u.is_empty() && p.as_deref().unwrap_or("").is_empty() => {
            next.pull_credentials = None;
        }
        (Some(u), p) => {
            let p = p.as_deref().unwrap_or("");
            if u.contains(':') || u.len() > 256 || p.len() > 256 {
                return Err(ApiError::invalid(
                    "pull_username",
                    "the user name may not contain ':' and both fields are at most 256 characters",
                ));
            }
            next.pull_credentials = Some(seal(&format!("{u}:{p}"))?);
        }
        (None, Some(_)) => {
            return Err(ApiError::invalid(
                "pull_username",
                "a camera password needs its user name",
            ));
        }
    }
    if let Some(t) = &body.pull_transport {
        if t != "tcp" && t != "udp" {
            return Err(ApiError::invalid(
                "pull_transport",
                "pull_transport must be tcp or udp",
            ));
        }
        next.pull_transport = t.clone();
    }
    if let Some(on) = body.pull_always_on {
        next.pull_always_on = on;
    }
    if next.source == "pull" && next.pull_url.is_none() {
        return Err(ApiError::invalid(
            "pull_url",
            "a pulled channel needs an rtsp:// URL",
        ));
    }
    let mut active = next.clone().into_active_model();
    active.srt_passphrase = Set(next.srt_passphrase.clone());
    active.source = Set(next.source.clone());
    active.pull_url = Set(next.pull_url.clone());
    active.pull_credentials = Set(next.pull_credentials.clone());
    active.pull_transport = Set(next.pull_transport.clone());
    active.pull_always_on = Set(next.pull_always_on);
    active.updated_at = Set(Utc::now());
    let saved = active.update(&state.db).await?;
    tracing::info!(channel = %saved.slug, user_id = caller.id, source = %saved.source, srt_encrypted = saved.srt_passphrase.is_some(), "ingest settings changed");
    state.live.pulls.reconfigure(saved.id).await;
    Ok(HttpResponse::Ok().json(view(&state, &saved)))
}
