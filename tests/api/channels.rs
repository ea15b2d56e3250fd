//! Channels: create, list and filter, show, edit, delete, stream keys, ownership.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{Backend, expect_error, spawn_app},
};

both_backends!(
    create_show_and_key_stored_hashed,
    invalid_and_duplicate_slugs,
    only_owner_or_admin_may_change,
    rotation_replaces_the_key,
    list_filters_and_pages,
    search_finds_offline_channels_by_streamer_name,
    delete_removes,
    writes_show_at_once_despite_the_read_cache,
    list_offsets_past_the_bound_are_422_never_a_dropped_connection,
    an_edit_racing_the_delete_is_404_never_500,
);

/// The stored hash of a channel's stream key, read straight from the database.
async fn stored_hash(app: &crate::helpers::TestApp, slug: &str) -> String {
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT stream_key_hash FROM channels WHERE slug = '{slug}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<String>("", "stream_key_hash").unwrap()
}

/// The `field` of each problem in a 422's `fields`.
fn fields_of(err: &Value) -> Vec<String> {
    err["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn sha256_hex(s: &str) -> String {
    streamhall_entities::secret::sha256_hex(s)
}

async fn create_show_and_key_stored_hashed(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("streamer").await;
    let created = app.create_channel(&s.access, "my-show").await;
    let key = created["stream_key"].as_str().unwrap();
    assert!(
        key.starts_with("live_") && key.len() == 37,
        "128-bit key: {key}"
    );
    assert_eq!(created["channel"]["slug"], "my-show");
    assert_eq!(created["channel"]["is_live"], false);
    assert_eq!(created["channel"]["owner"]["username"], "streamer");

    // Only the hash is stored, and nothing else returns the key.
    assert_eq!(stored_hash(&app, "my-show").await, sha256_hex(key));
    let shown: Value = app.get_json("/channels/my-show").await;
    assert!(!shown.to_string().contains(key));
    assert_eq!(shown["title"], "my-show live");
    let mine: Value = app
        .get_auth("/users/me/channels", &s.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert!(!mine.to_string().contains(key));

    let res = app.get("/channels/nope").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .post_json("/channels", &json!({"slug": "anon", "title": "x"}), None)
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

async fn invalid_and_duplicate_slugs(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("slugger").await;
    for slug in [
        "ab",
        "Has-Caps",
        "spaces here",
        "toolong-toolong-toolong-toolong-x",
        "émoji",
    ] {
        let res = app
            .post_json(
                "/channels",
                &json!({"slug": slug, "title": "t"}),
                Some(&s.access),
            )
            .await;
        let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert_eq!(err["field"], "slug", "{slug}");
    }
    let res = app
        .post_json(
            "/channels",
            &json!({"slug": "okay", "title": "  "}),
            Some(&s.access),
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(err["field"], "title");
    // Every invalid field at once, in the form's order.
    let res = app
        .post_json(
            "/channels",
            &json!({"slug": "No Good", "title": "", "category": "c".repeat(65), "description": "ok"}),
            Some(&s.access),
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(fields_of(&err), ["slug", "title", "category"], "{err}");
    assert_eq!(err["field"], "slug");
    app.create_channel(&s.access, "taken").await;
    // An edit too: both problems, and nothing saved.
    let res = app
        .client
        .patch(app.api("/channels/taken"))
        .bearer_auth(&s.access)
        .json(&json!({"title": " ", "category": "Fine", "description": "d".repeat(2001)}))
        .send()
        .await
        .unwrap();
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(fields_of(&err), ["title", "description"], "{err}");
    assert_eq!(app.get_json("/channels/taken").await["category"], "");
    let other = app.register("other").await;
    let res = app
        .post_json(
            "/channels",
            &json!({"slug": "taken", "title": "t"}),
            Some(&other.access),
        )
        .await;
    let err = expect_error(res, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(err["field"], "slug");
}

async fn only_owner_or_admin_may_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("owner").await;
    let intruder = app.register("intruder").await;
    app.create_channel(&owner.access, "owned").await;

    let patch = |token: String, body: Value| {
        let app = &app;
        async move {
            app.client
                .patch(app.api("/channels/owned"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    expect_error(
        patch(intruder.access.clone(), json!({"title": "pwned"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = app
        .post_json(
            "/channels/owned/stream-key",
            &json!({}),
            Some(&intruder.access),
        )
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .client
        .delete(app.api("/channels/owned"))
        .bearer_auth(&intruder.access)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    let res = patch(
        owner.access.clone(),
        json!({"title": "New title", "category": "Music"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["title"], "New title");
    assert_eq!(body["category"], "Music");

    // The first-start admin may change anyone's channel.
    let (admin, password) = app
        .first_admin
        .clone()
        .expect("first start created an admin");
    let admin_session: Value = app.login(&admin, &password).await.json().await.unwrap();
    assert_eq!(admin_session["user"]["role"], "admin");
    let res = patch(
        admin_session["access_token"].as_str().unwrap().to_owned(),
        json!({"title": "Moderated"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn rotation_replaces_the_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("rotator").await;
    let created = app.create_channel(&s.access, "rotating").await;
    let old = created["stream_key"].as_str().unwrap().to_owned();
    let res = app
        .post_json("/channels/rotating/stream-key", &json!({}), Some(&s.access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let new = res.json::<Value>().await.unwrap()["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(old, new);
    let stored = stored_hash(&app, "rotating").await;
    assert_eq!(stored, sha256_hex(&new));
    assert_ne!(stored, sha256_hex(&old));
}

async fn list_filters_and_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("lister").await;
    for (slug, category) in [
        ("alpha", "Games"),
        ("beta", "Music"),
        ("gamma", "Games"),
        ("delta_x", "Art"),
    ] {
        app.create_channel(&s.access, slug).await;
        let res = app
            .client
            .patch(app.api(&format!("/channels/{slug}")))
            .bearer_auth(&s.access)
            .json(&json!({"category": category}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    // Mark one live straight in the database (going live is the ingest's job).
    app.db
        .execute_unprepared("UPDATE channels SET is_live = true WHERE slug = 'beta'")
        .await
        .unwrap();

    let list = |query: &'static str| {
        let app = &app;
        async move {
            let res = app.get(&format!("/channels{query}")).await;
            assert_eq!(res.status(), StatusCode::OK, "{query}");
            let body: Value = res.json().await.unwrap();
            let slugs: Vec<String> = body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["slug"].as_str().unwrap().to_owned())
                .collect();
            (slugs, body["next_offset"].clone())
        }
    };
    let (all, next) = list("").await;
    assert_eq!(
        all,
        ["beta", "delta_x", "gamma", "alpha"],
        "live first, then newest"
    );
    assert!(next.is_null());
    assert_eq!(list("?live=true").await.0, ["beta"]);
    assert_eq!(list("?category=Games").await.0, ["gamma", "alpha"]);
    assert_eq!(list("?q=ALP").await.0, ["alpha"]);
    assert_eq!(
        list("?q=_").await.0,
        ["delta_x"],
        "LIKE wildcards are escaped"
    );
    let (page, next) = list("?limit=3").await;
    assert_eq!(page.len(), 3);
    assert_eq!(next, json!(3));
    let (page, next) = list("?limit=3&offset=3").await;
    assert_eq!(page, ["alpha"]);
    assert!(next.is_null());
    let res = app.get("/channels?limit=abc").await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
}

async fn search_finds_offline_channels_by_streamer_name(backend: Backend) {
    let app = spawn_app(backend).await;
    let patch = |path: String, token: String, body: Value| {
        let app = &app;
        async move {
            let res = app
                .client
                .patch(app.api(&path))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{path}");
        }
    };
    let ada = app.register("ada99").await;
    patch(
        "/users/me".into(),
        ada.access.clone(),
        json!({"display_name": "Ada Lovelace"}),
    )
    .await;
    let bo = app.register("bobcat").await;
    // (slug, owner, title, category)
    for (slug, s, title, category) in [
        ("engines", &ada, "Analytical engines", "Science"),
        ("notes", &ada, "Notes on notes", "Music"),
        ("whiskers", &bo, "Cat cam", "Animals"),
        ("lovely", &bo, "A lovely day", "Music"),
    ] {
        app.create_channel(&s.access, slug).await;
        patch(
            format!("/channels/{slug}"),
            s.access.clone(),
            json!({"title": title, "category": category}),
        )
        .await;
    }
    app.db
        .execute_unprepared("UPDATE channels SET is_live = true WHERE slug = 'notes'")
        .await
        .unwrap();
    let search = |query: &'static str| {
        let app = &app;
        async move {
            let body = app.get_json(&format!("/channels{query}")).await;
            let slugs: Vec<String> = body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["slug"].as_str().unwrap().to_owned())
                .collect();
            (slugs, body["categories"].clone())
        }
    };
    // By display name (any case, any part): both of Ada's channels, the live one first.
    let (slugs, categories) = search("?q=lovelace").await;
    assert_eq!(slugs, ["notes", "engines"]);
    assert_eq!(
        categories,
        json!([
            {"name": "Music", "channels": 1, "live": 1},
            {"name": "Science", "channels": 1, "live": 0},
        ])
    );
    // "love" is in Ada's display name and in a title: live first, then newest.
    assert_eq!(search("?q=LOVE").await.0, ["notes", "lovely", "engines"]);
    // By username, category and slug, offline channels included.
    assert_eq!(search("?q=bobcat").await.0, ["lovely", "whiskers"]);
    assert_eq!(search("?q=animal").await.0, ["whiskers"]);
    assert_eq!(search("?q=whisk").await.0, ["whiskers"]);
    // The category filter narrows the results but not the categories offered for the query.
    let (slugs, categories) = search("?q=love&category=Music").await;
    assert_eq!(slugs, ["notes", "lovely"]);
    let names: Vec<&str> = categories
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Music", "Science"]);
    assert_eq!(categories[0]["channels"], 2);
    // Live only: the categories are those of live channels.
    let (slugs, categories) = search("?live=true").await;
    assert_eq!(slugs, ["notes"]);
    assert_eq!(
        categories,
        json!([{"name": "Music", "channels": 1, "live": 1}])
    );
    // Nothing matches: no results and no categories to offer.
    let (slugs, categories) = search("?q=zzzz").await;
    assert!(slugs.is_empty());
    assert_eq!(categories, json!([]));
    // Later pages do not repeat the counts.
    let body = app.get_json("/channels?limit=1&offset=1").await;
    assert_eq!(body["categories"], json!([]));
}

async fn delete_removes(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("deleter").await;
    app.create_channel(&s.access, "doomed").await;
    let res = app
        .client
        .delete(app.api("/channels/doomed"))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.get("/channels/doomed").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn writes_show_at_once_despite_the_read_cache(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("cached").await;
    app.create_channel(&s.access, "first").await;
    let get = |path: &'static str| {
        let app = &app;
        async move { app.get(path).await.json::<Value>().await.unwrap() }
    };
    assert_eq!(get("/channels").await["items"].as_array().unwrap().len(), 1);
    assert_eq!(get("/channels/first").await["title"], "first live");
    app.create_channel(&s.access, "second").await;
    assert_eq!(
        get("/channels").await["items"].as_array().unwrap().len(),
        2,
        "create invalidates"
    );
    assert_eq!(get("/channels/first").await["title"], "first live");
    let res = app
        .client
        .patch(app.api("/channels/first"))
        .bearer_auth(&s.access)
        .json(&json!({"title": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        get("/channels/first").await["title"],
        "Renamed",
        "update invalidates"
    );
    // Signed-in readers share the cache; its author still reads their own write at once.
    app.get_auth_json("/channels", &s.access).await;
    let res = app
        .client
        .patch(app.api("/channels/first"))
        .bearer_auth(&s.access)
        .json(&json!({"title": "Renamed again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = app.get_auth_json("/channels", &s.access).await;
    let titles: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"Renamed again"), "{titles:?}");
    assert_eq!(
        app.get_auth_json("/channels/first", &s.access).await["title"],
        "Renamed again"
    );
}

async fn list_offsets_past_the_bound_are_422_never_a_dropped_connection(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("olga").await;
    app.post_json(
        "/channels",
        &json!({"slug": "olga", "title": "t"}),
        Some(&s.access),
    )
    .await;
    // u64::MAX and the first offset past i64 used to reach the SQL binding and panic a worker.
    for path in [
        "/channels?offset=18446744073709551615",
        "/channels?offset=9223372036854775808",
        "/channels?offset=100001",
        "/channels/olga/videos?offset=18446744073709551615",
        "/channels/olga/clips?offset=9223372036854775808",
    ] {
        let err = expect_error(
            app.get(path).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        )
        .await;
        assert_eq!(err["field"], "offset", "{path}");
    }
    assert_eq!(
        app.get("/channels?offset=100000").await.status(),
        StatusCode::OK
    );
    // Past u64 the query does not parse at all: 400, with an answer.
    assert_eq!(
        app.get("/channels?offset=99999999999999999999999")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

/// A PATCH that looked the channel up just before a DELETE removed it finds no row to update:
/// the channel is gone (404), not an internal error. Raced many times, so that some PATCHes
/// land between the DELETE's commit and their own lookup-then-update.
async fn an_edit_racing_the_delete_is_404_never_500(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("racer").await;
    for i in 0..30 {
        let slug = format!("race-{i}");
        app.create_channel(&s.access, &slug).await;
        let path = app.api(&format!("/channels/{slug}"));
        let edit = app
            .client
            .patch(&path)
            .bearer_auth(&s.access)
            .json(&json!({"title": "renamed"}))
            .send();
        let delete = app.client.delete(&path).bearer_auth(&s.access).send();
        let (edit, delete) = futures_util::join!(edit, delete);
        let (edit, delete) = (edit.unwrap(), delete.unwrap());
        assert_eq!(delete.status(), StatusCode::NO_CONTENT, "{slug}");
        assert!(
            [StatusCode::OK, StatusCode::NOT_FOUND].contains(&edit.status()),
            "{slug}: the edit got {}",
            edit.status()
        );
    }
}
