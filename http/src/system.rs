//! Operational endpoints outside the API: `/healthz` (the process answers), `/readyz`
//! (database, the object store and, when configured, Redis reachable), `/metrics`
//! (Prometheus: HTTP, database pool, HLS, and the live tree at scrape time),
//! `/api/v1/openapi.json`.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_redis::redis;
use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::json;
use utoipa::OpenApi;

use crate::{openapi::ApiDoc, state::AppState};

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    // Probes time out after a second or two: answer before they do, whatever hangs.
    let db_ok = tokio::time::timeout(
        Duration::from_secs(2),
        state.db.execute_unprepared("SELECT 1"),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    let redis_ok = match &state.redis {
        None => None,
        Some(pool) => Some(
            tokio::time::timeout(Duration::from_secs(2), async {
                match pool.get().await {
                    Ok(mut conn) => redis::cmd("PING")
                        .query_async::<String>(&mut conn)
                        .await
                        .is_ok(),
                    Err(_) => false,
                }
            })
            .await
            .unwrap_or(false),
        ),
    };
    // The reason goes to the log, not to whoever asks.
    let objects_ok = match state.objects.check().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, store = %state.objects.describe(), "object store check failed");
            false
        }
    };
    let free_mb = streamhall_actors::disk::free_bytes(&state.data_dir)
        .map(|b| b / (1024 * 1024))
        .map_err(|e| tracing::warn!(error = %e, dir = %state.data_dir.display(), "reading the data directory's free space failed"))
        .ok();
    let disk_low = free_mb.is_none_or(|mb| mb < state.http.disk_low_mb);
    let writes_refused = state.disk_guard.as_ref().is_some_and(|g| g.short());
    // Without Redis a node still serves its own clients (chat falls back to the database
    // between nodes), without the object store live streams still play (only what is stored
    // suffers: thumbnails, VODs, clips), and on a full disk it still serves what it has, so
    // it stays in rotation, marked degraded. Without the database it cannot do anything
    // useful.
    let ready = db_ok;
    let degraded = redis_ok == Some(false)
        || !objects_ok
        || state.live.chat.degraded()
        || disk_low
        || writes_refused;
    let body = json!({
        "status": if !ready { "unavailable" } else if degraded { "degraded" } else { "ready" },
        "database": if db_ok { "ok" } else { "unreachable" },
        "redis": match redis_ok { None => "not configured", Some(true) => "ok", Some(false) => "unreachable" },
        "objects": if objects_ok { "ok" } else { "failing" },
        "disk": match free_mb {
            None => "unknown".to_owned(),
            Some(mb) if writes_refused => format!("full: {mb} MiB free in the data directory, requests that write are refused"),
            Some(mb) if disk_low => format!("low: {mb} MiB free in the data directory"),
            Some(mb) => format!("ok: {mb} MiB free"),
        },
        "chat": if state.live.chat.degraded() { "degraded: Redis unreachable, other nodes' messages come from the database" } else { "ok" },
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Whether the request carries `http.metrics_token` (always, when none is configured).
fn metrics_allowed(state: &AppState, req: &HttpRequest) -> bool {
    use secrecy::ExposeSecret;
    use subtle::ConstantTimeEq;
    let Some(token) = &state.http.metrics_token else {
        return true;
    };
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    bool::from(given.as_bytes().ct_eq(token.expose_secret().as_bytes()))
}

pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if !metrics_allowed(&state, &req) {
        return HttpResponse::Unauthorized()
            .insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer"))
            .body("metrics need the configured bearer token\n");
    }
    // The getters panic on the other backend, so branch on the backend first.
    match state.db.get_database_backend() {
        DbBackend::Sqlite => {
            let pool = state.db.get_sqlite_connection_pool();
            set_pool(&state, pool.size() as i64, pool.num_idle() as i64);
        }
        DbBackend::Postgres => {
            let pool = state.db.get_postgres_connection_pool();
            set_pool(&state, pool.size() as i64, pool.num_idle() as i64);
        }
        _ => {}
    }
    // Streams, viewers, ffmpeg, restarts and chat come from the live tree, as the admin
    // health view sees it.
    let tree = state.live.health().await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render_live(&tree))
}

fn set_pool(state: &AppState, size: i64, idle: i64) {
    state.metrics.db_pool.with_label_values(&["open"]).set(size);
    state.metrics.db_pool.with_label_values(&["idle"]).set(idle);
}

pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
