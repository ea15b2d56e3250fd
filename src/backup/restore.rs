//! Restoring a backup with the server stopped: the database (refusing a non-empty one without
//! `--force`), then the objects, then the secrets, then migrations up.

use std::{ffi::OsString, path::Path, str::FromStr, time::Instant};

use anyhow::{Context, anyhow, bail};
use sea_orm::{DatabaseConnection, sqlx::postgres::PgConnectOptions};
use sea_orm_migration::MigratorTrait;
use streamhall_media::objects::open_store;
use streamhall_migration::Migrator;

use super::{
    MANIFEST, OBJECTS, SECRET_FILES, SECRETS,
    database::{count, open_sqlite, pg_env, run_pg_tool, sqlite_path, summarize},
    human_bytes,
    manifest::{DbKind, Manifest},
    objects::restore_objects,
    write_private,
};
use crate::{config::Config, startup};

/// Restores the backup at `from` into the configured database, store and data directory. The
/// server must not be running on them.
pub async fn restore(config: &Config, from: &Path, force: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let manifest_path = from.join(MANIFEST);
    let text = std::fs::read_to_string(&manifest_path).with_context(|| {
        format!(
            "reading {} (is {} a streamhall backup?)",
            manifest_path.display(),
            from.display()
        )
    })?;
    let manifest = Manifest::parse(&text)?;
    let url = config.database_url();
    let kind = DbKind::of_url(&url)?;
    if manifest.database != kind {
        bail!(
            "this backup holds a {} database and the configured database is {}: restoring across database backends is not supported; restore into a {} database (database.url)",
            manifest.database.label(),
            kind.label(),
            manifest.database.label()
        );
    }
    let db_file = from.join(kind.file());
    if !db_file.is_file() {
        bail!("{} is missing: the backup is incomplete", db_file.display());
    }
    println!(
        "restoring {} (taken {} by streamhall {}: {}; {} objects, {})",
        from.display(),
        manifest.created_at,
        manifest.streamhall_version,
        manifest.counts,
        manifest.objects.count,
        human_bytes(manifest.objects.bytes)
    );
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    // Before touching anything: a store that cannot be written stops the restore here.
    let store = open_store(&config.objects, &config.data_dir)
        .await
        .map_err(|e| anyhow!("opening the object store: {e}"))?;

    match kind {
        DbKind::Sqlite => restore_sqlite(&url, &db_file, force).await?,
        DbKind::Postgres => restore_postgres(config, &url, &db_file, force).await?,
    }
    println!("database: restored");

    let objects = restore_objects(store, &from.join(OBJECTS)).await?;

    for name in &manifest.secrets {
        let source = from.join(SECRETS).join(name);
        anyhow::ensure!(
            SECRET_FILES.contains(&name.as_str()),
            "the manifest names an unknown secret file {name:?}"
        );
        if *name == "jwt_secret" && config.auth.jwt_secret.is_some() {
            println!(
                "secrets: auth.jwt_secret is configured and kept; sessions issued by the old server need the backup's secret"
            );
            continue;
        }
        if *name == "credentials_key" && config.ingest.credentials_key.is_some() {
            println!(
                "secrets: ingest.credentials_key is configured and kept; camera credentials, SRT passphrases and restream keys sealed by the old server need the backup's key"
            );
            continue;
        }
        let text =
            std::fs::read(&source).with_context(|| format!("reading {}", source.display()))?;
        let target = config.data_dir.join(name);
        let tmp = config.data_dir.join(format!(".{name}.restore"));
        let _ = std::fs::remove_file(&tmp);
        write_private(&tmp, &text)?;
        std::fs::rename(&tmp, &target)
            .with_context(|| format!("moving {} into place", target.display()))?;
        println!("secrets: {name} restored");
    }

    let db = startup::connect(config).await?;
    let migrated = async {
        Migrator::up(&db, None)
            .await
            .context("running migrations on the restored database")?;
        summarize(&db).await
    }
    .await;
    db.close().await.ok();
    let (migrations, counts) = migrated?;
    println!(
        "restore complete in {:.1} s: {counts}; {} objects, {}; {} migrations applied ({} in the backup)",
        started.elapsed().as_secs_f64(),
        objects.count,
        human_bytes(objects.bytes),
        migrations.len(),
        manifest.migrations.len()
    );
    Ok(())
}

async fn restore_sqlite(url: &str, db_file: &Path, force: bool) -> anyhow::Result<()> {
    let target = sqlite_path(url)?;
    if target.exists() {
        let db = open_sqlite(&target, false).await?;
        let users = user_rows(&db).await;
        db.close().await.ok();
        refuse_unless_forced(users?, force, &target.display().to_string())?;
    }
    let dir = target
        .parent()
        .ok_or_else(|| anyhow!("{}: no parent directory", target.display()))?;
    std::fs::create_dir_all(dir)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.restore"));
    let _ = std::fs::remove_file(&tmp);
    tokio::fs::copy(db_file, &tmp)
        .await
        .with_context(|| format!("copying {} to {}", db_file.display(), tmp.display()))?;
    tokio::fs::File::open(&tmp).await?.sync_all().await?;
    // The old database's journal belongs to the old file.
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = target.clone().into_os_string();
        side.push(suffix);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {side:?}")),
        }
    }
    std::fs::rename(&tmp, &target)
        .with_context(|| format!("moving the database into place at {}", target.display()))?;
    Ok(())
}

async fn restore_postgres(
    config: &Config,
    url: &str,
    dump: &Path,
    force: bool,
) -> anyhow::Result<()> {
    let db = startup::connect(config)
        .await
        .context("the target database must exist (createdb NAME)")?;
    let users = user_rows(&db).await;
    db.close().await.ok();
    let database = PgConnectOptions::from_str(url)
        .context("database.url")?
        .get_database()
        .unwrap_or_default()
        .to_owned();
    refuse_unless_forced(users?, force, &format!("database {database}"))?;
    let mut args: Vec<OsString> = [
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-password",
        "--exit-on-error",
    ]
    .map(OsString::from)
    .to_vec();
    // pg_restore writes SQL to stdout unless it is given a database: its name is no secret.
    args.push(format!("--dbname={database}").into());
    args.push(dump.as_os_str().to_owned());
    run_pg_tool("pg_restore", &args, &pg_env(url)?).await
}

fn refuse_unless_forced(users: u64, force: bool, what: &str) -> anyhow::Result<()> {
    if users > 0 && !force {
        bail!(
            "{what} is not empty ({users} users): restoring would replace it; stop the server and pass --force to overwrite it"
        );
    }
    if users > 0 {
        println!("{what} holds {users} users: overwriting (--force)");
    }
    Ok(())
}

/// Users in the database, 0 when it has no `users` table yet.
async fn user_rows(db: &DatabaseConnection) -> anyhow::Result<u64> {
    let exists_sql = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'users'"
        }
        _ => {
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'users'"
        }
    };
    if count(db, exists_sql).await? == 0 {
        return Ok(0);
    }
    count(db, "SELECT COUNT(*) FROM users").await
}
