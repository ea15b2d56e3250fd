//! The HTTP server: the [`App`](crate::app) under actix-http's HTTP/1 service on actix-server
//! workers, as actix-web's `HttpServer` would run it, plus the upgrade service that carries
//! WebSockets ([`upgraded`](crate::upgraded)), which `HttpServer` has no way to install.

use std::io;
use std::net::TcpListener;
use std::time::Duration;

use actix_http::HttpService;
use actix_server::Server;
use actix_service::{IntoServiceFactory, ServiceFactoryExt, map_config};
use actix_web::{dev::AppConfig, web};

use crate::state::AppState;

/// What the server is started with besides the app's state.
pub struct ServeOptions {
    /// Worker threads, each running its own instance of the app.
    pub workers: usize,
    /// How long a client has to send a request head.
    pub head_timeout: Duration,
    /// How long a graceful stop waits for connections to finish.
    pub shutdown_timeout_secs: u64,
}

/// Starts serving `listener`; the server runs until stopped through its handle.
pub fn serve(
    listener: TcpListener,
    state: web::Data<AppState>,
    options: ServeOptions,
) -> io::Result<Server> {
    let addr = listener.local_addr()?;
    let builder = Server::build();
    let shutdown = builder.graceful_shutdown_signal();
    let head_timeout = options.head_timeout;
    let app = move || {
        map_config(crate::app(state.clone()).into_factory(), |_| {
            AppConfig::default()
        })
    };
    Ok(builder
        .listen("streamhall-http", listener, move || {
            let shutdown = shutdown.clone();
            HttpService::build()
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .client_request_timeout(head_timeout)
                .client_disconnect_timeout(Duration::from_secs(1))
                // Chat frames are small and latency matters more than packet count.
                .tcp_nodelay(true)
                .local_addr(addr)
                .upgrade(crate::upgraded::carrier(app()))
                .finish(app().map_err(|err| err.error_response()))
                .tcp()
        })?
        .workers(options.workers)
        .disable_signals()
        .shutdown_timeout(options.shutdown_timeout_secs)
        .run())
}
