//! Field rules shared by the handlers. Each returns a 422 naming the field.

use crate::error::{ApiError, ApiResult};

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
}
