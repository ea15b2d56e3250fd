//! [`Refusal`]: the error answers of video and clip files (and of the API routes that share
//! their codes), in the API's `{ error, message }` shape, never cached.

use std::fmt;

use actix_web::{
    HttpResponse, ResponseError,
    http::{
        StatusCode,
        header::{self, HeaderValue},
    },
};
use streamhall_media::objects::ObjectError;

use crate::error::ErrorBody;

const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// An error answer with a code [`crate::error::ApiError`] has no kind for (`not_live`,
/// `objects_unavailable`, …), in the API's `{ error, message }` shape.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
}

impl Refusal {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(std::cmp::max(secs, 1));
        self
    }

    pub(super) fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// The store failed: an invalid key is a missing object, anything else is logged and 503.
    pub fn objects(err: ObjectError) -> Self {
        if let ObjectError::InvalidKey(_) = err {
            return Self::not_found("file");
        }
        if err.is_storage_full() {
            tracing::error!(error = %err, "the object store's disk is full: nothing is saved until there is room");
            return Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage_full",
                "the server's storage is full, so nothing was saved; try again later",
            );
        }
        tracing::error!(error = %err, "object store unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "objects_unavailable",
            "video storage cannot be reached right now; try again in a moment",
        )
        .retry_after(5)
    }

    pub(super) fn internal(err: sea_orm::DbErr) -> Self {
        tracing::error!(error = %err, "database error while serving video");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CACHE_CONTROL, NO_CACHE));
        if let Some(secs) = self.retry_after_secs {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.json(ErrorBody {
            error: self.code,
            message: self.message.clone(),
            field: None,
            fields: None,
            request_id: None,
        })
    }
}
