//! The API's one error type. Every failure a handler can return maps to a status and a
//! stable snake_case code; the JSON shape is `{ "error": code, "message": text }` plus
//! `field` for validation errors and `request_id` for internal errors. Internal error text
//! is logged, never sent. A validation error names every field that failed in `fields`
//! (`field` and `message` repeat the first, for clients that read only one).

use std::fmt;

use actix_web::{HttpResponse, ResponseError, http::StatusCode, http::header};
use serde::Serialize;
use utoipa::ToSchema;

use crate::request_id::current_request_id;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// One or more request fields are invalid (never empty).
    #[error("{}", .0.first().map_or("invalid request", |p| p.message.as_str()))]
    Invalid(Vec<FieldProblem>),
    #[error("authentication required")]
    Unauthorized,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(&'static str),
    /// The account is suspended: sign-in and refresh are refused, saying why and until when.
    #[error("{}", suspended_message(.0))]
    AccountSuspended(SuspensionInfo),
    /// The channel's owner is suspended: its page is gone for now.
    #[error("this channel is unavailable: its owner's account is suspended")]
    ChannelSuspended,
    /// The video or clip was taken down (a moderation decision, a DMCA notice): 410 with the
    /// public notice.
    #[error("{0}")]
    TakenDown(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Refused for a reason with its own code (`wrong_password`, `followers_only`): 403.
    #[error("{message}")]
    Denied {
        code: &'static str,
        message: &'static str,
    },
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    #[error("request body too large")]
    PayloadTooLarge,
    /// The body did not arrive within `http.body_timeout_secs`.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("service unavailable: {0}")]
    Unavailable(&'static str),
    /// Too much work queued (password checks): retry after a moment.
    #[error("the server is busy; retry in {retry_after_secs} s")]
    Overloaded { retry_after_secs: u64 },
    /// The disk under the database or the object store is full: nothing was saved.
    #[error("the server's storage is full, so nothing was saved; try again later")]
    StorageFull,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The error body, as documented in the OpenAPI spec.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields)]
pub struct ErrorBody {
    /// Stable snake_case code, e.g. `invalid_field`, `unauthorized`, `not_found`.
    pub error: &'static str,
    /// Human-readable explanation, safe to show to the user.
    pub message: String,
    /// The request field that failed validation, when there is one (the first of `fields`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// For validation errors: every field that failed, in the order of the request's fields,
    /// so a form can mark them all at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldProblem>>,
    /// For internal errors: quote it when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A suspension as the suspended user and the admin pages see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, ts_rs::TS)]
pub struct SuspensionInfo {
    /// Why, as the admin or moderator wrote it.
    pub reason: String,
    /// When it ends; `null`: permanent.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// The body of a 403 `account_suspended`: the usual error plus the suspension, so a sign-in
/// form can say why and until when.
#[derive(Debug, Serialize, ToSchema, ts_rs::TS)]
#[ts(optional_fields)]
pub struct AccountSuspendedBody {
    #[serde(flatten)]
    pub error: ErrorBody,
    pub suspension: SuspensionInfo,
}

fn suspended_message(s: &SuspensionInfo) -> String {
    let until = s.until.map_or_else(
        || "permanently".to_owned(),
        |t| format!("until {}", t.format("%Y-%m-%d %H:%M UTC")),
    );
    format!("this account is suspended {until}: {}", s.reason)
}

/// One invalid field of a request and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, ts_rs::TS)]
pub struct FieldProblem {
    pub field: &'static str,
    /// Safe to show next to the field.
    pub message: String,
}

impl ApiError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldProblem {
            field,
            message: message.into(),
        }])
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::MalformedJson(_) => "malformed_json",
            Self::Invalid(_) => "invalid_field",
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden(_) => "forbidden",
            Self::AccountSuspended(_) => "account_suspended",
            Self::ChannelSuspended => "channel_suspended",
            Self::TakenDown(_) => "taken_down",
            Self::NotFound(_) => "not_found",
            Self::Denied { code, .. } => code,
            Self::Conflict { .. } => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Overloaded { .. } => "overloaded",
            Self::StorageFull => "storage_full",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        if streamhall_actors::disk::db_full(&err) {
            tracing::error!(error = %err, "the database's disk is full: writes are refused until there is room");
            return Self::StorageFull;
        }
        match err {
            // An update found no row: it was deleted between the handler's lookup and its
            // update (a concurrent DELETE). For the client the resource is gone.
            sea_orm::DbErr::RecordNotUpdated => Self::NotFound("resource"),
            sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_) => {
                tracing::error!(error = %err, "the database is unreachable");
                Self::Unavailable("the database is unreachable; try again shortly")
            }
            err => Self::Internal(err.into()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::AccountSuspended(_) => StatusCode::FORBIDDEN,
            Self::ChannelSuspended | Self::TakenDown(_) => StatusCode::GONE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Denied { .. } => StatusCode::FORBIDDEN,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (field, fields, request_id) = match self {
            Self::Invalid(problems) => (
                problems.first().map(|p| p.field),
                Some(problems.clone()),
                None,
            ),
            Self::Conflict { field, .. } => (Some(*field), None, None),
            Self::Internal(err) => {
                let id = current_request_id();
                tracing::error!(request_id = id.as_deref(), error = ?err, "internal error");
                (None, None, id)
            }
            _ => (None, None, None),
        };
        let body = ErrorBody {
            error: self.code(),
            message: self.to_string(),
            field,
            fields,
            request_id,
        };
        let mut res = HttpResponse::build(self.status_code());
        if let Self::TooManyRequests { retry_after_secs } | Self::Overloaded { retry_after_secs } =
            self
        {
            res.insert_header((header::RETRY_AFTER, retry_after_secs.max(&1).to_string()));
        }
        if matches!(self, Self::Unauthorized | Self::InvalidCredentials) {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Self::AccountSuspended(suspension) = self {
            return res.json(AccountSuspendedBody {
                error: body,
                suspension: suspension.clone(),
            });
        }
        res.json(body)
    }
}

/// Turns actix's JSON extractor failures into our shape: syntax errors are 400
/// `malformed_json`, well-formed JSON of the wrong shape is 422 `invalid_field`.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match err {
        E::Overflow { .. } | E::OverflowKnownLength { .. } => ApiError::PayloadTooLarge,
        E::Payload(e) => payload_error(&e),
        E::ContentType => ApiError::BadRequest("expected Content-Type: application/json".into()),
        E::Deserialize(e) if e.is_data() => ApiError::invalid(field_of(&e), e.to_string()),
        E::Deserialize(e) => ApiError::MalformedJson(e.to_string()),
        other => ApiError::BadRequest(other.to_string()),
    };
    api.into()
}

/// A body that could not be read: 408 when it did not arrive within the body deadline (a
/// `TimedOut` read, see [`crate::request_limits`]), else 400.
pub fn payload_error(e: &actix_web::error::PayloadError) -> ApiError {
    match e {
        actix_web::error::PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            ApiError::RequestTimeout
        }
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// Query-string failures are 400 with the parser's explanation.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(format!("invalid query string: {err}")).into()
}

/// Path parameter failures (e.g. a non-numeric id) are 404: no such resource.
pub fn path_error(
    _err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::NotFound("resource").into()
}

/// serde_json names the field first in backticks (``missing field `x` ``, ``unknown field `x`,
/// expected one of …``); a type error names none, so the field is `body`. Only request fields
/// the API knows are echoed back.
fn field_of(err: &serde_json::Error) -> &'static str {
    const KNOWN: &[&str] = &[
        "username",
        "email",
        "password",
        "login",
        "refresh_token",
        "current_password",
        "new_password",
        "slug",
        "title",
        "description",
        "category",
        "display_name",
        "bio",
        "visibility",
        "chapters",
        "label",
        "vtt",
        "seconds",
        "start",
        "end",
        "record_vods",
        "vod_retention_days",
    ];
    let text = err.to_string();
    let named = text.split('`').nth(1).unwrap_or_default();
    KNOWN
        .iter()
        .find(|f| **f == named)
        .copied()
        .unwrap_or("body")
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::{ApiError, field_of};
    use actix_web::{ResponseError, http::StatusCode};

    #[test]
    fn a_row_deleted_before_its_update_is_not_found() {
        let err = ApiError::from(sea_orm::DbErr::RecordNotUpdated);
        assert_eq!(err.status_code(), StatusCode::NOT_FOUND);
        let other = ApiError::from(sea_orm::DbErr::Custom("boom".into()));
        assert_eq!(other.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Req {
        username: String,
        password: String,
    }

    fn field(json: &str) -> &'static str {
        match serde_json::from_str::<Req>(json) {
            Err(e) => field_of(&e),
            Ok(_) => "ok",
        }
    }

    #[test]
    fn names_the_field_serde_complains_about() {
        assert_eq!(field(r#"{"username": "a"}"#), "password");
        assert_eq!(field(r#"{"username": "a", "password": 1}"#), "body");
        assert_eq!(
            field(r#"{"username": "a", "password": "b", "email": "c"}"#),
            "email"
        );
        assert_eq!(
            field(r#"{"username": "a", "password": "b", "zzz": 1}"#),
            "body"
        );
    }
}
