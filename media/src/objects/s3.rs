//! Objects in a bucket of an S3-compatible store, through the `minio` client.
//!
//! Requests are addressed path-style (`http://host:port/bucket/key`) except on AWS hosts, and
//! signed for the configured region, so no request asks the store for the bucket's location.
//! Files above [`PART_SIZE`] go up as multipart uploads, one part in memory at a time. The
//! client has no timeouts of its own: every call here runs under one ([`CHECK_TIMEOUT`] for
//! probes, [`REQUEST_TIMEOUT`] for the rest, longer for big uploads).
//!
//! Errors are sorted for the caller: no connection, a timeout or a 5xx is
//! [`ObjectError::Unavailable`] (retry later); a refusal (credentials, a missing bucket, a
//! policy) is [`ObjectError::Rejected`] with the config key to fix first.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use minio::s3::MinioClient;
use minio::s3::builders::{MIN_PART_SIZE, ObjectContent, ObjectToDelete};
use minio::s3::client::{Method, MinioClientBuilder};
use minio::s3::creds::Provider;
use minio::s3::error::{Error, IoError, NetworkError, S3ServerError, ValidationErr};
use minio::s3::http::BaseUrl;
use minio::s3::minio_error_response::MinioErrorCode;
use minio::s3::response::DeleteResult;
use minio::s3::response_traits::HasS3Fields;
use minio::s3::segmented_bytes::SegmentedBytes;
use minio::s3::types::{Region, S3Api, ToStream};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::AsyncReadExt;

use super::{
    ObjectError, ObjectFuture, ObjectInfo, ObjectStore, RangeRead, S3Config, validate_key,
    validate_prefix,
};

/// Part size of multipart uploads; smaller files go up in one request.
const PART_SIZE: u64 = 2 * MIN_PART_SIZE;
/// How long [`ObjectStore::check`] waits for the store.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long any other request may take (an upload gets one more second per MiB).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a presigned URL can work (S3's limit).
const MAX_PRESIGN: Duration = Duration::from_secs(7 * 24 * 3600);
/// Keys per DeleteObjects request (S3's limit).
const DELETE_BATCH: usize = 1000;
/// Bytes read from a file per chunk of an upload.
const READ_CHUNK: usize = 256 * 1024;
const CONTENT_RANGE: &str = "content-range";

/// Objects in one bucket.
pub struct S3ObjectStore {
    client: MinioClient,
    bucket: String,
    /// The endpoint as the client uses it, e.g. `http://127.0.0.1:9000`.
    endpoint: String,
    presign: bool,
    /// `objects.s3.presign_ttl_secs`: the longest a URL this store signs works.
    presign_ttl: Duration,
}

impl fmt::Debug for S3ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3ObjectStore")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("presign", &self.presign)
            .finish_non_exhaustive()
    }
}

/// The access and secret key, handed to the client for signing. Its `Debug` (and so the
/// client's) leaves the secret out.
struct Credentials {
    access_key: String,
    secret_key: SecretString,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"[REDACTED]")
            .finish()
    }
}

impl Provider for Credentials {
    fn fetch(&self) -> minio::s3::creds::Credentials {
        minio::s3::creds::Credentials {
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.expose_secret().to_owned(),
            session_token: None,
        }
    }
}

impl S3ObjectStore {
    /// Builds the client without contacting the store (see [`super::open_store`] for the
    /// checked way). The error names the config key that is wrong.
    pub fn new(cfg: &S3Config) -> Result<Self, String> {
        let endpoint = cfg.endpoint.trim();
        if endpoint.is_empty() {
            return Err(
                "objects.s3.endpoint: must be set when objects.backend = \"s3\" (e.g. \"http://127.0.0.1:3900\")"
                    .into(),
            );
        }
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(format!(
                "objects.s3.endpoint: `{endpoint}` must start with http:// or https://"
            ));
        }
        if cfg.bucket.is_empty() {
            return Err("objects.s3.bucket: must be set when objects.backend = \"s3\"".into());
        }
        minio::s3::types::BucketName::new(&cfg.bucket)
            .map_err(|e| format!("objects.s3.bucket: {e}"))?;
        let mut base_url: BaseUrl = endpoint
            .parse()
            .map_err(|e| format!("objects.s3.endpoint: `{endpoint}` is not usable: {e}"))?;
        base_url.region = Region::new(cfg.region.trim())
            .map_err(|_| "objects.s3.region: must not be empty (most stores take \"us-east-1\")")?;
        base_url.virtual_style = base_url.is_aws_host();
        let endpoint = base_url.to_url_string();
        let credentials = (!cfg.access_key.is_empty()).then(|| Credentials {
            access_key: cfg.access_key.clone(),
            secret_key: cfg.secret_key.clone(),
        });
        let client = MinioClientBuilder::new(base_url)
            .provider(credentials)
            .app_info(Some((
                "streamhall".into(),
                env!("CARGO_PKG_VERSION").into(),
            )))
            .build()
            .map_err(|e| format!("objects.s3.endpoint: cannot build a client: {e}"))?;
        Ok(Self {
            client,
            bucket: cfg.bucket.clone(),
            endpoint,
            presign: cfg.presign,
            presign_ttl: Duration::from_secs(cfg.presign_ttl_secs.max(1)),
        })
    }

    /// Runs `request` under `limit`, sorting its error.
    async fn run<T>(
        &self,
        limit: Duration,
        request: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, ObjectError> {
        match tokio::time::timeout(limit, request).await {
            Ok(result) => result.map_err(|e| self.sort_error(e)),
            Err(_) => Err(ObjectError::Unavailable(format!(
                "objects.s3.endpoint: {} did not answer within {} s",
                self.endpoint,
                limit.as_secs()
            ))),
        }
    }

    /// Unavailable (retry) or Rejected (fix the config), with the config key to look at.
    fn sort_error(&self, e: Error) -> ObjectError {
        let endpoint = &self.endpoint;
        let status_error = |status: u16, detail: String| {
            if status >= 500 {
                ObjectError::Unavailable(format!(
                    "objects.s3.endpoint: {endpoint} answered HTTP {status}: {detail}"
                ))
            } else {
                ObjectError::Rejected(format!(
                    "objects.s3: {endpoint} refused the request with HTTP {status}: {detail}"
                ))
            }
        };
        match e {
            Error::Validation(ValidationErr::HttpError(e))
            | Error::Network(NetworkError::ReqwestError(e)) => ObjectError::Unavailable(format!(
                "objects.s3.endpoint: cannot reach {endpoint}: {}",
                error_chain(&e)
            )),
            Error::Network(NetworkError::ServerError(status)) => {
                status_error(status, "no error body".into())
            }
            Error::S3Server(S3ServerError::InvalidServerResponse {
                message,
                http_status_code,
                ..
            }) => status_error(http_status_code, message),
            Error::S3Server(S3ServerError::HttpError(status, body)) => status_error(status, body),
            Error::S3Server(S3ServerError::S3Error(response)) => {
                let code = response.code();
                let message = response.message().clone().unwrap_or_default();
                self.sort_code(&code, &message)
            }
            Error::DriveIo(IoError::IOError(e)) | Error::Validation(ValidationErr::IOError(e)) => {
                ObjectError::Io(e)
            }
            Error::Validation(
                e @ (ValidationErr::InsufficientData { .. } | ValidationErr::TooMuchData(_)),
            ) => ObjectError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the file changed while it was uploaded: {e}"),
            )),
            other => ObjectError::Rejected(format!("objects.s3: {}", error_chain(&other))),
        }
    }

    /// An S3 error code as Unavailable or Rejected. The client lower-cases codes it does not
    /// know (`OtherError("internalerror")`).
    fn sort_code(&self, code: &MinioErrorCode, message: &str) -> ObjectError {
        let (endpoint, bucket) = (&self.endpoint, &self.bucket);
        let name = code.to_string().to_ascii_lowercase();
        match name.as_str() {
            "internalerror"
            | "serviceunavailable"
            | "slowdown"
            | "requesttimeout"
            | "throttling"
            | "xminioservernotinitialized" => ObjectError::Unavailable(format!(
                "objects.s3.endpoint: {endpoint} is not serving requests now ({code}: {message})"
            )),
            "nosuchbucket" => ObjectError::Rejected(no_such_bucket(bucket, endpoint)),
            "accessdenied"
            | "invalidaccesskeyid"
            | "signaturedoesnotmatch"
            | "invalidtoken"
            | "expiredtoken" => ObjectError::Rejected(format!(
                "objects.s3.access_key/secret_key: the store refused the credentials for bucket `{bucket}` at {endpoint} ({code}: {message})"
            )),
            "authorizationheadermalformed" | "invalidregion" => ObjectError::Rejected(format!(
                "objects.s3.region: {endpoint} expects another region ({code}: {message})"
            )),
            _ => ObjectError::Rejected(format!(
                "objects.s3: {endpoint} refused the request on bucket `{bucket}` ({code}: {message})"
            )),
        }
    }

    fn object_key(key: &str) -> Result<minio::s3::types::ObjectKey, ObjectError> {
        validate_key(key)?;
        minio::s3::types::ObjectKey::new(key)
            .map_err(|_| ObjectError::InvalidKey("not accepted by the S3 client"))
    }

    fn rejected(&self, e: ValidationErr) -> ObjectError {
        self.sort_error(Error::Validation(e))
    }

    /// Uploads a file of `size` bytes as a stream (in parts when it is bigger than a part).
    async fn upload_file(&self, key: &str, path: &Path, size: u64) -> Result<(), ObjectError> {
        let object = Self::object_key(key)?;
        let file = tokio::fs::File::open(path).await?;
        let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
            let mut buf = vec![0; READ_CHUNK];
            let n = file.read(&mut buf).await?;
            buf.truncate(n);
            Ok::<_, io::Error>((n > 0).then(|| (Bytes::from(buf), file)))
        });
        let content = ObjectContent::new_from_stream(chunks, Some(size));
        let request = self
            .client
            .put_object_content(&self.bucket, object, content)
            .map_err(|e| self.rejected(e))?
            .part_size(Some(PART_SIZE))
            .build();
        let limit = REQUEST_TIMEOUT + Duration::from_secs(size / (1024 * 1024));
        self.run(limit, request.send()).await?;
        Ok(())
    }

    /// Deletes up to [`DELETE_BATCH`] keys in one request; returns how many went.
    async fn delete_batch(&self, keys: &[ObjectInfo]) -> Result<u64, ObjectError> {
        let objects = keys
            .iter()
            .map(|o| ObjectToDelete::try_from(o.key.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.rejected(e))?;
        let request = self
            .client
            .delete_objects(&self.bucket, objects)
            .map_err(|e| self.rejected(e))?
            .build();
        let response = self.run(REQUEST_TIMEOUT, request.send()).await?;
        let results = response.result().map_err(|e| self.sort_error(e))?;
        let failed: Vec<_> = results
            .iter()
            .filter_map(|r| match r {
                DeleteResult::Error(e) => Some(e),
                DeleteResult::Deleted(_) => None,
            })
            .collect();
        match failed.first() {
            None => Ok(keys.len() as u64),
            Some(first) => {
                let code = first.code.parse().unwrap_or_default();
                Err(match self.sort_code(&code, &first.message) {
                    ObjectError::Unavailable(m) => ObjectError::Unavailable(format!(
                        "{} of {} deletions failed, e.g. `{}`: {m}",
                        failed.len(),
                        keys.len(),
                        first.object_name
                    )),
                    ObjectError::Rejected(m) => ObjectError::Rejected(format!(
                        "{} of {} deletions failed, e.g. `{}`: {m}",
                        failed.len(),
                        keys.len(),
                        first.object_name
                    )),
                    other => other,
                })
            }
        }
    }
}

/// What the store says when the bucket is missing, as open_store reports it.
fn no_such_bucket(bucket: &str, endpoint: &str) -> String {
    format!("objects.s3.bucket: bucket `{bucket}` does not exist at {endpoint}")
}

/// `e` and its sources, joined with `: ` (reqwest's own message hides the cause, e.g.
/// "Connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// The total size from a `Content-Range: bytes 0-9/100` header.
fn content_range_total(value: &str) -> Option<u64> {
    value.rsplit_once('/')?.1.trim().parse().ok()
}

fn is_missing(e: &Error) -> bool {
    matches!(e, Error::S3Server(S3ServerError::S3Error(r)) if r.code() == MinioErrorCode::NoSuchKey)
}

fn is_invalid_range(e: &Error) -> bool {
    matches!(e, Error::S3Server(S3ServerError::S3Error(r))
        if r.code().to_string().eq_ignore_ascii_case("invalidrange"))
}

impl ObjectStore for S3ObjectStore {
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> ObjectFuture<'a, ()> {
        Box::pin(async move {
            let object = Self::object_key(key)?;
            let request = self
                .client
                .put_object(&self.bucket, object, SegmentedBytes::from(data))
                .map_err(|e| self.rejected(e))?
                .build();
            self.run(REQUEST_TIMEOUT, request.send()).await?;
            Ok(())
        })
    }

    fn put_file<'a>(&'a self, key: &'a str, path: &'a Path) -> ObjectFuture<'a, ()> {
        Box::pin(async move {
            validate_key(key)?;
            let size = tokio::fs::metadata(path).await?.len();
            if size == 0 {
                // The multipart path cannot express an empty object.
                return self.put(key, Bytes::new()).await;
            }
            self.upload_file(key, path, size).await
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> ObjectFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            let object = Self::object_key(key)?;
            let request = self
                .client
                .get_object(&self.bucket, object)
                .map_err(|e| self.rejected(e))?
                .build();
            let fetch = async {
                match request.send().await {
                    Ok(response) => response.into_bytes().await.map(Some),
                    Err(e) if is_missing(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            };
            self.run(REQUEST_TIMEOUT, fetch).await
        })
    }

    fn get_range<'a>(
        &'a self,
        key: &'a str,
        start: u64,
        end_inclusive: Option<u64>,
    ) -> ObjectFuture<'a, Option<RangeRead>> {
        Box::pin(async move {
            let object = Self::object_key(key)?;
            if end_inclusive.is_some_and(|end| end < start) {
                // Nothing to read; S3 would ignore such a range and send everything.
                return Ok(self.stat(key).await?.map(|info| RangeRead {
                    data: Bytes::new(),
                    start,
                    total: info.size,
                }));
            }
            let request = self
                .client
                .get_object(&self.bucket, object)
                .map_err(|e| self.rejected(e))?
                .offset(Some(start))
                .length(end_inclusive.map(|end| (end - start).saturating_add(1)))
                .build();
            let fetch = async {
                let response = match request.send().await {
                    Ok(response) => response,
                    Err(e) if is_missing(&e) => return Ok(Ok(None)),
                    Err(e) if is_invalid_range(&e) => return Ok(Err(())),
                    Err(e) => return Err(e),
                };
                let total = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(content_range_total);
                let data = response.into_bytes().await?;
                Ok(Ok(Some(match total {
                    Some(total) => RangeRead { data, start, total },
                    // The store ignored the range and sent the whole object.
                    None => {
                        let total = data.len() as u64;
                        let from = start.min(total) as usize;
                        let to = end_inclusive.map_or(total, |e| e.saturating_add(1).min(total))
                            as usize;
                        RangeRead {
                            data: data.slice(from..to.max(from)),
                            start,
                            total,
                        }
                    }
                })))
            };
            match self.run(REQUEST_TIMEOUT, fetch).await? {
                Ok(read) => Ok(read),
                // 416: the start is at or past the end (or the object is empty).
                Err(()) => Ok(self.stat(key).await?.map(|info| RangeRead {
                    data: Bytes::new(),
                    start,
                    total: info.size,
                })),
            }
        })
    }

    fn stat<'a>(&'a self, key: &'a str) -> ObjectFuture<'a, Option<ObjectInfo>> {
        Box::pin(async move {
            let object = Self::object_key(key)?;
            let request = self
                .client
                .stat_object(&self.bucket, object)
                .map_err(|e| self.rejected(e))?
                .build();
            let fetch = async {
                match request.send().await {
                    Ok(response) => Ok(Some(response.size()?)),
                    Err(e) if is_missing(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            };
            let size = self.run(REQUEST_TIMEOUT, fetch).await?;
            Ok(size.map(|size| ObjectInfo {
                key: key.to_owned(),
                size,
            }))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> ObjectFuture<'a, ()> {
        Box::pin(async move {
            validate_key(key)?;
            let request = self
                .client
                .delete_object(&self.bucket, key)
                .map_err(|e| self.rejected(e))?
                .build();
            let fetch = async {
                match request.send().await {
                    Ok(_) => Ok(()),
                    Err(e) if is_missing(&e) => Ok(()),
                    Err(e) => Err(e),
                }
            };
            self.run(REQUEST_TIMEOUT, fetch).await
        })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> ObjectFuture<'a, u64> {
        Box::pin(async move {
            let objects = self.list(prefix).await?;
            let mut deleted = 0;
            for batch in objects.chunks(DELETE_BATCH) {
                deleted += self.delete_batch(batch).await?;
            }
            Ok(deleted)
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> ObjectFuture<'a, Vec<ObjectInfo>> {
        Box::pin(async move {
            use futures_util::StreamExt;
            validate_prefix(prefix)?;
            let request = self
                .client
                .list_objects(&self.bucket)
                .map_err(|e| self.rejected(e))?
                .prefix(Some(prefix.to_owned()))
                .recursive(true)
                .build();
            let fetch = async {
                let mut pages = request.to_stream().await;
                let mut found = Vec::new();
                while let Some(page) = pages.next().await {
                    for entry in page?.contents {
                        if !entry.is_prefix && !entry.is_delete_marker {
                            found.push(ObjectInfo {
                                size: entry.size.unwrap_or(0),
                                key: entry.name,
                            });
                        }
                    }
                }
                Ok(found)
            };
            let mut found = self.run(REQUEST_TIMEOUT, fetch).await?;
            // Stores list in key order already; S3 does not promise it for every bucket kind.
            found.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(found)
        })
    }

    fn presign_get<'a>(&'a self, key: &'a str, ttl: Duration) -> ObjectFuture<'a, Option<String>> {
        Box::pin(async move {
            let object = Self::object_key(key)?;
            if !self.presign {
                return Ok(None);
            }
            let seconds = ttl
                .min(self.presign_ttl)
                .clamp(Duration::from_secs(1), MAX_PRESIGN)
                .as_secs() as u32;
            let request = self
                .client
                .get_presigned_object_url(&self.bucket, object, Method::GET)
                .map_err(|e| self.rejected(e))?
                .expiry_seconds(Some(seconds))
                .build();
            // Signing only: the region is configured, so nothing goes over the network.
            let response = self.run(REQUEST_TIMEOUT, request.send()).await?;
            Ok(Some(response.url))
        })
    }

    fn check(&self) -> ObjectFuture<'_, ()> {
        Box::pin(async move {
            let request = self
                .client
                .bucket_exists(&self.bucket)
                .map_err(|e| self.rejected(e))?
                .build();
            let response = self.run(CHECK_TIMEOUT, request.send()).await?;
            if response.exists() {
                Ok(())
            } else {
                Err(ObjectError::Rejected(no_such_bucket(
                    &self.bucket,
                    &self.endpoint,
                )))
            }
        })
    }

    fn describe(&self) -> String {
        format!("s3 {} bucket {}", self.endpoint, self.bucket)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn config() -> S3Config {
        S3Config {
            endpoint: "http://127.0.0.1:9000".into(),
            bucket: "vods".into(),
            access_key: "GKexample".into(),
            secret_key: SecretString::from("hunter2-secret".to_owned()),
            ..S3Config::default()
        }
    }

    #[test]
    fn the_secret_key_never_prints() {
        let cfg = config();
        let store = S3ObjectStore::new(&cfg).unwrap();
        for text in [
            format!("{cfg:?}"),
            format!("{store:?}"),
            format!("{:?}", store.client),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert_eq!(store.describe(), "s3 http://127.0.0.1:9000 bucket vods");
    }

    #[test]
    fn bad_settings_name_the_key() {
        for (cfg, key) in [
            (
                S3Config {
                    endpoint: String::new(),
                    ..config()
                },
                "objects.s3.endpoint:",
            ),
            (
                S3Config {
                    endpoint: "127.0.0.1:9000".into(),
                    ..config()
                },
                "objects.s3.endpoint:",
            ),
            (
                S3Config {
                    endpoint: "http://127.0.0.1:9000/some/path".into(),
                    ..config()
                },
                "objects.s3.endpoint:",
            ),
            (
                S3Config {
                    bucket: String::new(),
                    ..config()
                },
                "objects.s3.bucket:",
            ),
            (
                S3Config {
                    bucket: "a".into(),
                    ..config()
                },
                "objects.s3.bucket:",
            ),
            (
                S3Config {
                    region: String::new(),
                    ..config()
                },
                "objects.s3.region:",
            ),
        ] {
            let err = S3ObjectStore::new(&cfg).unwrap_err();
            assert!(err.starts_with(key), "{err}");
        }
    }

    #[test]
    fn errors_are_sorted_into_retry_or_fix() {
        let store = S3ObjectStore::new(&config()).unwrap();
        let unavailable = store.sort_code(&"internalerror".parse().unwrap(), "try again");
        assert!(unavailable.is_retryable(), "{unavailable}");
        let denied = store.sort_code(&MinioErrorCode::AccessDenied, "Access denied");
        assert!(!denied.is_retryable());
        assert!(
            denied
                .to_string()
                .contains("objects.s3.access_key/secret_key"),
            "{denied}"
        );
        let bucket = store.sort_code(&MinioErrorCode::NoSuchBucket, "");
        assert!(
            bucket.to_string().contains(
                "objects.s3.bucket: bucket `vods` does not exist at http://127.0.0.1:9000"
            ),
            "{bucket}"
        );
        assert!(
            store
                .sort_error(Error::Network(NetworkError::ServerError(503)))
                .is_retryable()
        );
        assert!(
            !store
                .sort_error(Error::Network(NetworkError::ServerError(401)))
                .is_retryable()
        );
    }

    #[test]
    fn content_range_gives_the_total() {
        assert_eq!(content_range_total("bytes 0-9/100"), Some(100));
        assert_eq!(content_range_total("bytes */100"), Some(100));
        assert_eq!(content_range_total("bytes 0-9/*"), None);
    }
}
