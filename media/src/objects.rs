//! A small object store: thumbnails now, DVR segments and recordings later.
//!
//! [`ObjectStore`] is the seam (an S3/MinIO implementation can follow); [`FsObjectStore`] keeps
//! objects as files under a root directory. Writes are atomic (a temporary file in the same
//! directory, then a rename), so a reader never sees half an object. Keys are checked by
//! [`validate_key`]: relative, `/`-separated, plain ASCII components, so no key escapes the root.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 512;

/// Why an object operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("invalid object key: {0}")]
    InvalidKey(&'static str),
    #[error("object store I/O: {0}")]
    Io(#[from] io::Error),
}

/// What the store's methods return.
pub type ObjectFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ObjectError>> + Send + 'a>>;

/// Objects by key (e.g. `thumbnails/my-channel.jpg`).
pub trait ObjectStore: Send + Sync + 'static {
    /// Stores `data` under `key`, replacing any previous object atomically.
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> ObjectFuture<'a, ()>;
    /// The object, or `None` when there is none.
    fn get<'a>(&'a self, key: &'a str) -> ObjectFuture<'a, Option<Bytes>>;
    /// Removes the object; removing a missing object is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> ObjectFuture<'a, ()>;
}

/// Checks that `key` is `component('/' component)*`, each component 1..=128 of
/// `[A-Za-z0-9._-]`, not `.` or `..`, and not starting with `.` (temporary files do).
pub fn validate_key(key: &str) -> Result<(), ObjectError> {
    if key.is_empty() {
        return Err(ObjectError::InvalidKey("empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(ObjectError::InvalidKey("too long"));
    }
    for part in key.split('/') {
        if part.is_empty() {
            return Err(ObjectError::InvalidKey("empty path component"));
        }
        if part.len() > 128 {
            return Err(ObjectError::InvalidKey("path component too long"));
        }
        if part.starts_with('.') {
            return Err(ObjectError::InvalidKey("component starts with '.'"));
        }
        if !part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(ObjectError::InvalidKey("unexpected character"));
        }
    }
    Ok(())
}

/// Objects as files under `root`.
#[derive(Debug, Clone)]
pub struct FsObjectStore {
    root: PathBuf,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FsObjectStore {
    /// The root directory is created on the first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, ObjectError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }
}

impl ObjectStore for FsObjectStore {
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> ObjectFuture<'a, ()> {
        Box::pin(async move {
            let path = self.path_of(key)?;
            let dir = path
                .parent()
                .ok_or(ObjectError::InvalidKey("no parent directory"))?;
            tokio::fs::create_dir_all(dir).await?;
            let file_name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!(".{file_name}.{}.{n}.tmp", std::process::id()));
            if let Err(e) = tokio::fs::write(&tmp, &data).await {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e.into());
            }
            if let Err(e) = tokio::fs::rename(&tmp, &path).await {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e.into());
            }
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> ObjectFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            let path = self.path_of(key)?;
            match tokio::fs::read(&path).await {
                Ok(d) => Ok(Some(Bytes::from(d))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> ObjectFuture<'a, ()> {
        Box::pin(async move {
            let path = self.path_of(key)?;
            match tokio::fs::remove_file(&path).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn keys_cannot_escape_the_root() {
        for ok in ["thumbnails/abc.jpg", "a", "dvr/ch_1/720p/seg-12.ts"] {
            assert!(validate_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a/./b",
            "a/",
            ".hidden",
            "a\\b",
            "a b",
            "ü",
            &"x".repeat(600),
        ] {
            assert!(validate_key(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn put_get_replace_delete() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FsObjectStore::new(tmp.path().join("objects"));
        assert!(store.get("thumbnails/a.jpg").await.unwrap().is_none());
        store
            .put("thumbnails/a.jpg", Bytes::from_static(b"one"))
            .await
            .unwrap();
        store
            .put("thumbnails/a.jpg", Bytes::from_static(b"two"))
            .await
            .unwrap();
        assert_eq!(store.get("thumbnails/a.jpg").await.unwrap().unwrap(), "two");
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(tmp.path().join("objects/thumbnails"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.jpg"]);
        store.delete("thumbnails/a.jpg").await.unwrap();
        store.delete("thumbnails/a.jpg").await.unwrap();
        assert!(store.get("thumbnails/a.jpg").await.unwrap().is_none());
        assert!(matches!(
            store.put("../escape", Bytes::new()).await,
            Err(ObjectError::InvalidKey(_))
        ));
    }
}
