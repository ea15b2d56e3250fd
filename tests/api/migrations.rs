//! Migrations run up, down and up again on each backend; the first start creates the admin.

use reqwest::StatusCode;
use sea_orm::Database;
use sea_orm_migration::MigratorTrait;
use serde_json::Value;
use streamhall_migration::Migrator;

use crate::{
    both_backends,
    helpers::{Backend, fresh_database, restart, spawn_app},
};

both_backends!(up_down_up, first_start_creates_one_admin);

async fn tables(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'seaql_migrations' ORDER BY name"
        }
        _ => {
            "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'seaql_migrations' ORDER BY tablename"
        }
    };
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "t").unwrap())
        .collect()
}

async fn up_down_up(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = fresh_database(backend, dir.path()).await;
    let db = Database::connect(&url).await.unwrap();
    let expected = [
        "account_tokens",
        "audit_log",
        "broadcasts",
        "channel_moderators",
        "channels",
        "chat_bans",
        "chat_messages",
        "chat_moderation_log",
        "chat_rooms",
        "clips",
        "dmca_counter_notices",
        "dmca_notice_items",
        "dmca_notices",
        "follows",
        "notification_jobs",
        "notification_mutes",
        "notification_settings",
        "notifications",
        "refresh_tokens",
        "report_reporters",
        "reports",
        "restream_destinations",
        "stream_analytics",
        "users",
        "videos",
        "view_sessions",
        "webhook_deliveries",
        "webhooks",
    ];
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(tables(&db).await, expected);
    Migrator::down(&db, None).await.unwrap();
    assert!(tables(&db).await.is_empty(), "down leaves nothing behind");
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(tables(&db).await, expected);
    db.close().await.unwrap();
    if let Some((admin, name)) = pg {
        use sea_orm::ConnectionTrait;
        let conn = Database::connect(format!("{admin}/postgres"))
            .await
            .unwrap();
        conn.execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
            .await
            .unwrap();
    }
}

async fn first_start_creates_one_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let (username, password) = app
        .first_admin
        .clone()
        .expect("admin created on first start");
    assert_eq!(username, "admin");
    assert!(password.len() >= 16);
    let res = app.login(&username, &password).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["role"], "admin");

    let again = restart(&app).await;
    assert!(
        again.first_admin.is_none(),
        "a second start must not create another admin"
    );
    assert_eq!(
        again.login(&username, &password).await.status(),
        StatusCode::OK
    );
}
