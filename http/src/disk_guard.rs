//! Keeping room on a SQLite server's disk. SQLite shares its disk with live segments, VODs and
//! whatever else fills it, and a commit that fails there can go unnoticed: sea-orm writes
//! rows with `INSERT/UPDATE ... RETURNING`, sqlx hands back the returned row, and the failed
//! commit behind it is never reported, so a write on a full disk could answer 200 and keep
//! nothing. Hence a reserve: while the database's directory has less than
//! `http.disk_reserve_mb` free, requests that write (POST, PUT, PATCH) are refused before any
//! handler runs, with 507 `storage_full`. Reading, deleting (which frees room) and signing
//! in and out go on. PostgreSQL reports its own failed commits, so it needs no guard.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{dev::ServiceRequest, http::Method};

/// How long a free-space reading is trusted.
const FRESH: Duration = Duration::from_secs(1);

/// Requests that write but stay allowed: signing in, refreshing and signing out.
const ALWAYS_ALLOWED: [&str; 3] = [
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
];

pub struct DiskGuard {
    dir: PathBuf,
    reserve_bytes: u64,
    /// When free space was last read, and whether it was under the reserve.
    last: Mutex<Option<(Instant, bool)>>,
}

impl DiskGuard {
    /// For the SQLite database at `url` (`sqlite://PATH?…`); `None` for other databases and
    /// in-memory SQLite, or when `reserve_mb` is 0.
    pub fn for_database(url: &str, reserve_mb: u64) -> Option<Self> {
        let path = url.strip_prefix("sqlite://")?.split('?').next()?;
        if reserve_mb == 0 || path.is_empty() || path.contains(":memory:") {
            return None;
        }
        let dir = std::path::Path::new(path).parent()?.to_owned();
        Some(Self {
            dir,
            reserve_bytes: reserve_mb.saturating_mul(1024 * 1024),
            last: Mutex::new(None),
        })
    }

    /// Whether the database's disk has less room than the reserve (read once a second at
    /// most; a directory that cannot be read counts as full).
    pub fn short(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, short)) = *last
            && at.elapsed() < FRESH
        {
            return short;
        }
        let short = streamhall_actors::disk::free_bytes(&self.dir)
            .map_or(true, |free| free < self.reserve_bytes);
        let was = last.is_some_and(|(_, was)| was);
        if short && !was {
            tracing::error!(dir = %self.dir.display(), reserve_mb = self.reserve_bytes / (1024 * 1024), "the database's disk is nearly full: requests that write are refused until there is room (http.disk_reserve_mb)");
        } else if was && !short {
            tracing::info!(dir = %self.dir.display(), "the database's disk has room again: requests that write are taken again");
        }
        *last = Some((Instant::now(), short));
        short
    }
}

/// Whether the guard applies to `req`: a method that writes, not one of the sign-in routes.
pub fn writes(req: &ServiceRequest) -> bool {
    matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH)
        && !ALWAYS_ALLOWED.contains(&req.path())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_file_backed_sqlite_gets_a_guard() {
        let g = DiskGuard::for_database("sqlite:///srv/sh/streamhall.db?mode=rwc", 64).unwrap();
        assert_eq!(g.dir, PathBuf::from("/srv/sh"));
        assert_eq!(g.reserve_bytes, 64 * 1024 * 1024);
        assert!(DiskGuard::for_database("postgres://db/streamhall", 64).is_none());
        assert!(DiskGuard::for_database("sqlite::memory:", 64).is_none());
        assert!(DiskGuard::for_database("sqlite://:memory:", 64).is_none());
        assert!(DiskGuard::for_database("sqlite:///srv/sh/streamhall.db", 0).is_none());
    }

    #[test]
    fn a_disk_with_less_than_the_reserve_is_short() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("db").display());
        assert!(!DiskGuard::for_database(&url, 1).unwrap().short());
        assert!(
            DiskGuard::for_database(&url, u64::MAX / (1024 * 1024))
                .unwrap()
                .short()
        );
        let gone = DiskGuard::for_database("sqlite:///no/such/dir/db", 1).unwrap();
        assert!(gone.short(), "unreadable counts as full");
    }
}
