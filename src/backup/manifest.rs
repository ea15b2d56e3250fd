//! `manifest.json`: what a backup holds (format version, database kind, migrations, object
//! totals, row counts, secrets), written by a backup and checked by a restore.

use std::str::FromStr;

use anyhow::{Context, anyhow, bail};
use sea_orm::entity::prelude::Json;
use serde::Deserialize;

/// The layout written by this version. A restore refuses a newer one.
pub const FORMAT_VERSION: u64 = 1;

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

    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }

    /// The database's file in the backup directory.
    pub(super) fn file(self) -> &'static str {
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
    pub(super) const TABLES: [&'static str; 5] =
        ["users", "channels", "follows", "chat_messages", "videos"];

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
    pub(super) fn to_json(&self) -> Json {
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
}
