//! Running out of disk. A write that finds the disk full is refused with a clear answer (HTTP
//! 507 `storage_full`, chat's `unavailable` saying so), keeps nothing half-written (SQLite
//! and PostgreSQL roll the transaction back, the object store removes its temporary file),
//! and works again once there is room. `/readyz` reports the data directory's free space so
//! an admin sees it coming.

use std::path::Path;

use sea_orm::DbErr;

/// Whether a database error means the disk under the database is full: SQLite's
/// `SQLITE_FULL` ("database or disk is full"), PostgreSQL's `disk_full` (SQLSTATE 53100,
/// "could not extend file ...: No space left on device").
pub fn db_full(err: &DbErr) -> bool {
    let text = err.to_string();
    [
        "database or disk is full",
        "No space left on device",
        "could not extend file",
        "53100",
    ]
    .iter()
    .any(|s| text.contains(s))
}

/// The bytes an unprivileged process may still write under `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(path)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn full_disks_are_told_apart_from_other_database_errors() {
        let sqlite = DbErr::Custom(
            "error returned from database: (code: 13) database or disk is full".into(),
        );
        let pg = DbErr::Custom(
            "error returned from database: could not extend file \"base/16384/2619\": No space left on device"
                .into(),
        );
        assert!(db_full(&sqlite));
        assert!(db_full(&pg));
        assert!(!db_full(&DbErr::Custom("connection refused".into())));
        assert!(!db_full(&DbErr::RecordNotFound("chat room 1".into())));
    }

    #[test]
    fn free_space_is_read_for_a_directory() {
        let dir = std::env::temp_dir();
        assert!(free_bytes(&dir).unwrap() > 0);
        assert!(free_bytes(Path::new("/no/such/dir")).is_err());
    }
}
