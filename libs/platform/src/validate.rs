//! Parse-don't-validate value types shared by services, and a collector that gathers every
//! field error of a request before answering 422.
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, FieldError};

/// Collects field errors so a request learns about all of them at once.
#[derive(Default, Debug)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the error of `result` (if any) and returns its value.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// The parsed value when nothing was recorded, else every error recorded: the last step
    /// of a `TryFrom<Request> for Domain` that reports all bad fields at once. `parsed` is
    /// `None` only when a check failed, and a failed check recorded its error.
    pub fn finish_with<T>(self, parsed: Option<T>) -> Result<T, Vec<FieldError>> {
        match parsed {
            Some(value) if self.errors.is_empty() => Ok(value),
            _ => Err(self.errors),
        }
    }

    /// `Ok(())` when nothing was recorded, else the 422.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

/// A request's parse into its domain type together with the errors found beside it (what the
/// caller may not set): the value only when there are none, else every error, the parse's
/// first.
pub fn with_more<T>(
    parsed: Result<T, Vec<FieldError>>,
    more: Vec<FieldError>,
) -> Result<T, Vec<FieldError>> {
    match parsed {
        Ok(value) if more.is_empty() => Ok(value),
        Ok(_) => Err(more),
        Err(mut errors) => {
            errors.extend(more);
            Err(errors)
        }
    }
}

/// Trimmed text between 1 and `max` characters.
pub fn text(pointer: &str, value: &str, max: usize) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(FieldError::new(pointer, "required", "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(FieldError::new(
            pointer,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(FieldError::new(
            pointer,
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    Ok(v.to_string())
}

/// Free text that may span lines (descriptions, comments): at most `max` characters and no
/// control characters other than newlines and tabs. Returns it trimmed (possibly empty).
pub fn multiline(pointer: &str, value: &str, max: usize) -> Result<String, FieldError> {
    if value.chars().count() > max {
        return Err(FieldError::new(
            pointer,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::new(
            pointer,
            "invalid_characters",
            "must not contain control characters other than newlines and tabs",
        ));
    }
    Ok(value.trim().to_string())
}

/// An email address, lower-cased. Deliberately strict: one `@`, a dotted domain, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(pointer: &str, raw: &str) -> Result<Self, FieldError> {
        let v = raw.trim().to_lowercase();
        let invalid = || {
            FieldError::new(
                pointer,
                "invalid_email",
                "must be an email address like name@example.com",
            )
        };
        if v.len() > 254 {
            return Err(FieldError::new(
                pointer,
                "too_long",
                "must be at most 254 characters",
            ));
        }
        let (local, domain) = v.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if domain_ok && local_ok {
            Ok(Self(v))
        } else {
            Err(invalid())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A URL-safe tenant handle: 2–63 of `a-z0-9-`, starting with a letter, not ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    pub fn parse(pointer: &str, raw: &str) -> Result<Self, FieldError> {
        let ok = (2..=63).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && !raw.ends_with('-')
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(FieldError::new(
                pointer,
                "invalid_slug",
                "must be 2-63 characters of a-z, 0-9 and '-', starting with a letter",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "First.Last+tag@Example.COM"] {
            assert!(Email::parse("/e", ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "a@@b.co", "a b@c.co", "@b.co", "a@.co", "a@b..co",
        ] {
            assert!(Email::parse("/e", bad).is_err(), "{bad}");
        }
        assert_eq!(
            Email::parse("/e", " A@B.Co ").map(|e| e.0).ok(),
            Some("a@b.co".into())
        );
    }

    #[test]
    fn slugs() {
        for ok in ["ab", "globex", "acme-2"] {
            assert!(Slug::parse("/s", ok).is_ok(), "{ok}");
        }
        for bad in ["a", "2ab", "Ab", "ab-", "a_b", &"a".repeat(64)] {
            assert!(Slug::parse("/s", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_limits() {
        assert_eq!(text("/n", "  x ", 3).ok(), Some("x".into()));
        assert_eq!(
            text("/n", "abcd", 3).err().map(|e| e.code),
            Some("too_long".into())
        );
        assert_eq!(
            text("/n", " ", 3).err().map(|e| e.code),
            Some("required".into())
        );
    }
}
