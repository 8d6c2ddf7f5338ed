//! The request id: taken from a well-formed `X-Request-Id` or minted, kept in the request's
//! extensions and in a task-local while the handler runs, so error bodies and log lines name
//! it without the request in hand.
use std::future::Future;

use actix_web::http::header::HeaderValue;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The request id as stored in request extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl RequestId {
    /// The client's `X-Request-Id` when it is a sane token (1–128 of `[A-Za-z0-9._-]`), else a
    /// fresh UUIDv7.
    pub(crate) fn accept_or_new(value: Option<&HeaderValue>) -> Self {
        Self(accept(value).unwrap_or_else(|| uuid::Uuid::now_v7().to_string()))
    }

    /// Runs `fut` with this id as [`current_request_id`].
    pub(crate) fn scope<F: Future>(&self, fut: F) -> impl Future<Output = F::Output> {
        REQUEST_ID.scope(self.0.clone(), fut)
    }
}

fn accept(value: Option<&HeaderValue>) -> Option<String> {
    let v = value?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    ok.then(|| v.to_string())
}
