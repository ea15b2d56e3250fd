//! Password hashing with a bounded cost: argon2id (OWASP's m = 19456 KiB, t = 2, p = 1) takes
//! about 19 MiB and tens of milliseconds of one core per hash, so an unbounded number of
//! concurrent logins is a memory amplifier (100 concurrent logins took the process from 44 MB
//! to 2.2 GB, and glibc kept it).
//!
//! - At most `workers` hashes run at once (one per core by default), on the blocking pool.
//! - Each running hash borrows one of `workers` preallocated block buffers and gives it back:
//!   the memory argon2 needs is allocated `workers` times for the life of the process, never per
//!   request, so it cannot grow with the load.
//! - At most `queue` requests wait for a worker, each for at most `wait`; beyond either the
//!   answer is [`Overloaded`] (HTTP 503 with `Retry-After`) before any hashing work or memory.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`, unpadded base64), the
//! format the `argon2` crate writes; one this module cannot parse is checked by that crate (on
//! a worker too).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, PasswordVerifier, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

const M_COST: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;

/// Every worker is busy and the queue is full, or the wait ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password checks are overloaded; retry in {retry_after_secs} s")]
pub struct Overloaded {
    pub retry_after_secs: u64,
}

/// Why hashing or checking a password failed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error(transparent)]
    Overloaded(#[from] Overloaded),
    #[error("password hashing: {0}")]
    Internal(String),
}

/// How many hashes may run and wait.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub workers: usize,
    pub queue: usize,
    pub wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            workers,
            queue: 64 * workers,
            wait: Duration::from_secs(5),
        }
    }
}

/// The hashing service: a semaphore of `workers` permits, a bounded wait, and a pool of block
/// buffers. Cloning shares it.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    limits: Limits,
    permits: Semaphore,
    waiting: AtomicUsize,
    buffers: Mutex<Vec<Vec<Block>>>,
    /// For tests: hashes running now, and the most ever at once.
    running: AtomicUsize,
    peak: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn params() -> Result<Params, PasswordError> {
    Params::new(M_COST, T_COST, P_COST, Some(OUTPUT_LEN))
        .map_err(|e| PasswordError::Internal(e.to_string()))
}

impl Hasher {
    pub fn new(limits: Limits) -> Self {
        let workers = limits.workers.max(1);
        Self {
            inner: Arc::new(Inner {
                limits: Limits { workers, ..limits },
                permits: Semaphore::new(workers),
                waiting: AtomicUsize::new(0),
                buffers: Mutex::new(Vec::new()),
                running: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
            }),
        }
    }

    /// The process's hasher, sized to its cores.
    pub fn shared() -> &'static Hasher {
        static SHARED: std::sync::LazyLock<Hasher> =
            std::sync::LazyLock::new(|| Hasher::new(Limits::default()));
        &SHARED
    }

    /// A PHC string for `password` with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(move |blocks| {
            let mut salt = [0u8; SALT_LEN];
            getrandom::fill(&mut salt).map_err(|e| PasswordError::Internal(e.to_string()))?;
            let mut out = [0u8; OUTPUT_LEN];
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params()?)
                .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
                .map_err(|e| PasswordError::Internal(e.to_string()))?;
            Ok(format!(
                "$argon2id$v=19$m={M_COST},t={T_COST},p={P_COST}${}${}",
                B64.encode(salt),
                B64.encode(out)
            ))
        })
        .await
    }

    /// Whether `password` matches the PHC string `stored`.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, PasswordError> {
        self.run(move |blocks| match Phc::parse(&stored) {
            Some(phc) => phc.matches(password.as_bytes(), blocks),
            None => {
                // Another writer's parameters or format: the crate checks it (allocating).
                let parsed = PasswordHash::new(&stored)
                    .map_err(|e| PasswordError::Internal(format!("stored hash: {e}")))?;
                Ok(Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok())
            }
        })
        .await
    }

    /// Waits (bounded) for a worker, then runs `work` on the blocking pool with a buffer.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut [Block]) -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let inner = &self.inner;
        let busy = Overloaded {
            retry_after_secs: inner.limits.wait.as_secs().max(1),
        };
        let permit = match inner.permits.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                if inner.waiting.fetch_add(1, Ordering::AcqRel) >= inner.limits.queue {
                    inner.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(busy.into());
                }
                let waited = tokio::time::timeout(inner.limits.wait, inner.permits.acquire()).await;
                inner.waiting.fetch_sub(1, Ordering::AcqRel);
                match waited {
                    Ok(Ok(p)) => p,
                    Ok(Err(_)) | Err(_) => return Err(busy.into()),
                }
            }
        };
        let this = Arc::clone(inner);
        let result = tokio::task::spawn_blocking(move || {
            let now = this.running.fetch_add(1, Ordering::AcqRel) + 1;
            this.peak.fetch_max(now, Ordering::AcqRel);
            let mut blocks = lock(&this.buffers).pop().unwrap_or_else(|| {
                vec![Block::default(); params().map_or(M_COST as usize, |p| p.block_count())]
            });
            let out = work(&mut blocks);
            lock(&this.buffers).push(blocks);
            this.running.fetch_sub(1, Ordering::AcqRel);
            out
        })
        .await
        .map_err(|e| PasswordError::Internal(e.to_string()))?;
        drop(permit);
        result
    }

    /// The most hashes that ever ran at once.
    pub fn peak_concurrency(&self) -> usize {
        self.inner.peak.load(Ordering::Acquire)
    }

    /// Block buffers allocated so far (at most `workers`).
    pub fn buffers(&self) -> usize {
        lock(&self.inner.buffers).len()
    }
}

/// A parsed `$argon2id$v=19$m=..,t=..,p=..$salt$hash` with this module's cost.
struct Phc {
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Phc {
    fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('$');
        let (empty, alg, version, costs) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let (salt, hash) = (parts.next()?, parts.next()?);
        let expected = format!("m={M_COST},t={T_COST},p={P_COST}");
        if !empty.is_empty()
            || alg != "argon2id"
            || version != "v=19"
            || costs != expected
            || parts.next().is_some()
        {
            return None;
        }
        let salt = B64.decode(salt).ok()?;
        let hash = B64.decode(hash).ok()?;
        (!salt.is_empty() && (4..=64).contains(&hash.len())).then_some(Self { salt, hash })
    }

    fn matches(&self, password: &[u8], blocks: &mut [Block]) -> Result<bool, PasswordError> {
        let params = Params::new(M_COST, T_COST, P_COST, Some(self.hash.len()))
            .map_err(|e| PasswordError::Internal(e.to_string()))?;
        let mut out = vec![0u8; self.hash.len()];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into_with_memory(password, &self.salt, &mut out, blocks)
            .map_err(|e| PasswordError::Internal(e.to_string()))?;
        Ok(bool::from(out.ct_eq(&self.hash)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use argon2::PasswordHasher;

    fn small(workers: usize, queue: usize, wait_ms: u64) -> Hasher {
        Hasher::new(Limits {
            workers,
            queue,
            wait: Duration::from_millis(wait_ms),
        })
    }

    #[tokio::test]
    async fn hashes_verify_and_read_the_crates_own_format() {
        let h = small(1, 4, 5_000);
        let stored = h.hash("correct horse".into()).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(
            h.verify("correct horse".into(), stored.clone())
                .await
                .unwrap()
        );
        assert!(!h.verify("wrong".into(), stored.clone()).await.unwrap());
        // What the argon2 crate wrote (every hash before this module) still verifies, and the
        // crate accepts ours.
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params().unwrap())
            .hash_password(b"battery staple")
            .unwrap()
            .to_string();
        assert!(h.verify("battery staple".into(), theirs).await.unwrap());
        let ours = PasswordHash::new(&stored).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &ours)
                .is_ok()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_checks_run_at_most_workers_at_once_on_reused_buffers() {
        let h = small(2, 1_000, 60_000);
        let stored = h.hash("pw".into()).await.unwrap();
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (h, stored) = (h.clone(), stored.clone());
                tokio::spawn(async move { h.verify("nope".into(), stored).await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert!(!t.await.unwrap());
        }
        assert_eq!(h.peak_concurrency(), 2);
        assert!(h.buffers() <= 2, "{} buffers", h.buffers());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_full_queue_or_a_long_wait_is_overloaded_before_any_work() {
        let h = small(1, 1, 1);
        let stored = h.hash("pw".into()).await.unwrap();
        let results: Vec<_> =
            futures_util::future::join_all((0..6).map(|_| h.verify("pw".into(), stored.clone())))
                .await;
        let overloaded = results
            .iter()
            .filter(|r| matches!(r, Err(PasswordError::Overloaded(_))))
            .count();
        assert!(overloaded >= 4, "{overloaded} of 6 refused");
        assert!(results.iter().any(|r| matches!(r, Ok(true))));
        assert_eq!(h.peak_concurrency(), 1);
    }

    #[test]
    fn only_our_own_format_is_parsed_by_hand() {
        assert!(Phc::parse("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g").is_some());
        assert!(Phc::parse("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g").is_none());
        assert!(Phc::parse("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g").is_none());
        assert!(Phc::parse("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ").is_none());
        assert!(Phc::parse("$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaGhhc2g").is_none());
    }
}
