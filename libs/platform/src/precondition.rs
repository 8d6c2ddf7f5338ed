//! Optimistic concurrency on versioned resources: a response carries `ETag: "<version>"`, and a
//! change sent with `If-Match` applies only to the version the client read.
use actix_web::{HttpRequest, http::StatusCode};

use crate::error::ApiError;

/// `If-Match` (optional): the `ETag` (`"<version>"`) the client read must still be current
/// (412 `precondition_failed` otherwise); `*` or no header matches any version.
pub fn check_if_match(req: &HttpRequest, version: i64) -> Result<(), ApiError> {
    match req
        .headers()
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        Some(expected) if expected != "*" && expected != format!("\"{version}\"") => {
            Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "it changed since you read it; read it again",
            ))
        }
        _ => Ok(()),
    }
}
