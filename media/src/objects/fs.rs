//! Objects as files under a root directory: key `a/b.ts` is the file `{root}/a/b.ts`.
//!
//! Every write goes to a temporary dot-file in the object's directory and is renamed into
//! place, so readers see the old object or the new one. Listings walk the directories, skip
//! dot-files (writes in progress) and sort the keys; deleting a prefix also removes the
//! directories it empties.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{
    ObjectError, ObjectFuture, ObjectInfo, ObjectStore, RangeRead, validate_key, validate_prefix,
};

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

    /// The object's path, with its directory created.
    async fn writable_path_of(&self, key: &str) -> Result<(PathBuf, PathBuf), ObjectError> {
        let path = self.path_of(key)?;
        let dir = path
            .parent()
            .ok_or(ObjectError::InvalidKey("no parent directory"))?
            .to_path_buf();
        tokio::fs::create_dir_all(&dir).await?;
        Ok((path, dir))
    }

    /// Every file under the directory that holds `prefix`, as (key, size), unsorted.
    async fn walk(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ObjectError> {
        validate_prefix(prefix)?;
        let mut found = Vec::new();
        let mut dirs = vec![base_of(prefix).to_owned()];
        while let Some(rel) = dirs.pop() {
            let mut entries = match tokio::fs::read_dir(self.root.join(&rel)).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) if e.kind() == io::ErrorKind::NotADirectory => continue,
                Err(e) => return Err(e.into()),
            };
            while let Some(entry) = entries.next_entry().await? {
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                if name.starts_with('.') {
                    continue;
                }
                let key = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                // An entry deleted while the walk runs (a concurrent delete) is simply gone.
                let kind = match entry.file_type().await {
                    Ok(k) => k,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                };
                if kind.is_dir() {
                    if may_hold(&key, prefix) {
                        dirs.push(key);
                    }
                } else if kind.is_file() && key.starts_with(prefix) && validate_key(&key).is_ok() {
                    let size = match entry.metadata().await {
                        Ok(m) => m.len(),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e.into()),
                    };
                    found.push(ObjectInfo { key, size });
                }
            }
        }
        Ok(found)
    }

    /// Removes the directories under the base of `prefix` whose keys start with it and that
    /// are now empty, deepest first.
    async fn remove_empty_dirs(&self, prefix: &str) {
        let mut candidates = Vec::new();
        let mut dirs = vec![base_of(prefix).to_owned()];
        while let Some(rel) = dirs.pop() {
            let Ok(mut entries) = tokio::fs::read_dir(self.root.join(&rel)).await else {
                continue;
            };
            if !rel.is_empty() && may_hold(&rel, prefix) {
                candidates.push(rel.clone());
            }
            while let Ok(Some(entry)) = entries.next_entry().await {
                let is_dir = entry.file_type().await.is_ok_and(|t| t.is_dir());
                if let (true, Some(name)) = (is_dir, entry.file_name().to_str()) {
                    let key = if rel.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{rel}/{name}")
                    };
                    if may_hold(&key, prefix) {
                        dirs.push(key);
                    }
                }
            }
        }
        // Deeper paths are longer: children go before their parents.
        candidates.sort_by_key(|rel| std::cmp::Reverse(rel.len()));
        for rel in candidates {
            // Fails while something is still inside (a write in progress); that is fine.
            let _ = tokio::fs::remove_dir(self.root.join(rel)).await;
        }
    }
}

/// The directory part of a prefix: `vod/abc/` and `vod/abc/0000` -> `vod/abc`, `vod` -> ``.
fn base_of(prefix: &str) -> &str {
    prefix.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Whether directory `dir` (a key path under the base of `prefix`) holds only keys that
/// start with `prefix`.
fn may_hold(dir: &str, prefix: &str) -> bool {
    format!("{dir}/").starts_with(prefix)
}

/// A temporary name next to `path`, unique in this process and across processes.
fn temp_path(dir: &Path, path: &Path) -> PathBuf {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{file_name}.{}.{n}.tmp", std::process::id()))
}

/// Renames `tmp` over `path`, removing `tmp` when anything failed.
async fn commit(tmp: &Path, path: &Path, written: io::Result<()>) -> Result<(), ObjectError> {
    let result = match written {
        Ok(()) => tokio::fs::rename(tmp, path).await,
        Err(e) => Err(e),
    };
    if result.is_err() {
        let _ = tokio::fs::remove_file(tmp).await;
    }
    Ok(result?)
}

impl ObjectStore for FsObjectStore {
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> ObjectFuture<'a, ()> {
        Box::pin(async move {
            let (path, dir) = self.writable_path_of(key).await?;
            let tmp = temp_path(&dir, &path);
            let written = tokio::fs::write(&tmp, &data).await;
            commit(&tmp, &path, written).await
        })
    }

    fn put_file<'a>(&'a self, key: &'a str, source: &'a Path) -> ObjectFuture<'a, ()> {
        Box::pin(async move {
            let (path, dir) = self.writable_path_of(key).await?;
            let tmp = temp_path(&dir, &path);
            let written = tokio::fs::copy(source, &tmp).await.map(|_| ());
            commit(&tmp, &path, written).await
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

    fn get_range<'a>(
        &'a self,
        key: &'a str,
        start: u64,
        end_inclusive: Option<u64>,
    ) -> ObjectFuture<'a, Option<RangeRead>> {
        Box::pin(async move {
            let path = self.path_of(key)?;
            let mut file = match tokio::fs::File::open(&path).await {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let total = file.metadata().await?.len();
            let end = end_inclusive.map_or(total, |e| e.saturating_add(1).min(total));
            let mut data = Vec::new();
            if start < end {
                file.seek(SeekFrom::Start(start)).await?;
                data = vec![0; usize::try_from(end - start).map_err(io::Error::other)?];
                file.read_exact(&mut data).await?;
            }
            Ok(Some(RangeRead {
                data: Bytes::from(data),
                start,
                total,
            }))
        })
    }

    fn stat<'a>(&'a self, key: &'a str) -> ObjectFuture<'a, Option<ObjectInfo>> {
        Box::pin(async move {
            let path = self.path_of(key)?;
            match tokio::fs::metadata(&path).await {
                Ok(m) if m.is_file() => Ok(Some(ObjectInfo {
                    key: key.to_owned(),
                    size: m.len(),
                })),
                Ok(_) => Ok(None),
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

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> ObjectFuture<'a, u64> {
        Box::pin(async move {
            let mut deleted = 0;
            for object in self.walk(prefix).await? {
                match tokio::fs::remove_file(self.root.join(&object.key)).await {
                    Ok(()) => deleted += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
            self.remove_empty_dirs(prefix).await;
            Ok(deleted)
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> ObjectFuture<'a, Vec<ObjectInfo>> {
        Box::pin(async move {
            let mut found = self.walk(prefix).await?;
            found.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(found)
        })
    }

    fn presign_get<'a>(&'a self, key: &'a str, _ttl: Duration) -> ObjectFuture<'a, Option<String>> {
        Box::pin(async move {
            validate_key(key)?;
            Ok(None)
        })
    }

    fn check(&self) -> ObjectFuture<'_, ()> {
        Box::pin(async move {
            tokio::fs::create_dir_all(&self.root).await?;
            let probe = temp_path(&self.root, Path::new("check"));
            tokio::fs::write(&probe, b"").await?;
            tokio::fs::remove_file(&probe).await?;
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!("filesystem {}", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn writes_leave_no_temporary_files() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FsObjectStore::new(tmp.path().join("objects"));
        store
            .put("thumbnails/a.jpg", Bytes::from_static(b"one"))
            .await
            .unwrap();
        store
            .put("thumbnails/a.jpg", Bytes::from_static(b"two"))
            .await
            .unwrap();
        let src = tmp.path().join("src.bin");
        std::fs::write(&src, b"file").unwrap();
        store.put_file("thumbnails/b.jpg", &src).await.unwrap();
        let mut names: Vec<_> = std::fs::read_dir(tmp.path().join("objects/thumbnails"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["a.jpg", "b.jpg"]);
        assert!(src.exists(), "put_file copies, the source stays");
    }

    #[tokio::test]
    async fn listings_skip_writes_in_progress() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FsObjectStore::new(tmp.path());
        store
            .put("vod/v/a.ts", Bytes::from_static(b"a"))
            .await
            .unwrap();
        std::fs::write(tmp.path().join("vod/v/.b.ts.1.0.tmp"), b"half").unwrap();
        let keys: Vec<_> = store.list("vod/").await.unwrap();
        assert_eq!(
            keys,
            [ObjectInfo {
                key: "vod/v/a.ts".into(),
                size: 1
            }]
        );
    }

    #[tokio::test]
    async fn delete_prefix_removes_the_directories_it_empties_only() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FsObjectStore::new(tmp.path());
        for key in ["vod/abc/720p/1.ts", "vod/abc/master.m3u8", "vod/abd/x.ts"] {
            store.put(key, Bytes::from_static(b"x")).await.unwrap();
        }
        assert_eq!(store.delete_prefix("vod/abc/").await.unwrap(), 2);
        assert!(!tmp.path().join("vod/abc").exists());
        assert!(tmp.path().join("vod/abd/x.ts").exists());
        // A partial component matches by string, as on S3; the parent stays.
        assert_eq!(store.delete_prefix("vod/ab").await.unwrap(), 1);
        assert!(!tmp.path().join("vod/abd").exists());
        assert!(tmp.path().join("vod").exists());
    }

    #[tokio::test]
    async fn check_creates_the_root_and_fails_when_it_cannot() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FsObjectStore::new(tmp.path().join("a/b"));
        store.check().await.unwrap();
        assert!(tmp.path().join("a/b").is_dir());
        assert_eq!(
            std::fs::read_dir(tmp.path().join("a/b")).unwrap().count(),
            0
        );
        // A file where the root should be.
        std::fs::write(tmp.path().join("file"), b"").unwrap();
        let blocked = FsObjectStore::new(tmp.path().join("file/objects"));
        assert!(blocked.check().await.is_err());
    }
}
