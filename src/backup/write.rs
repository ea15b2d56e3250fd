//! Taking a backup: the database first (`VACUUM INTO` or `pg_dump`), then every object, then the
//! secrets and `manifest.json`, all under a dot-name renamed into place at the end.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use anyhow::{Context, anyhow, bail};
use chrono::Utc;
use sea_orm::ConnectionTrait;
use streamhall_media::objects::open_store;

use super::{
    MANIFEST, OBJECTS, SECRET_FILES, SECRETS, create_private_dir,
    database::{open_sqlite, pg_env, run_pg_tool, sql_string, sqlite_path, summarize},
    human_bytes,
    manifest::{DbKind, FORMAT_VERSION, Manifest},
    objects::mirror_objects,
    write_private,
};
use crate::{config::Config, startup};

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
