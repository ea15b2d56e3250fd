//! Copying the object store: every object out to `objects/KEY` in a backup, and every file
//! under it back in on a restore, a few objects at a time with progress lines.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow};
use streamhall_media::objects::{ObjectInfo, ObjectStore, validate_key};
use tokio::io::AsyncWriteExt;

use super::{human_bytes, manifest::ObjectTotals};

/// Objects are read and written this much at a time.
const CHUNK: u64 = 8 << 20;
/// Objects copied at once (S3 latency, not bandwidth, is what bounds a copy of small segments).
const WORKERS: usize = 4;
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Every object of the store, copied under `dir` by key.
pub(super) async fn mirror_objects(
    store: Arc<dyn ObjectStore>,
    dir: &Path,
) -> anyhow::Result<ObjectTotals> {
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

pub(super) async fn restore_objects(
    store: Arc<dyn ObjectStore>,
    dir: &Path,
) -> anyhow::Result<ObjectTotals> {
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
