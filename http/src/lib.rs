//! streamhall-http: the actix-web side of the platform. REST under `/api/v1` (see
//! [`api::ROUTES`]), operational endpoints, and the middleware every request passes through.
//!
//! The binary builds one [`state::AppState`] and calls [`configure`] inside
//! `HttpServer::new` for each worker.

pub mod accounts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod config;
pub mod disk_guard;
pub mod dmca;
pub mod dto;
pub mod error;
pub mod hls;
pub mod lane;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod password;
pub mod playback;
pub mod ratelimit;
pub mod relay;
pub mod request_id;
pub mod request_limits;
pub mod serve;
pub mod socket;
pub mod state;
pub mod system;
pub mod takedown;
pub mod tokens;
pub mod upgraded;
pub mod validate;
pub mod vod;
pub mod vod_memory;
pub mod webapp;
pub mod ws_admission;

use actix_cors::Cors;
use actix_web::{
    App, Error,
    body::MessageBody,
    dev::{ServiceFactory, ServiceRequest, ServiceResponse},
    http::{Method, header},
    middleware::from_fn,
    web,
};
use tracing_actix_web::TracingLogger;

use crate::{error::ApiError, state::AppState};

/// The whole application for one worker.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let hsts = state.public_url.starts_with("https://");
    let json = web::JsonConfig::default()
        .limit(state.http.max_body_bytes)
        .error_handler(error::json_error);
    App::new()
        .wrap(from_fn(request_limits::limit))
        .app_data(state.clone())
        .app_data(json)
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        // HLS first, on its own lean path: players poll playlists every second, so no span,
        // request id or security headers per request, only a counter. Open to any origin.
        .configure(hls::configure)
        .configure(vod::configure)
        .service(
            web::scope("")
                .wrap(middleware::security_headers(hsts))
                .wrap(from_fn(middleware::request_context))
                .wrap(TracingLogger::<middleware::PathOnlySpan>::new())
                .route("/healthz", web::get().to(system::healthz))
                .route("/readyz", web::get().to(system::readyz))
                .route("/metrics", web::get().to(system::metrics))
                .route("/emotes/{code}", web::get().to(api::chat::emote_svg))
                .service(
                    web::scope("/api/v1")
                        .wrap(cors(&state))
                        .route("/openapi.json", web::get().to(system::openapi_json))
                        .configure(api::configure)
                        .default_service(web::to(|| async {
                            Err::<String, _>(ApiError::NotFound("route"))
                        })),
                )
                // Everything else is the web app (SPA fallback to its index.html).
                .default_service(web::to(webapp::serve)),
        )
}

fn cors(state: &AppState) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(600)
        .allowed_origin(&state.public_url);
    for origin in &state.http.cors_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}
