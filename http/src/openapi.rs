//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and
//! served at `/api/v1/openapi.json`.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{api, dto, error};

#[derive(OpenApi)]
#[openapi(
    info(title = "streamhall API", description = "REST API of a streamhall server. Errors are `{ error, message }` with a stable snake_case `error` code."),
    paths(
        api::server::info,
        api::auth::register, api::auth::login, api::auth::refresh, api::auth::logout,
        api::users::me, api::users::update_me, api::users::change_password, api::users::my_channels,
        api::channels::create, api::channels::list, api::channels::get, api::channels::update,
        api::channels::delete, api::channels::rotate_key, api::channels::thumbnail, api::channels::health,
        api::channels::broadcasts,
        api::admin::health, api::admin::health_ws, api::admin::stop_stream, api::admin::restart_chat_room,
        api::admin::close_chat_room, api::admin::restart_actor,
        api::chat::ticket, api::chat::messages, api::chat::emotes, api::chat_ws::chat_ws,
        api::chat::list_moderators, api::chat::add_moderator, api::chat::remove_moderator,
        api::chat::get_blocked_terms, api::chat::put_blocked_terms, api::chat::get_mode,
        api::chat::put_mode, api::chat::bans, api::chat::ban, api::chat::unban, api::chat::user_card,
        api::analytics::channel, api::analytics::broadcast,
        api::webhooks::list, api::webhooks::create, api::webhooks::delete,
        api::webhooks::deliveries, api::webhooks::ping,
        api::ingest::get, api::ingest::put,
        api::restreams::list, api::restreams::create, api::restreams::update, api::restreams::delete,
        api::follows::get_follow, api::follows::follow, api::follows::unfollow,
        api::follows::followers, api::follows::my_following,
        api::notifications::list, api::notifications::mark_read, api::notifications::read_all,
        api::notifications::get_settings, api::notifications::put_settings,
        api::notifications_ws::notifications_ws,
        api::videos::list, api::videos::get, api::videos::update, api::videos::delete,
        api::videos::put_chapters, api::videos::put_subtitle, api::videos::delete_subtitle,
        api::clips::create_live, api::clips::create_vod, api::clips::get, api::clips::list,
        api::clips::delete,
    ),
    components(schemas(error::ErrorBody, dto::PublicUser, dto::Me, dto::ChannelDto)),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "users"), (name = "channels"), (name = "admin"), (name = "chat"), (name = "analytics"), (name = "webhooks"), (name = "follows"), (name = "notifications"), (name = "videos"), (name = "clips")),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
