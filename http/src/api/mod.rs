//! The REST API under `/api/v1`. [`ROUTES`] is the one list of routes: the app is built from
//! it and a test checks each entry against the OpenAPI document.

pub mod account;
pub mod account_export;
pub mod admin;
pub mod admin_audit;
pub mod admin_dmca;
pub mod admin_reports;
pub mod admin_users;
pub mod analytics;
pub mod auth;
pub mod channels;
pub mod chat;
pub mod chat_ws;
pub mod clips;
pub mod dmca;
pub mod follower_counts;
pub mod follows;
pub mod ingest;
pub mod notifications;
pub mod notifications_ws;
pub mod playback;
pub mod report_resolve;
pub mod reports;
pub mod restreams;
pub mod server;
pub mod users;
pub mod videos;
pub mod webhooks;

use actix_web::web;

macro_rules! api_routes {
    ($( $method:ident $path:literal => $handler:path ),* $(,)?) => {
        /// Every API route as (method, path below `/api/v1`).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        /// Registers every route in [`ROUTES`].
        pub fn configure(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, web::$method().to($handler)); )*
        }
    };
}

api_routes! {
    get "/server" => server::info,
    post "/auth/register" => auth::register,
    post "/auth/login" => auth::login,
    post "/auth/refresh" => auth::refresh,
    post "/auth/logout" => auth::logout,
    get "/users/me" => users::me,
    patch "/users/me" => users::update_me,
    put "/users/me/password" => users::change_password,
    get "/users/me/channels" => users::my_channels,
    post "/channels" => channels::create,
    get "/channels" => channels::list,
    get "/channels/{slug}" => channels::get,
    patch "/channels/{slug}" => channels::update,
    delete "/channels/{slug}" => channels::delete,
    post "/channels/{slug}/stream-key" => channels::rotate_key,
    get "/channels/{slug}/thumbnail.jpg" => channels::thumbnail,
    get "/channels/{slug}/health" => channels::health,
    get "/channels/{slug}/broadcasts" => channels::broadcasts,
    post "/channels/{slug}/playback-token" => playback::issue,
    post "/chat/{slug}/ticket" => chat::ticket,
    get "/chat/{slug}/messages" => chat::messages,
    get "/chat/{slug}/ws" => chat_ws::chat_ws,
    get "/chat/emotes" => chat::emotes,
    get "/channels/{slug}/moderators" => chat::moderation::list_moderators,
    put "/channels/{slug}/moderators/{username}" => chat::moderation::add_moderator,
    delete "/channels/{slug}/moderators/{username}" => chat::moderation::remove_moderator,
    get "/channels/{slug}/chat/blocked-terms" => chat::moderation::get_blocked_terms,
    put "/channels/{slug}/chat/blocked-terms" => chat::moderation::put_blocked_terms,
    get "/channels/{slug}/chat/mode" => chat::moderation::get_mode,
    put "/channels/{slug}/chat/mode" => chat::moderation::put_mode,
    get "/channels/{slug}/chat/bans" => chat::moderation::bans,
    post "/channels/{slug}/chat/bans" => chat::moderation::ban,
    delete "/channels/{slug}/chat/bans/{username}" => chat::moderation::unban,
    get "/chat/{slug}/users/{username}" => chat::user_card,
    get "/admin/health" => admin::health,
    get "/admin/health/ws" => admin::health_ws,
    post "/admin/streams/{slug}/stop" => admin::stop_stream,
    post "/admin/chat/{slug}/restart" => admin::restart_chat_room,
    post "/admin/chat/{slug}/close" => admin::close_chat_room,
    post "/admin/actors/{kind}/restart" => admin::restart_actor,
    get "/admin/audit" => admin_audit::list,
    get "/admin/users" => admin_users::list,
    post "/admin/users/{id}/suspend" => admin_users::suspend,
    delete "/admin/users/{id}/suspension" => admin_users::unsuspend,
    put "/admin/users/{id}/role" => admin_users::set_role,
    delete "/admin/users/{id}" => admin_users::delete,
    post "/reports" => reports::create,
    get "/admin/reports" => admin_reports::list,
    get "/admin/reports/{id}" => admin_reports::get,
    post "/admin/reports/{id}/claim" => admin_reports::claim,
    post "/admin/reports/{id}/resolve" => report_resolve::resolve,
    get "/admin/reports/{id}/thumbnail.jpg" => admin_reports::thumbnail,
    get "/channels/{slug}/analytics" => analytics::channel,
    get "/broadcasts/{id}/analytics" => analytics::broadcast,
    get "/channels/{slug}/ingest" => ingest::get,
    put "/channels/{slug}/ingest" => ingest::put,
    get "/channels/{slug}/restreams" => restreams::list,
    post "/channels/{slug}/restreams" => restreams::create,
    patch "/channels/{slug}/restreams/{id}" => restreams::update,
    delete "/channels/{slug}/restreams/{id}" => restreams::delete,
    get "/channels/{slug}/webhooks" => webhooks::list,
    post "/channels/{slug}/webhooks" => webhooks::create,
    delete "/channels/{slug}/webhooks/{id}" => webhooks::delete,
    get "/channels/{slug}/webhooks/{id}/deliveries" => webhooks::deliveries,
    post "/channels/{slug}/webhooks/{id}/ping" => webhooks::ping,
    get "/channels/{slug}/follow" => follows::get_follow,
    post "/channels/{slug}/follow" => follows::follow,
    delete "/channels/{slug}/follow" => follows::unfollow,
    get "/channels/{slug}/followers" => follows::followers,
    get "/users/me/following" => follows::my_following,
    get "/notifications" => notifications::list,
    put "/notifications/{id}/read" => notifications::mark_read,
    post "/notifications/read-all" => notifications::read_all,
    get "/notifications/settings" => notifications::get_settings,
    put "/notifications/settings" => notifications::put_settings,
    get "/notifications/ws" => notifications_ws::notifications_ws,
    get "/channels/{slug}/videos" => videos::list,
    get "/videos/{id}" => videos::get,
    patch "/videos/{id}" => videos::update,
    delete "/videos/{id}" => videos::delete,
    put "/videos/{id}/chapters" => videos::put_chapters,
    put "/videos/{id}/subtitles/{lang}" => videos::put_subtitle,
    delete "/videos/{id}/subtitles/{lang}" => videos::delete_subtitle,
    post "/channels/{slug}/clips" => clips::create_live,
    get "/channels/{slug}/clips" => clips::list,
    post "/videos/{id}/clips" => clips::create_vod,
    get "/clips/{id}" => clips::get,
    delete "/clips/{id}" => clips::delete,
    post "/auth/password-reset" => account::request_password_reset,
    post "/auth/password-reset/confirm" => account::confirm_password_reset,
    post "/auth/verify-email" => account::verify_email,
    post "/users/me/verification" => account::resend_verification,
    delete "/users/me" => account::delete_me,
    get "/users/me/export" => account_export::export,
    post "/dmca/notices" => dmca::create_notice,
    get "/dmca/notices/{id}" => dmca::get_notice,
    post "/dmca/notices/{id}/counter" => dmca::counter,
    get "/admin/dmca" => admin_dmca::list,
    get "/admin/dmca/{id}" => admin_dmca::get,
    post "/admin/dmca/{id}/takedown" => admin_dmca::take_down,
    post "/admin/dmca/{id}/reject" => admin_dmca::reject,
    post "/admin/dmca/{id}/legal-action" => admin_dmca::legal_action,
}
