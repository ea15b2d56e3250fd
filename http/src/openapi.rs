//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and
//! served at `/api/v1/openapi.json`.

use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, Object, Ref, RefOr, ResponseBuilder, Type,
        header::Header,
        path::{Operation, ParameterIn, PathItem},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
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
        api::playback::issue,
        api::admin::health, api::admin::health_ws, api::admin::stop_stream, api::admin::restart_chat_room,
        api::admin::close_chat_room, api::admin::restart_actor,
        api::admin_audit::list,
        api::admin_users::list, api::admin_users::suspend, api::admin_users::unsuspend,
        api::admin_users::set_role, api::admin_users::delete,
        api::reports::create, api::admin_reports::list, api::admin_reports::get,
        api::admin_reports::claim, api::report_resolve::resolve, api::admin_reports::thumbnail,
        api::chat::ticket, api::chat::messages, api::chat::emotes, api::chat_ws::chat_ws,
        api::chat::moderation::list_moderators, api::chat::moderation::add_moderator,
        api::chat::moderation::remove_moderator, api::chat::moderation::get_blocked_terms,
        api::chat::moderation::put_blocked_terms, api::chat::moderation::get_mode,
        api::chat::moderation::put_mode, api::chat::moderation::bans, api::chat::moderation::ban,
        api::chat::moderation::unban, api::chat::user_card,
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
        api::account::request_password_reset, api::account::confirm_password_reset,
        api::account::verify_email, api::account::resend_verification, api::account::delete_me,
        api::account_export::export,
        api::dmca::create_notice, api::dmca::get_notice, api::dmca::counter,
        api::admin_dmca::list, api::admin_dmca::get, api::admin_dmca::take_down,
        api::admin_dmca::reject, api::admin_dmca::legal_action,
    ),
    components(schemas(error::ErrorBody, dto::PublicUser, dto::Me, dto::ChannelDto)),
    modifiers(&BearerAuth, &CommonErrors),
    tags((name = "auth"), (name = "users"), (name = "channels"), (name = "admin"), (name = "chat"), (name = "analytics"), (name = "webhooks"), (name = "follows"), (name = "notifications"), (name = "videos"), (name = "clips"), (name = "dmca"), (name = "reports")),
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

/// The answers that do not come from a handler's own logic but from what stands in front of
/// it, added to every operation they apply to so that no annotation can forget them:
///
/// - 429 everywhere: the per-address cap on requests in flight (`http.max_requests_per_ip`,
///   see [`crate::request_limits`]) answers before any handler;
/// - 401 where a bearer token is accepted: a missing (when required), malformed, expired or
///   revoked token;
/// - 400, 408, 413 and 422 where there is a JSON body: not JSON or not `application/json`,
///   not arrived within `http.body_timeout_secs`, larger than `http.max_body_bytes`, or JSON of
///   the wrong shape;
/// - 400 where there is a query string that may not parse, 404 where a path parameter may not.
///
/// An annotation that already documents one of these statuses keeps its own description.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for (op, writes) in operations(item) {
                add_common_errors(op, writes);
            }
        }
    }
}

/// Each operation, and whether its method writes (POST, PUT, PATCH).
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&mut Operation, bool)> {
    [
        (&mut item.get, false),
        (&mut item.put, true),
        (&mut item.post, true),
        (&mut item.delete, false),
        (&mut item.options, false),
        (&mut item.head, false),
        (&mut item.patch, true),
        (&mut item.trace, false),
    ]
    .into_iter()
    .filter_map(|(op, writes)| op.as_mut().map(|op| (op, writes)))
}

fn add_common_errors(op: &mut Operation, writes: bool) {
    let has_in = |op: &Operation, place: ParameterIn| {
        op.parameters
            .iter()
            .flatten()
            .any(|p| p.parameter_in == place)
    };
    let mut errors: Vec<(&str, &str)> = vec![(
        "429",
        "`rate_limited`: too many requests from this address at once or in a window; see `Retry-After`",
    )];
    errors.push((
        "503",
        "`unavailable`: the database is unreachable (or what the route needs is busy); try again shortly",
    ));
    if writes {
        errors.push((
            "507",
            "`storage_full`: the server's disk is full (with SQLite, nearly full: `http.disk_reserve_mb`); nothing was saved",
        ));
    }
    if accepts_bearer(op) {
        errors.push((
            "401",
            "`unauthorized`: the bearer token is missing, malformed, expired or revoked",
        ));
    }
    if op.request_body.is_some() {
        errors.extend([
            (
                "400",
                "`malformed_json` or `bad_request`: the body is not JSON, or not sent as `application/json`",
            ),
            (
                "408",
                "`request_timeout`: the body did not arrive within `http.body_timeout_secs`",
            ),
            (
                "413",
                "`payload_too_large`: the body is larger than `http.max_body_bytes`",
            ),
            (
                "422",
                "`invalid_field`: a field is missing, of the wrong type or out of range",
            ),
        ]);
    }
    if has_in(op, ParameterIn::Query) {
        errors.push(("400", "`bad_request`: the query string does not parse"));
    }
    if has_in(op, ParameterIn::Path) {
        errors.push(("404", "`not_found`: no such resource"));
    }
    for (status, description) in errors {
        if op.responses.responses.contains_key(status) {
            continue;
        }
        let response = ResponseBuilder::new().description(description).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        );
        op.responses
            .responses
            .insert(status.to_owned(), RefOr::T(response.build()));
    }
    // A 429 always says when to come back.
    if let Some(RefOr::T(response)) = op.responses.responses.get_mut("429") {
        response
            .headers
            .entry("Retry-After".to_owned())
            .or_insert_with(|| {
                let mut h = Header::new(Object::with_type(Type::Integer));
                h.description = Some("seconds to wait before retrying".to_owned());
                h
            });
    }
}

/// Whether the operation lists the `bearer` scheme among its security requirements (also
/// when it is optional, next to an empty requirement).
fn accepts_bearer(op: &Operation) -> bool {
    op.security.iter().flatten().any(|req| {
        serde_json::to_value(req)
            .ok()
            .and_then(|v| v.as_object().map(|o| o.contains_key("bearer")))
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::ApiDoc;
    use utoipa::OpenApi;

    /// Every operation documents the answers that come from in front of its handler.
    #[test]
    fn common_errors_are_documented_everywhere_they_can_happen() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        assert!(!paths.is_empty());
        for (path, item) in paths {
            for (method, op) in item.as_object().cloned().unwrap_or_default() {
                let has = |status: &str| op["responses"].get(status).is_some();
                let name = format!("{method} {path}");
                assert!(has("429"), "{name}: 429");
                assert!(has("503"), "{name}: 503");
                if ["post", "put", "patch"].contains(&method.as_str()) {
                    assert!(has("507"), "{name}: 507");
                }
                let retry = &op["responses"]["429"]["headers"]["Retry-After"];
                assert!(retry.is_object(), "{name}: 429 without Retry-After");
                let bearer = op["security"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
                if bearer {
                    assert!(has("401"), "{name}: 401");
                }
                if op.get("requestBody").is_some() {
                    for status in ["400", "408", "413", "422"] {
                        assert!(has(status), "{name}: {status}");
                    }
                }
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                if params.iter().any(|p| p["in"] == "path") {
                    assert!(has("404"), "{name}: 404");
                }
                if params.iter().any(|p| p["in"] == "query") {
                    assert!(has("400"), "{name}: 400");
                }
            }
        }
    }
}
