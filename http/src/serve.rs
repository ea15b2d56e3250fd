//! The HTTP server: the [`App`](crate::app) under actix-http's HTTP/1 service on actix-server
//! workers, as actix-web's `HttpServer` would run it, plus the upgrade service that carries
//! WebSockets ([`upgraded`](crate::upgraded)), which `HttpServer` has no way to install, and in
//! front of both the [lane](crate::lane) that serves HLS requests without copying segments.

use std::io;
use std::net::TcpListener;
use std::rc::Rc;
use std::time::Duration;

use actix_http::{HttpService, KeepAlive, ServiceConfig};
use actix_server::Server;
use actix_service::{
    IntoServiceFactory, ServiceFactory, ServiceFactoryExt, fn_factory, fn_service, map_config,
};
use actix_web::{dev::AppConfig, rt::net::TcpStream, web};

use crate::lane::{self, Timeouts};
use crate::state::AppState;

/// How long a kept-alive connection may stay silent between requests (actix-http's default).
const KEEP_ALIVE: Duration = Duration::from_secs(5);

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
            let lane_shutdown = shutdown.clone();
            let dispatcher = HttpService::build()
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .keep_alive(KeepAlive::Timeout(KEEP_ALIVE))
                .client_request_timeout(head_timeout)
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                .upgrade(crate::upgraded::carrier(app()))
                .finish(app().map_err(|err| err.error_response()));
            let lane_app = app();
            fn_factory(move || {
                let (dispatcher, lane_app) = (dispatcher.new_service(()), lane_app.new_service(()));
                let shutdown = lane_shutdown.clone();
                async move {
                    let dispatcher = Rc::new(dispatcher.await?);
                    let app = Rc::new(lane_app.await?);
                    // Made on the worker: it keeps the date header on a timer of the worker's.
                    let config = ServiceConfig::new(
                        KeepAlive::Timeout(KEEP_ALIVE),
                        head_timeout,
                        Duration::from_secs(1),
                        false,
                        Some(addr),
                    );
                    let timeouts = Timeouts {
                        head: head_timeout,
                        keep_alive: KEEP_ALIVE,
                    };
                    Ok::<_, ()>(fn_service(move |io: TcpStream| {
                        lane::serve(
                            Rc::clone(&app),
                            Rc::clone(&dispatcher),
                            config.clone(),
                            timeouts,
                            shutdown.clone(),
                            io,
                        )
                    }))
                }
            })
        })?
        .workers(options.workers)
        .disable_signals()
        .shutdown_timeout(options.shutdown_timeout_secs)
        .run())
}
