//! One error type for every HTTP surface, rendered as RFC 9457 `application/problem+json`.
//!
//! Each error carries a stable machine `code` (clients match on it, never on `detail`); the
//! problem `type` is derived from it. A 5xx body is opaque: the cause goes to the log with the
//! request id, which the body repeats so support can find it.
use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_BASE: &str = "https://itsm.dev/problems/";

/// One invalid input, located by a JSON Pointer into the request body (or `/query/<name>`,
/// `/header/<name>` for parameters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON Pointer to the offending value, e.g. `/email`.
    pub pointer: String,
    /// Stable code, e.g. `invalid_email`, `too_long`, `required`.
    pub code: String,
    /// Human-readable explanation.
    pub detail: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, code: &str, detail: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            code: code.into(),
            detail: detail.into(),
        }
    }
}

/// The problem+json body (RFC 9457) plus our extension members.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "https://itsm.dev/problems/validation_failed",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": "the request has invalid fields; see errors",
    "code": "validation_failed",
    "errors": [
        {
            "pointer": "/title",
            "code": "required",
            "detail": "must not be empty"
        },
        {
            "pointer": "/impact",
            "code": "out_of_range",
            "detail": "must be 1, 2 or 3"
        }
    ],
    "request_id": "01a24233-ca94-7092-9dc8-98475e3b4e95"
}))]
pub struct Problem {
    /// `https://itsm.dev/problems/<code>`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine-readable code.
    pub code: String,
    /// Every invalid field at once (validation errors).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Request id to quote to support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// OAuth 2.0 (RFC 6749 §5.2) error code, on token endpoint errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// For conflicts that have a way out, e.g. the allowed transitions.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = ProblemExtra, required = false)]
    pub extra: Option<serde_json::Value>,
}

/// The `extra` member of a problem (documentation only: it is built as JSON where the error is
/// raised).
pub enum ProblemExtra {}

impl utoipa::PartialSchema for ProblemExtra {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        use utoipa::openapi::{
            ArrayBuilder, ObjectBuilder,
            schema::{AdditionalProperties, Type},
        };
        #[allow(deprecated)] // `example` is what generators and Swagger UI read today.
        let object = ObjectBuilder::new()
            .description(Some(
                "What a conflict adds to help the client out; members depend on `code`.",
            ))
            .property(
                "allowed",
                ArrayBuilder::new()
                    .items(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some(
                        "`transition_not_allowed`: the transitions allowed from the current state.",
                    )),
            )
            .property(
                "pointer",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(
                        "A value that must be unique (`*_taken`): the JSON Pointer to it.",
                    )),
            )
            .additional_properties(Some(
                AdditionalProperties::<utoipa::openapi::Schema>::FreeForm(true),
            ))
            .example(Some(
                serde_json::json!({"allowed": ["in_progress", "canceled"]}),
            ));
        utoipa::openapi::RefOr::T(utoipa::openapi::Schema::Object(object.build()))
    }
}

impl ToSchema for ProblemExtra {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("ProblemExtra")
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {detail}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after: Option<u64>,
    pub oauth_error: Option<&'static str>,
    /// A 401 challenges with `Basic` rather than `Bearer` (a client that used HTTP Basic).
    pub basic_challenge: bool,
    pub extra: Option<Box<serde_json::Value>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            oauth_error: None,
            basic_challenge: false,
            extra: None,
        }
    }

    /// 422 with every invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "the request has invalid fields; see errors",
        );
        e.errors = errors;
        e
    }

    /// 422 for a single field.
    pub fn field(pointer: &str, code: &str, detail: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(pointer, code, detail)])
    }

    /// 400 for an invalid query parameter, named by `/query/<name>`.
    pub fn bad_query(name: &str, code: &str, detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "the query string has invalid parameters; see errors",
        );
        e.errors = vec![FieldError::new(format!("/query/{name}"), code, detail)];
        e
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    /// The answer for a missing id *and* another tenant's id: no existence oracle.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn too_many_requests(detail: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", detail);
        e.retry_after = Some(retry_after);
        e
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            detail,
        );
        e.retry_after = Some(5);
        e
    }

    /// 500: the cause is logged, the body says nothing about it.
    #[track_caller]
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        // Where it went wrong, once: the caller's file and line (for `?`, the line of the `?`),
        // logged in the request's span, so with its request id.
        let at = std::panic::Location::caller();
        tracing::error!(error = %cause, location = %at, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an unexpected error occurred; quote the request id to support",
        )
    }

    /// Challenges this 401 with `Basic realm="itsm"`: the client authenticated with HTTP Basic
    /// (RFC 6749 §5.2).
    pub fn basic_challenge(mut self) -> Self {
        self.basic_challenge = true;
        self
    }

    /// Marks this error as an OAuth 2.0 token endpoint error (`error` member). It is then sent
    /// as `application/json`, the media type RFC 6749 §5.2 requires, with the problem members
    /// beside `error` and `error_description`.
    pub fn oauth(mut self, error: &'static str) -> Self {
        self.oauth_error = Some(error);
        self
    }

    /// Tells the client when to try again (`Retry-After`, seconds).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn with_extra(mut self, extra: serde_json::Value) -> Self {
        self.extra = Some(Box::new(extra));
        self
    }

    pub fn problem(&self, request_id: Option<String>) -> Problem {
        Problem {
            kind: format!("{PROBLEM_BASE}{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: Some(self.detail.clone()),
            code: self.code.to_string(),
            errors: self.errors.clone(),
            request_id,
            error: self.oauth_error.map(str::to_string),
            error_description: self.oauth_error.map(|_| self.detail.clone()),
            extra: self.extra.as_deref().cloned(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        problem_response(self, crate::request_id::current_request_id())
    }
}

/// Renders an error; used by the error type itself and by middleware that turns framework
/// errors (404 routes, 413 bodies) into problems.
pub fn problem_response(err: &ApiError, request_id: Option<String>) -> HttpResponse {
    let mut builder = HttpResponse::build(err.status);
    builder.content_type(if err.oauth_error.is_some() {
        "application/json"
    } else {
        "application/problem+json"
    });
    if let Some(secs) = err.retry_after {
        builder.insert_header(("Retry-After", secs.to_string()));
    }
    if err.status == StatusCode::UNAUTHORIZED {
        let challenge = if err.basic_challenge {
            "Basic realm=\"itsm\""
        } else {
            "Bearer"
        };
        builder.insert_header(("WWW-Authenticate", challenge));
    }
    if err.oauth_error.is_some() {
        builder.insert_header(("Cache-Control", "no-store"));
    }
    builder.json(err.problem(request_id))
}

/// The field errors of a request that did not parse into its domain type: 422.
impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        ApiError::validation(errors)
    }
}

impl From<sea_orm::DbErr> for ApiError {
    #[track_caller]
    fn from(err: sea_orm::DbErr) -> Self {
        match &err {
            sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_) => {
                tracing::warn!(error = %err, "database unavailable");
                ApiError::unavailable("the database is unavailable; retry shortly")
            }
            _ => ApiError::internal(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::ApiError;

    /// A log sink for one test.
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Logs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut logs) = self.0.lock() {
                logs.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn fails() -> Result<(), ApiError> {
        Err(sea_orm::DbErr::Custom("boom".into()))?;
        Ok(())
    }

    #[test]
    fn an_internal_error_logs_where_the_question_mark_was() {
        let logs = Logs::default();
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        // The line of the `?` in `fails`, thirteen lines up.
        let expected = format!("{}:{}", file!(), line!() - 13);
        let result = tracing::subscriber::with_default(subscriber, fails);
        assert!(result.is_err());
        let text = logs
            .0
            .lock()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default();
        assert!(text.contains(&expected), "{expected} not in {text}");
    }
}
