//! `streamhall backup` and `streamhall restore`.
//!
//! A backup is a directory:
//!
//! ```text
//! streamhall-20261205T101500Z/
//!   manifest.json      format version, when, which database, migrations, counts
//!   database.sqlite    SQLite: `VACUUM INTO`, a consistent copy taken while the server writes
//!   database.pgdump    PostgreSQL: `pg_dump --format=custom`
//!   objects/KEY        every object of the configured store (thumbnails, VODs, clips)
//!   secrets/jwt_secret the generated signing secret, if there is one
//!   secrets/credentials_key  the generated key sealing camera credentials, SRT passphrases
//!                      and restream keys, if there is one
//! ```
//!
//! Backing up runs beside a live server: the database first, then the objects it refers to
//! (objects written meanwhile are copied too; ones deleted meanwhile are left out and counted).
//! The directory is written under a dot-name and renamed at the end, so a backup that exists
//! under its name is complete. Restoring runs with the server stopped, into the configured
//! database and store: the database, then the objects, then the secrets, then migrations up.
//!
//! PostgreSQL goes through `pg_dump`/`pg_restore` as child processes; the connection's parts
//! reach them through `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, … so the password is never
//! on a command line or in a log.

use std::{
    collections::VecDeque,
    ffi::OsString,
    path::{Path, PathBuf},
    str::FromStr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use chrono::Utc;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, Statement,
    entity::prelude::Json,
    sqlx::postgres::{PgConnectOptions, PgSslMode},
    sqlx::sqlite::SqliteConnectOptions,
};
use sea_orm_migration::MigratorTrait;
use serde::Deserialize;
use streamhall_media::objects::{ObjectInfo, ObjectStore, open_store, validate_key};
use streamhall_migration::Migrator;
use tokio::io::AsyncWriteExt;

use crate::{config::Config, startup};

/// The layout written by this version. A restore refuses a newer one.
pub const FORMAT_VERSION: u64 = 1;

const MANIFEST: &str = "manifest.json";
const OBJECTS: &str = "objects";
const SECRETS: &str = "secrets";
/// Files under `data_dir` a restored server needs to accept what the old one issued.
const SECRET_FILES: &[&str] = &["jwt_secret", "credentials_key"];
/// Objects are read and written this much at a time.
const CHUNK: u64 = 8 << 20;
/// Objects copied at once (S3 latency, not bandwidth, is what bounds a copy of small segments).
const WORKERS: usize = 4;
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Which database a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            bail!("database.url: only sqlite: and postgres:// URLs can be backed up")
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }

    /// The database's file in the backup directory.
    fn file(self) -> &'static str {
        match self {
            Self::Sqlite => "database.sqlite",
            Self::Postgres => "database.pgdump",
        }
    }
}

/// Rows worth checking after a restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Counts {
    pub users: u64,
    pub channels: u64,
    pub follows: u64,
    pub chat_messages: u64,
    pub videos: u64,
}

impl Counts {
    const TABLES: [&'static str; 5] = ["users", "channels", "follows", "chat_messages", "videos"];

    fn to_json(&self) -> Json {
        let values = [
            self.users,
            self.channels,
            self.follows,
            self.chat_messages,
            self.videos,
        ];
        Json::from_iter(Self::TABLES.into_iter().zip(values.map(Json::from)))
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} users, {} channels, {} follows, {} chat messages, {} videos",
            self.users, self.channels, self.follows, self.chat_messages, self.videos
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ObjectTotals {
    pub count: u64,
    pub bytes: u64,
}

/// `manifest.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub format_version: u64,
    pub created_at: String,
    pub streamhall_version: String,
    pub database: DbKind,
    /// Applied migrations, oldest first.
    pub migrations: Vec<String>,
    pub objects: ObjectTotals,
    pub counts: Counts,
    /// Files under `secrets/`.
    pub secrets: Vec<String>,
}

impl Manifest {
    fn to_json(&self) -> Json {
        Json::from_iter([
            ("format_version", Json::from(self.format_version)),
            ("created_at", Json::from(self.created_at.clone())),
            (
                "streamhall_version",
                Json::from(self.streamhall_version.clone()),
            ),
            ("database", Json::from(self.database.name())),
            ("database_file", Json::from(self.database.file())),
            ("migrations", Json::from(self.migrations.clone())),
            (
                "objects",
                Json::from_iter([
                    ("count", Json::from(self.objects.count)),
                    ("bytes", Json::from(self.objects.bytes)),
                ]),
            ),
            ("counts", self.counts.to_json()),
            ("secrets", Json::from(self.secrets.clone())),
        ])
    }

    /// Parses `manifest.json`, refusing a format this version does not know.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let json = Json::from_str(text).context("manifest.json is not JSON")?;
        let version = json["format_version"]
            .as_u64()
            .ok_or_else(|| anyhow!("manifest.json has no format_version"))?;
        if version > FORMAT_VERSION {
            bail!(
                "this backup has format version {version}; this streamhall ({}) reads up to version {FORMAT_VERSION}: restore it with a newer streamhall",
                env!("CARGO_PKG_VERSION")
            );
        }
        Manifest::deserialize(json).context("manifest.json")
    }
}

// ---------------------------------------------------------------------------------------------
// backup

/// Writes a backup of the configured database, object store and secrets to `out` (default
/// `{data_dir}/backups/streamhall-YYYYmmddTHHMMSSZ`) and returns where it is.
pub async fn backup(config: &Config, out: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let started = Instant::now();
    let url = config.database_url();
    let kind = DbKind::of_url(&url)?;
    let now = Utc::now();
    let target = match out {
        Some(dir) => std::path::absolute(dir)?,
        None => config
            .data_dir
            .join("backups")
            .join(format!("streamhall-{}", now.format("%Y%m%dT%H%M%SZ"))),
    };
    if target.exists() {
        bail!("{} already exists: name a new directory", target.display());
    }
    let (parent, name) = match (target.parent(), target.file_name()) {
        (Some(p), Some(n)) => (p, n.to_string_lossy().into_owned()),
        _ => bail!("{}: not a directory to create", target.display()),
    };
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let partial = parent.join(format!(".{name}.partial"));
    if partial.exists() {
        // Left by a backup that died; nothing in it is trusted.
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("removing the leftover {}", partial.display()))?;
    }
    create_private_dir(&partial)?;
    println!("backing up into {}", target.display());

    match write_backup(config, kind, &url, &partial, now).await {
        Ok(manifest) => {
            std::fs::rename(&partial, &target)
                .with_context(|| format!("renaming {} into place", partial.display()))?;
            println!(
                "backup complete: {} in {:.1} s ({}; {} objects, {})",
                target.display(),
                started.elapsed().as_secs_f64(),
                manifest.counts,
                manifest.objects.count,
                human_bytes(manifest.objects.bytes)
            );
            Ok(target)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            Err(e)
        }
    }
}

async fn write_backup(
    config: &Config,
    kind: DbKind,
    url: &str,
    dir: &Path,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<Manifest> {
    // The database first: objects it names that are deleted later are the only loss, and
    // objects written later are extra.
    let db_file = dir.join(kind.file());
    let (migrations, counts) = match kind {
        DbKind::Sqlite => {
            let path = sqlite_path(url)?;
            if !path.exists() {
                bail!(
                    "no SQLite database at {} (database.url / data_dir)",
                    path.display()
                );
            }
            let db = startup::connect(config).await?;
            let copy = db
                .execute_unprepared(&format!("VACUUM INTO {}", sql_string(&db_file)?))
                .await
                .with_context(|| format!("copying the SQLite database {}", path.display()));
            db.close().await.ok();
            copy?;
            // Counted in the copy: the manifest describes exactly what is in the backup.
            let copy = open_sqlite(&db_file, true).await?;
            let summary = summarize(&copy).await;
            copy.close().await.ok();
            summary?
        }
        DbKind::Postgres => {
            let db = startup::connect(config).await?;
            // Counted just before the dump (which is one consistent snapshot of its own).
            let summary = summarize(&db).await;
            db.close().await.ok();
            let summary = summary?;
            let mut args: Vec<OsString> = vec!["--format=custom".into(), "--no-password".into()];
            let mut file_arg = OsString::from("--file=");
            file_arg.push(&db_file);
            args.push(file_arg);
            run_pg_tool("pg_dump", &args, &pg_env(url)?).await?;
            summary
        }
    };
    let size = std::fs::metadata(&db_file).map(|m| m.len()).unwrap_or(0);
    println!(
        "database: {} ({}; {counts})",
        kind.label(),
        human_bytes(size)
    );

    let store = open_store(&config.objects, &config.data_dir)
        .await
        .map_err(|e| anyhow!("opening the object store: {e}"))?;
    let objects = mirror_objects(Arc::clone(&store), &dir.join(OBJECTS)).await?;

    let mut secrets = Vec::new();
    for name in SECRET_FILES {
        let from = config.data_dir.join(name);
        if from.is_file() {
            let text =
                std::fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
            let secrets_dir = dir.join(SECRETS);
            if !secrets_dir.exists() {
                create_private_dir(&secrets_dir)?;
            }
            write_private(&secrets_dir.join(name), &text)?;
            secrets.push((*name).to_owned());
        }
    }

    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        streamhall_version: env!("CARGO_PKG_VERSION").to_owned(),
        database: kind,
        migrations,
        objects,
        counts,
        secrets,
    };
    let text = format!("{:#}\n", manifest.to_json());
    std::fs::write(dir.join(MANIFEST), text).context("writing manifest.json")?;
    Ok(manifest)
}

/// Every object of the store, copied under `dir` by key.
async fn mirror_objects(store: Arc<dyn ObjectStore>, dir: &Path) -> anyhow::Result<ObjectTotals> {
    std::fs::create_dir_all(dir)?;
    let listed = list_everything(store.as_ref()).await?;
    let (keys, odd): (Vec<ObjectInfo>, Vec<ObjectInfo>) = listed
        .into_iter()
        .partition(|o| validate_key(&o.key).is_ok());
    if !odd.is_empty() {
        eprintln!(
            "warning: {} objects have keys streamhall does not write (left out), e.g. {:?}",
            odd.len(),
            odd[0].key
        );
    }
    let progress = Arc::new(Progress::new(
        "objects",
        keys.len() as u64,
        keys.iter().map(|o| o.size).sum(),
    ));
    let vanished = Arc::new(AtomicU64::new(0));
    let dir = dir.to_owned();
    let describe = store.describe();
    run_workers(keys, {
        let progress = Arc::clone(&progress);
        let vanished = Arc::clone(&vanished);
        move |object: ObjectInfo| {
            let store = Arc::clone(&store);
            let progress = Arc::clone(&progress);
            let vanished = Arc::clone(&vanished);
            let path = dir.join(&object.key);
            let describe = describe.clone();
            async move {
                match download(store.as_ref(), &object.key, &path)
                    .await
                    .with_context(|| format!("copying object {} from {describe}", object.key))?
                {
                    Some(bytes) => progress.add(bytes),
                    None => {
                        vanished.fetch_add(1, Ordering::Relaxed);
                        progress.add(0);
                    }
                }
                Ok(())
            }
        }
    })
    .await?;
    progress.finish();
    let vanished = vanished.load(Ordering::Relaxed);
    if vanished > 0 {
        println!("objects: {vanished} were deleted while the backup ran (left out)");
    }
    Ok(ObjectTotals {
        count: progress.objects.load(Ordering::Relaxed) - vanished,
        bytes: progress.bytes.load(Ordering::Relaxed),
    })
}

/// The whole store. Listing refuses the empty prefix (nothing lists everything by accident),
/// and every key starts with one of `[A-Za-z0-9_-]`, so one listing per first character covers
/// it on every backend.
async fn list_everything(store: &dyn ObjectStore) -> anyhow::Result<Vec<ObjectInfo>> {
    let mut all = Vec::new();
    let firsts = ('a'..='z')
        .chain('A'..='Z')
        .chain('0'..='9')
        .chain(['_', '-']);
    for first in firsts {
        let found = store
            .list(&first.to_string())
            .await
            .with_context(|| format!("listing {}", store.describe()))?;
        all.extend(found);
    }
    all.sort_by(|a, b| a.key.cmp(&b.key));
    all.dedup_by(|a, b| a.key == b.key);
    Ok(all)
}

/// Copies one object to `path` a chunk at a time; `None` when it was deleted meanwhile.
async fn download(store: &dyn ObjectStore, key: &str, path: &Path) -> anyhow::Result<Option<u64>> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let mut file = tokio::fs::File::create(path).await?;
    let mut at = 0u64;
    loop {
        let Some(part) = store.get_range(key, at, Some(at + CHUNK - 1)).await? else {
            drop(file);
            tokio::fs::remove_file(path).await.ok();
            return Ok(None);
        };
        file.write_all(&part.data).await?;
        at += part.data.len() as u64;
        if part.data.is_empty() || at >= part.total {
            break;
        }
    }
    file.sync_all().await?;
    Ok(Some(at))
}

// ---------------------------------------------------------------------------------------------
// restore

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

async fn restore_objects(store: Arc<dyn ObjectStore>, dir: &Path) -> anyhow::Result<ObjectTotals> {
    let mut files = Vec::new();
    if dir.is_dir() {
        walk(dir, dir, &mut files)?;
    }
    files.sort();
    let total: u64 = files.iter().map(|f| f.2).sum();
    let progress = Arc::new(Progress::new("objects", files.len() as u64, total));
    let describe = store.describe();
    run_workers(files, {
        let progress = Arc::clone(&progress);
        move |(key, path, size): (String, PathBuf, u64)| {
            let store = Arc::clone(&store);
            let progress = Arc::clone(&progress);
            let describe = describe.clone();
            async move {
                store
                    .put_file(&key, &path)
                    .await
                    .with_context(|| format!("writing object {key} to {describe}"))?;
                progress.add(size);
                Ok(())
            }
        }
    })
    .await?;
    progress.finish();
    Ok(ObjectTotals {
        count: progress.objects.load(Ordering::Relaxed),
        bytes: progress.bytes.load(Ordering::Relaxed),
    })
}

/// Every file under `dir` as (key relative to `root`, path, size).
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf, u64)>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let key = path
                .strip_prefix(root)?
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            validate_key(&key).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            out.push((key, path, entry.metadata()?.len()));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// shared

/// Applied migrations and row counts.
async fn summarize(db: &DatabaseConnection) -> anyhow::Result<(Vec<String>, Counts)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations ORDER BY version".to_owned(),
        ))
        .await
        .context("reading the applied migrations (is database.url a streamhall database?)")?;
    let migrations = rows
        .iter()
        .map(|r| r.try_get_by_index::<String>(0))
        .collect::<Result<Vec<_>, _>>()?;
    let mut n = [0u64; 5];
    for (slot, table) in n.iter_mut().zip(Counts::TABLES) {
        *slot = count(db, &format!("SELECT COUNT(*) FROM {table}")).await?;
    }
    let [users, channels, follows, chat_messages, videos] = n;
    Ok((
        migrations,
        Counts {
            users,
            channels,
            follows,
            chat_messages,
            videos,
        },
    ))
}

async fn count(db: &DatabaseConnection, sql: &str) -> anyhow::Result<u64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .with_context(|| format!("running {sql}"))?
        .ok_or_else(|| anyhow!("{sql}: no row"))?;
    let n: i64 = row.try_get_by_index(0)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

async fn open_sqlite(path: &Path, read_only: bool) -> anyhow::Result<DatabaseConnection> {
    let mode = if read_only { "ro" } else { "rw" };
    let url = format!("sqlite://{}?mode={mode}", path.display());
    Database::connect(url)
        .await
        .with_context(|| format!("opening {}", path.display()))
}

fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let options = SqliteConnectOptions::from_str(url).context("database.url")?;
    Ok(options.get_filename().to_owned())
}

/// `path` as an SQL string literal.
fn sql_string(path: &Path) -> anyhow::Result<String> {
    let text = path
        .to_str()
        .ok_or_else(|| anyhow!("{}: not a UTF-8 path", path.display()))?;
    Ok(format!("'{}'", text.replace('\'', "''")))
}

/// libpq's environment for the connection in `url`.
fn pg_env(url: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    let options = PgConnectOptions::from_str(url).context("database.url")?;
    let mut env = vec![
        (
            "PGHOST",
            match options.get_socket() {
                Some(dir) => dir.display().to_string(),
                None => options.get_host().to_owned(),
            },
        ),
        ("PGPORT", options.get_port().to_string()),
        ("PGUSER", options.get_username().to_owned()),
        (
            "PGSSLMODE",
            match options.get_ssl_mode() {
                PgSslMode::Disable => "disable",
                PgSslMode::Allow => "allow",
                PgSslMode::Prefer => "prefer",
                PgSslMode::Require => "require",
                PgSslMode::VerifyCa => "verify-ca",
                PgSslMode::VerifyFull => "verify-full",
            }
            .to_owned(),
        ),
        ("PGAPPNAME", "streamhall-backup".to_owned()),
    ];
    if let Some(database) = options.get_database() {
        env.push(("PGDATABASE", database.to_owned()));
    }
    if let Some(password) = url_password(url) {
        env.push(("PGPASSWORD", password));
    }
    Ok(env)
}

/// The password in `scheme://user:password@host/…`, percent-decoded.
fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    Some(percent_decode(password))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs `pg_dump` or `pg_restore`; fails with what it said on stderr.
async fn run_pg_tool(
    program: &str,
    args: &[OsString],
    env: &[(&'static str, String)],
) -> anyhow::Result<()> {
    let child = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{program} is not installed (or not in PATH): install the PostgreSQL client tools (Debian: apt-get install postgresql-client), at least as new as the server"
        ),
        Err(e) => return Err(e).with_context(|| format!("starting {program}")),
    };
    let output = child
        .wait_with_output()
        .await
        .with_context(|| format!("waiting for {program}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let said: Vec<&str> = stderr.lines().rev().take(20).collect();
    let said: Vec<&str> = said.into_iter().rev().collect();
    let hint = if stderr.contains("version mismatch") {
        " (install a PostgreSQL client at least as new as the server)"
    } else {
        ""
    };
    bail!(
        "{program} failed ({}){hint}: {}",
        output.status,
        said.join(" | ")
    )
}

/// Runs `job` on every item, `WORKERS` at a time; the first error stops the rest.
async fn run_workers<T, F, Fut>(items: Vec<T>, job: F) -> anyhow::Result<()>
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let queue = Arc::new(Mutex::new(VecDeque::from(items)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let queue = Arc::clone(&queue);
        let job = job.clone();
        tasks.spawn(async move {
            loop {
                let next = queue.lock().map_err(|_| anyhow!("poisoned"))?.pop_front();
                let Some(item) = next else {
                    return Ok::<(), anyhow::Error>(());
                };
                job(item).await?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done.map_err(anyhow::Error::from).and_then(|r| r) {
            tasks.abort_all();
            return Err(e);
        }
    }
    Ok(())
}

/// `objects: 120/560, 45.2 MiB/210.0 MiB`, at most every two seconds and at the end.
struct Progress {
    what: &'static str,
    total_objects: u64,
    total_bytes: u64,
    objects: AtomicU64,
    bytes: AtomicU64,
    last: Mutex<Instant>,
}

impl Progress {
    fn new(what: &'static str, total_objects: u64, total_bytes: u64) -> Self {
        println!(
            "{what}: {total_objects} to copy ({})",
            human_bytes(total_bytes)
        );
        Self {
            what,
            total_objects,
            total_bytes,
            objects: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            last: Mutex::new(Instant::now()),
        }
    }

    fn add(&self, bytes: u64) {
        self.objects.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let due = self.last.lock().is_ok_and(|mut last| {
            let due = last.elapsed() >= PROGRESS_EVERY;
            if due {
                *last = Instant::now();
            }
            due
        });
        if due {
            self.print();
        }
    }

    fn finish(&self) {
        self.print();
    }

    fn print(&self) {
        println!(
            "{}: {}/{}, {}/{}",
            self.what,
            self.objects.load(Ordering::Relaxed),
            self.total_objects,
            human_bytes(self.bytes.load(Ordering::Relaxed)),
            human_bytes(self.total_bytes)
        );
    }
}

fn human_bytes(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / MIB)
    }
}

fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .with_context(|| format!("creating {}", path.display()))
}

fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            created_at: "2026-12-05T10:15:00Z".into(),
            streamhall_version: "0.1.0".into(),
            database: DbKind::Postgres,
            migrations: vec!["m1".into(), "m2".into()],
            objects: ObjectTotals {
                count: 3,
                bytes: 4096,
            },
            counts: Counts {
                users: 3,
                channels: 1,
                follows: 1,
                chat_messages: 4,
                videos: 1,
            },
            secrets: vec!["jwt_secret".into()],
        }
    }

    #[test]
    fn the_manifest_reads_back_what_was_written() {
        let m = manifest();
        let text = format!("{:#}", m.to_json());
        assert!(
            text.contains("\"database_file\": \"database.pgdump\""),
            "{text}"
        );
        let back = Manifest::parse(&text).unwrap();
        assert_eq!(back.database, DbKind::Postgres);
        assert_eq!(back.counts, m.counts);
        assert_eq!(back.objects, m.objects);
        assert_eq!(back.migrations, m.migrations);
        assert_eq!(back.secrets, m.secrets);
    }

    #[test]
    fn a_newer_format_is_refused_by_version() {
        let mut json = manifest().to_json();
        json["format_version"] = Json::from(FORMAT_VERSION + 1);
        let err = Manifest::parse(&json.to_string()).unwrap_err().to_string();
        assert!(err.contains("format version 2"), "{err}");
        assert!(err.contains("newer streamhall"), "{err}");
        assert!(Manifest::parse("{}").is_err());
    }

    #[test]
    fn libpq_gets_the_url_parts_with_the_password_decoded() {
        let env =
            pg_env("postgres://back%40up:p%40ss%3Aw0rd@db.internal:6543/stream?sslmode=require")
                .unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("PGHOST"), Some("db.internal"));
        assert_eq!(get("PGPORT"), Some("6543"));
        assert_eq!(get("PGUSER"), Some("back@up"));
        assert_eq!(get("PGPASSWORD"), Some("p@ss:w0rd"));
        assert_eq!(get("PGDATABASE"), Some("stream"));
        assert_eq!(get("PGSSLMODE"), Some("require"));
        assert_eq!(url_password("postgres://postgres@127.0.0.1:5432/x"), None);
    }

    #[test]
    fn database_kinds_come_from_the_url() {
        assert_eq!(
            DbKind::of_url("sqlite:///x/streamhall.db?mode=rwc").unwrap(),
            DbKind::Sqlite
        );
        assert_eq!(
            DbKind::of_url("postgresql://u@h/d").unwrap(),
            DbKind::Postgres
        );
        assert!(DbKind::of_url("mysql://u@h/d").is_err());
        assert_eq!(
            sqlite_path("sqlite:///x/streamhall.db?mode=rwc").unwrap(),
            PathBuf::from("/x/streamhall.db")
        );
        assert_eq!(sql_string(Path::new("/a/it's")).unwrap(), "'/a/it''s'");
    }
}
