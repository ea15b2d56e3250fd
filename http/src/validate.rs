//! Field rules shared by the handlers. Each returns a 422 naming the field; a handler that
//! checks several fields runs them through a [`Problems`] so the 422 names every one at once.

use crate::error::{ApiError, ApiResult, FieldProblem};

/// Collects the field errors of one request, so a form can show them all in one round trip.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldProblem>);

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    /// The rule's value when it passed; when it failed, `None` and the problem is kept. An
    /// error that is not about a field is kept too, as a problem of the `body`.
    pub fn check<T>(&mut self, result: ApiResult<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(ApiError::Invalid(problems)) => {
                self.0.extend(problems);
                None
            }
            Err(other) => {
                self.0.push(FieldProblem {
                    field: "body",
                    message: other.to_string(),
                });
                None
            }
        }
    }

    /// A 422 naming every problem, or `Ok` when there was none.
    pub fn finish(self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(self.0))
        }
    }
}

/// Deepest row a list may start at: deeper pages are slow for the database and nobody pages
/// that far (a search narrows instead).
pub const MAX_OFFSET: u64 = 100_000;

/// A list's `limit` (1 to 100, `default` when absent) and `offset` (0 to [`MAX_OFFSET`]).
pub fn page(limit: Option<u64>, offset: Option<u64>, default: u64) -> ApiResult<(u64, u64)> {
    let offset = offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::invalid(
            "offset",
            format!("offset must be at most {MAX_OFFSET}"),
        ));
    }
    Ok((limit.unwrap_or(default).clamp(1, 100), offset))
}

pub fn username(value: &str) -> ApiResult<()> {
    let ok_len = (3..=32).contains(&value.chars().count());
    let ok_chars = value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "username",
            "3 to 32 characters: letters, digits and _",
        ))
    }
}

pub fn email(value: &str) -> ApiResult<()> {
    let valid = value.len() <= 254
        && !value.chars().any(char::is_whitespace)
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid("email", "not a valid email address"))
    }
}

/// 8 to 128 characters, counted as characters (not bytes); never truncated.
pub fn password(field: &'static str, value: &str) -> ApiResult<()> {
    let n = value.chars().count();
    if (8..=128).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "passwords are 8 to 128 characters",
        ))
    }
}

pub fn slug(value: &str) -> ApiResult<()> {
    let ok_len = (3..=32).contains(&value.len());
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "slug",
            "3 to 32 characters: a-z, 0-9, _ and -",
        ))
    }
}

/// Trims and checks length in characters; control characters are refused.
pub fn text(field: &'static str, value: &str, min: usize, max: usize) -> ApiResult<String> {
    let trimmed = value.trim();
    let n = trimmed.chars().count();
    if n < min || n > max {
        return Err(ApiError::invalid(
            field,
            format!("{min} to {max} characters"),
        ));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid(
            field,
            "control characters are not allowed",
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(username("alice_01").is_ok());
        assert!(username("al").is_err());
        assert!(username("alice!").is_err());
        assert!(email("a@b.co").is_ok());
        assert!(email("a@b").is_err());
        assert!(email("a b@c.de").is_err());
        assert!(password("password", "1234567").is_err());
        assert!(password("password", &"é".repeat(128)).is_ok());
        assert!(password("password", &"x".repeat(129)).is_err());
        assert!(slug("my-chan_1").is_ok());
        assert!(slug("My-Chan").is_err());
        assert!(slug("ab").is_err());
        assert!(slug(&"a".repeat(33)).is_err());
        assert_eq!(text("title", "  hi  ", 1, 10).ok().as_deref(), Some("hi"));
        assert!(text("title", "", 1, 10).is_err());
        assert!(text("title", "a\u{7}", 1, 10).is_err());
    }

    #[test]
    fn problems_keeps_every_failure_in_order() {
        let mut p = Problems::new();
        assert_eq!(p.check(username("al")), None);
        assert_eq!(p.check(text("title", " ok ", 1, 10)).as_deref(), Some("ok"));
        assert_eq!(p.check(email("nope")), None);
        let Err(ApiError::Invalid(problems)) = p.finish() else {
            panic!("expected a 422");
        };
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert_eq!(fields, ["username", "email"]);
        assert!(Problems::new().finish().is_ok());
    }
}
