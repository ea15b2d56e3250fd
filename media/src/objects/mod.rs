//! The object store: thumbnails, VOD segments and playlists, clips.
//!
//! [`ObjectStore`] is the seam; two backends sit behind it and hold the same keys:
//!
//! - [`FsObjectStore`] keeps objects as files under a root directory (`{data_dir}/objects`, the
//!   default). Writes are atomic (a temporary dot-file in the same directory, then a rename), so a
//!   reader never sees half an object.
//! - [`S3ObjectStore`] keeps them in a bucket of any S3-compatible store (Garage, SeaweedFS, AWS
//!   S3, ...), through the `minio` client, path-style except on AWS hosts. Big files go up in
//!   parts.
//!
//! Keys are checked by [`validate_key`]: relative, `/`-separated, plain ASCII components, so no
//! key escapes the filesystem root and both backends accept every key. [`open_store`] builds the
//! configured backend and refuses to start on a store that cannot be used, naming the config key
//! to fix.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use secrecy::SecretString;
use serde::Deserialize;

mod fs;
mod s3;

pub use fs::FsObjectStore;
pub use s3::S3ObjectStore;

/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 512;

/// Why an object operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("invalid object key: {0}")]
    InvalidKey(&'static str),
    #[error("object store I/O: {0}")]
    Io(#[from] io::Error),
    /// The store could not be reached, timed out or answered with a server error: try again
    /// later.
    #[error("object store unavailable: {0}")]
    Unavailable(String),
    /// The store refused the request (credentials, a missing bucket, a policy): retrying does
    /// not help until the configuration changes. The message names what to fix.
    #[error("object store refused the request: {0}")]
    Rejected(String),
}

impl ObjectError {
    /// Whether the disk (or the quota) under a filesystem store is full.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, ObjectError::Io(e) if matches!(e.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded))
    }

    /// Whether the same request may succeed later without a configuration change.
    pub fn is_retryable(&self) -> bool {
        match self {
            ObjectError::Unavailable(_) => true,
            ObjectError::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            ObjectError::InvalidKey(_) | ObjectError::Rejected(_) => false,
        }
    }
}

/// What the store's methods return.
pub type ObjectFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ObjectError>> + Send + 'a>>;

/// One object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

/// Part of an object: `data` is bytes `[start, start + data.len())` of an object of `total`
/// bytes. A `start` at or past the end gives empty `data` (an HTTP handler answers 416 with
/// `total`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRead {
    pub data: Bytes,
    pub start: u64,
    pub total: u64,
}

/// Objects by key (e.g. `thumbnails/my-channel.jpg`, `vod/{vid}/master.m3u8`).
pub trait ObjectStore: Send + Sync + 'static {
    /// Stores `data` under `key`, replacing any previous object atomically.
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> ObjectFuture<'a, ()>;
    /// Stores the file at `path` under `key` without holding it in memory (in parts on S3).
    /// The file is left where it is.
    fn put_file<'a>(&'a self, key: &'a str, path: &'a Path) -> ObjectFuture<'a, ()>;
    /// The object, or `None` when there is none.
    fn get<'a>(&'a self, key: &'a str) -> ObjectFuture<'a, Option<Bytes>>;
    /// Bytes `start..=end_inclusive` of the object (to its end when `None`, or when
    /// `end_inclusive` is past it), or `None` when there is no object.
    fn get_range<'a>(
        &'a self,
        key: &'a str,
        start: u64,
        end_inclusive: Option<u64>,
    ) -> ObjectFuture<'a, Option<RangeRead>>;
    /// The object's size, or `None` when there is none.
    fn stat<'a>(&'a self, key: &'a str) -> ObjectFuture<'a, Option<ObjectInfo>>;
    /// Removes the object; removing a missing object is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> ObjectFuture<'a, ()>;
    /// Removes every object whose key starts with `prefix` (see [`validate_prefix`]) and
    /// returns how many there were.
    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> ObjectFuture<'a, u64>;
    /// Every object whose key starts with `prefix`, in key (byte) order.
    fn list<'a>(&'a self, prefix: &'a str) -> ObjectFuture<'a, Vec<ObjectInfo>>;
    /// A URL that fetches the object without credentials for `ttl` (or the store's configured
    /// lifetime, if shorter), or `None` when the store cannot make one (the filesystem) or
    /// presigning is off.
    fn presign_get<'a>(&'a self, key: &'a str, ttl: Duration) -> ObjectFuture<'a, Option<String>>;
    /// A cheap probe that the store can be used now (for `/readyz`).
    fn check(&self) -> ObjectFuture<'_, ()>;
    /// What the store is, for the startup banner and the log: `filesystem /abs/data/objects` or
    /// `s3 http://host:port bucket NAME`.
    fn describe(&self) -> String;
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

/// Checks a listing or deletion prefix: a valid key, optionally followed by `/`
/// (`vod/{vid}/` is everything of one video). Matching is by string prefix, as on S3, so
/// `vod/ab` also matches `vod/abc/...`. The empty prefix is refused: nothing lists or deletes
/// the whole store by accident.
pub fn validate_prefix(prefix: &str) -> Result<(), ObjectError> {
    validate_key(prefix.strip_suffix('/').unwrap_or(prefix))
}

/// Which backend holds the objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectsBackend {
    /// Files under `{data_dir}/objects`.
    #[default]
    Fs,
    /// A bucket of an S3-compatible store, configured in [`S3Config`].
    S3,
}

/// The `[objects]` config section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectsConfig {
    pub backend: ObjectsBackend,
    /// Used when `backend = "s3"`.
    pub s3: S3Config,
}

/// `[objects.s3]`: where the bucket is and how to sign requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// `http://HOST:PORT` or `https://HOST`, without a path.
    pub endpoint: String,
    /// Must exist; streamhall does not create it.
    pub bucket: String,
    /// The region requests are signed for (`us-east-1` suits most self-hosted stores; Garage's
    /// default is `garage`).
    pub region: String,
    /// Empty: requests go unsigned.
    pub access_key: String,
    pub secret_key: SecretString,
    /// Let viewers fetch VOD and clip files straight from the store through presigned URLs
    /// (the store must be reachable from their browsers).
    pub presign: bool,
    /// How long a presigned URL works.
    pub presign_ttl_secs: u64,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".into(),
            access_key: String::new(),
            secret_key: SecretString::default(),
            presign: false,
            presign_ttl_secs: 300,
        }
    }
}

/// The configured store, checked: on the filesystem the root under `data_dir` must be
/// writable; on S3 the endpoint must answer, the bucket exist and the credentials work. The
/// error names the config key to fix, e.g. "objects.s3.bucket: bucket `vods` does not exist at
/// http://127.0.0.1:9000".
pub async fn open_store(
    cfg: &ObjectsConfig,
    data_dir: &Path,
) -> Result<Arc<dyn ObjectStore>, String> {
    match cfg.backend {
        ObjectsBackend::Fs => {
            let store = FsObjectStore::new(data_dir.join("objects"));
            store.check().await.map_err(|e| {
                format!(
                    "data_dir: cannot write objects under {}: {e}",
                    store.root().display()
                )
            })?;
            Ok(Arc::new(store))
        }
        ObjectsBackend::S3 => {
            let store = S3ObjectStore::new(&cfg.s3)?;
            store.check().await.map_err(|e| match e {
                ObjectError::Unavailable(m) | ObjectError::Rejected(m) => m,
                other => other.to_string(),
            })?;
            Ok(Arc::new(store))
        }
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

    #[test]
    fn prefixes_are_keys_with_an_optional_slash() {
        for ok in ["vod/", "vod/abc/", "vod/ab", "clips/x/1"] {
            assert!(validate_prefix(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/", "vod//", "../", "/vod/"] {
            assert!(validate_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_unavailable_is_worth_retrying() {
        assert!(ObjectError::Unavailable("connection refused".into()).is_retryable());
        assert!(!ObjectError::Rejected("objects.s3.bucket: missing".into()).is_retryable());
        assert!(!ObjectError::InvalidKey("empty").is_retryable());
    }
}
