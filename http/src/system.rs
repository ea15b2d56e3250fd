//! Operational endpoints outside the API: `/healthz` (the process answers), `/readyz`
//! (database, the object store and, when configured, Redis reachable), `/metrics`
//! (Prometheus: HTTP, database pool, HLS, and the live tree at scrape time),
//! `/api/v1/openapi.json`.

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
    let db_ok = state.db.execute_unprepared("SELECT 1").await.is_ok();
    let redis_ok = match &state.redis {
        None => None,
        Some(pool) => Some(match pool.get().await {
            Ok(mut conn) => redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .is_ok(),
            Err(_) => false,
        }),
    };
    // The reason goes to the log, not to whoever asks.
    let objects_ok = match state.objects.check().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, store = %state.objects.describe(), "object store check failed");
            false
        }
    };
    // Without Redis a node still serves its own clients (chat falls back to the database
    // between nodes), and without the object store live streams still play (only what is
    // stored suffers: thumbnails, VODs, clips), so it stays in rotation, marked degraded.
    // Without the database it cannot do anything useful.
    let ready = db_ok;
    let degraded = redis_ok == Some(false) || !objects_ok || state.live.chat.degraded();
    let body = json!({
        "status": if !ready { "unavailable" } else if degraded { "degraded" } else { "ready" },
        "database": if db_ok { "ok" } else { "unreachable" },
        "redis": match redis_ok { None => "not configured", Some(true) => "ok", Some(false) => "unreachable" },
        "objects": if objects_ok { "ok" } else { "failing" },
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
