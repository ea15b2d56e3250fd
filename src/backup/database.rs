//! The database side: applied migrations and row counts, SQLite paths and connections, and
//! `pg_dump`/`pg_restore` run as child processes with the connection in libpq's environment
//! (never on a command line).

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    str::FromStr,
};

use anyhow::{Context, anyhow, bail};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, Statement,
    sqlx::postgres::{PgConnectOptions, PgSslMode},
    sqlx::sqlite::SqliteConnectOptions,
};

use super::manifest::Counts;

/// Applied migrations and row counts.
pub(super) async fn summarize(db: &DatabaseConnection) -> anyhow::Result<(Vec<String>, Counts)> {
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

pub(super) async fn count(db: &DatabaseConnection, sql: &str) -> anyhow::Result<u64> {
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

pub(super) async fn open_sqlite(
    path: &Path,
    read_only: bool,
) -> anyhow::Result<DatabaseConnection> {
    let mode = if read_only { "ro" } else { "rw" };
    let url = format!("sqlite://{}?mode={mode}", path.display());
    Database::connect(url)
        .await
        .with_context(|| format!("opening {}", path.display()))
}

pub(super) fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let options = SqliteConnectOptions::from_str(url).context("database.url")?;
    Ok(options.get_filename().to_owned())
}

/// `path` as an SQL string literal.
pub(super) fn sql_string(path: &Path) -> anyhow::Result<String> {
    let text = path
        .to_str()
        .ok_or_else(|| anyhow!("{}: not a UTF-8 path", path.display()))?;
    Ok(format!("'{}'", text.replace('\'', "''")))
}

/// libpq's environment for the connection in `url`.
pub(super) fn pg_env(url: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
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
pub(super) async fn run_pg_tool(
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::backup::DbKind;

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
