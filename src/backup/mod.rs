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
//!
//! The parts: `manifest` (what `manifest.json` says), `write` (taking a backup),
//! `restore` (putting one back), `objects` (copying the object store to and from the
//! directory, a few objects at a time) and `database` (row counts, SQLite paths, and
//! `pg_dump`/`pg_restore` as child processes).

use std::path::Path;

use anyhow::Context;

mod database;
mod manifest;
mod objects;
mod restore;
mod write;

pub use manifest::{Counts, DbKind, FORMAT_VERSION, Manifest, ObjectTotals};
pub use restore::restore;
pub use write::backup;

const MANIFEST: &str = "manifest.json";
const OBJECTS: &str = "objects";
const SECRETS: &str = "secrets";
/// Files under `data_dir` a restored server needs to accept what the old one issued.
const SECRET_FILES: &[&str] = &["jwt_secret", "credentials_key"];

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
