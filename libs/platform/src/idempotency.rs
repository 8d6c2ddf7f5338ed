//! `Idempotency-Key` on every authenticated `POST`, at the edge: a retry with the same key and
//! the same request gets the first response again (`Idempotent-Replayed: true`) instead of a
//! second effect; the same key with another request is refused (422); a retry that arrives
//! while the first is still running waits for it (then replays), so concurrent tries with one
//! key have one effect.
//!
//! Keys belong to one principal of one tenant and live 24 hours, in Redis when configured
//! (every replica sees them) or in this process (the embedded mode). Only successful (2xx)
//! responses are kept: our handlers are transactional, so any other answer had no effect and
//! a corrected retry with the same key must be able to proceed.
//!
//! Unlike rate limits, idempotency fails closed: when the store cannot be reached, a request
//! carrying a key is refused with 503 (`idempotency_unavailable`) rather than run without the
//! guarantee the client asked for. Requests without a key are unaffected.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use actix_web::{
    Error, HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::{
        Method, StatusCode,
        header::{self, HeaderValue},
    },
    middleware::Next,
    web,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{ApiError, auth::AuthContext};

/// How long a completed request's response is kept.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How often a retry polls for the first request's outcome while it runs.
const POLL: Duration = Duration::from_millis(50);

/// What is stored under a key: the request's fingerprint, and its response once it finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub fingerprint: String,
    pub response: Option<StoredResponse>,
}

/// A successful response, enough to send it again — or, when it carried a one-time secret
/// (`Cache-Control: no-store`: a client secret, an invitation or reset token), only the fact
/// that it succeeded: such a body is never kept outside its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    #[serde(default)]
    pub withheld: bool,
}

/// Response headers that belong to one exchange, not to the response: a replay leaves them out
/// (actix sets its own framing, the limiter its own counts, the tracer its own request id).
fn replayable(name: &header::HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "content-length"
            | "transfer-encoding"
            | "connection"
            | "date"
            | "x-request-id"
            | "retry-after"
            | "idempotent-replayed"
    ) && !name.as_str().starts_with("ratelimit")
}

fn is_no_store(headers: &actix_web::http::header::HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
        })
}

/// What a request whose key is already stored gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// The same request finished: send its response again.
    Replay(StoredResponse),
    /// The same request finished, but its response held a secret that was not kept.
    Withheld,
    /// The same request is still running.
    InProgress,
    /// The key was used for a different request.
    Reused,
}

pub fn judge(stored: &Record, fingerprint: &str) -> Seen {
    match &stored.response {
        _ if stored.fingerprint != fingerprint => Seen::Reused,
        Some(r) if r.withheld => Seen::Withheld,
        Some(r) => Seen::Replay(r.clone()),
        None => Seen::InProgress,
    }
}

/// The `Idempotency-Key` header: absent, or 1–255 visible ASCII characters (else 400).
pub fn parse_key(value: Option<&HeaderValue>) -> Result<Option<String>, ApiError> {
    let Some(raw) = value else {
        return Ok(None);
    };
    match raw.to_str() {
        Ok(k)
            if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..0x7f).contains(&b)) =>
        {
            Ok(Some(k.to_string()))
        }
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Idempotency-Key is 1-255 visible ASCII characters",
        )),
    }
}

/// SHA-256 over the parts, each followed by a NUL (so parts cannot run into each other).
pub fn fingerprint(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// Where records are kept.
#[async_trait]
pub trait Store: Send + Sync {
    /// Stores `record` under `key` for `ttl` if the key is free and returns None; otherwise
    /// returns what is stored.
    async fn claim(
        &self,
        key: &str,
        record: &Record,
        ttl: Duration,
    ) -> Result<Option<Record>, String>;
    /// Stores `record` under `key` for `ttl`, replacing what is there.
    async fn put(&self, key: &str, record: &Record, ttl: Duration) -> Result<(), String>;
    async fn remove(&self, key: &str) -> Result<(), String>;
}

/// Records with the instant they expire.
type Table = HashMap<String, (Record, Instant)>;

/// Records in this process (the embedded mode).
#[derive(Default)]
pub struct MemoryStore(Mutex<Table>);

impl MemoryStore {
    fn map(&self) -> Result<std::sync::MutexGuard<'_, Table>, String> {
        self.0
            .lock()
            .map_err(|_| "idempotency table poisoned".to_string())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn claim(
        &self,
        key: &str,
        record: &Record,
        ttl: Duration,
    ) -> Result<Option<Record>, String> {
        let now = Instant::now();
        let mut map = self.map()?;
        if map.len() > 100_000 {
            map.retain(|_, (_, expires)| *expires > now);
        }
        match map.get(key) {
            Some((stored, expires)) if *expires > now => Ok(Some(stored.clone())),
            _ => {
                map.insert(key.to_string(), (record.clone(), now + ttl));
                Ok(None)
            }
        }
    }

    async fn put(&self, key: &str, record: &Record, ttl: Duration) -> Result<(), String> {
        self.map()?
            .insert(key.to_string(), (record.clone(), Instant::now() + ttl));
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<(), String> {
        self.map()?.remove(key);
        Ok(())
    }
}

/// Records in Redis as JSON; a claim is one atomic script (SET NX, else GET).
pub struct RedisStore {
    redis: crate::redis_client::LazyRedis,
    claim: redis::Script,
}

const CLAIM_LUA: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])
";

impl RedisStore {
    pub fn new(url: &str) -> Result<Self, String> {
        Ok(Self {
            redis: crate::redis_client::LazyRedis::new(url)?,
            claim: redis::Script::new(CLAIM_LUA),
        })
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn claim(
        &self,
        key: &str,
        record: &Record,
        ttl: Duration,
    ) -> Result<Option<Record>, String> {
        let mut conn = self.redis.connection().await?;
        let json = serde_json::to_string(record).map_err(|e| e.to_string())?;
        let stored: Option<String> = self
            .claim
            .key(key)
            .arg(json)
            .arg(crate::redis_client::millis(ttl))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        stored
            .map(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
            .transpose()
    }

    async fn put(&self, key: &str, record: &Record, ttl: Duration) -> Result<(), String> {
        let json = serde_json::to_string(record).map_err(|e| e.to_string())?;
        self.redis.set_for(key, &json, ttl).await
    }

    async fn remove(&self, key: &str) -> Result<(), String> {
        self.redis.del(key).await
    }
}

/// The edge guard: authenticates the caller (to scope the key), claims the key, runs the
/// request and keeps its response.
pub struct Idempotency {
    auth: AuthContext,
    store: Arc<dyn Store>,
    /// How long a claim holds while its request runs (a crashed request frees it then).
    lease: Duration,
    /// How long a retry waits for the first request before answering 409.
    wait: Duration,
}

impl Idempotency {
    pub fn new(auth: AuthContext, store: Arc<dyn Store>, request_timeout: Duration) -> Self {
        Self {
            auth,
            store,
            lease: request_timeout * 2,
            wait: request_timeout / 2,
        }
    }

    /// Keys in Redis when `redis_url` is set, else in this process.
    pub fn from_settings(
        settings: &crate::settings::Settings,
        auth: AuthContext,
    ) -> Result<Self, String> {
        let store: Arc<dyn Store> = match &settings.redis_url {
            Some(url) => Arc::new(RedisStore::new(url.expose())?),
            None => Arc::new(MemoryStore::default()),
        };
        let timeout = Duration::from_secs(settings.http_request_timeout_secs.max(1));
        Ok(Self::new(auth, store, timeout))
    }

    /// The middleware body (see the module documentation).
    pub async fn guard(
        &self,
        mut req: ServiceRequest,
        next: Next<impl MessageBody + 'static>,
    ) -> Result<ServiceResponse<BoxBody>, Error> {
        let pass = |res: Result<ServiceResponse<_>, Error>| res.map(|r| r.map_into_boxed_body());
        if req.method() != Method::POST {
            return pass(next.call(req).await);
        }
        let key = match parse_key(req.headers().get("idempotency-key")) {
            Ok(Some(k)) => k,
            Ok(None) => return pass(next.call(req).await),
            Err(e) => return Ok(req.error_response(e)),
        };
        // Unauthenticated requests have no principal to own a key; their handler answers 401
        // (or, for login and token requests, needs no key).
        let Ok(principal) = crate::auth::authenticate(&self.auth, req.request()).await else {
            return pass(next.call(req).await);
        };
        let body = match req.extract::<web::Bytes>().await {
            Ok(b) => b,
            Err(e) => return Ok(req.error_response(e)),
        };
        req.set_payload(Payload::from(body.clone()));
        let acting_tenant = req
            .headers()
            .get("x-tenant")
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        let target = req.uri().path_and_query().map_or("", |p| p.as_str());
        let print = fingerprint(&[target.as_bytes(), acting_tenant, &body]);
        let store_key = format!("idem:{}:{}:{key}", principal.home_tenant, principal.subject);
        let pending = Record {
            fingerprint: print.clone(),
            response: None,
        };
        let give_up = Instant::now() + self.wait;
        loop {
            let stored = match self.store.claim(&store_key, &pending, self.lease).await {
                Ok(stored) => stored,
                Err(e) => {
                    tracing::warn!(error = %e, "idempotency store unavailable; request refused");
                    metrics::counter!("idempotency_store_errors_total").increment(1);
                    return Ok(req.error_response(
                        ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "idempotency_unavailable",
                            "requests with an Idempotency-Key cannot be served right now; retry shortly",
                        )
                        .retry_after(1),
                    ));
                }
            };
            let Some(stored) = stored else { break };
            match judge(&stored, &print) {
                Seen::Reused => {
                    return Ok(req.error_response(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used with a different request",
                    )));
                }
                Seen::Replay(r) => {
                    metrics::counter!("idempotent_replays_total").increment(1);
                    return Ok(req.into_response(replay(r)));
                }
                Seen::Withheld => {
                    return Ok(req.error_response(ApiError::conflict(
                        "idempotent_response_withheld",
                        "a request with this Idempotency-Key already succeeded; its response held a one-time secret, which is not kept, so it cannot be sent again",
                    )));
                }
                Seen::InProgress if Instant::now() < give_up => tokio::time::sleep(POLL).await,
                Seen::InProgress => {
                    return Ok(req.error_response(
                        ApiError::conflict(
                            "idempotency_key_in_use",
                            "a request with this Idempotency-Key is still running",
                        )
                        .retry_after(1),
                    ));
                }
            }
        }
        let res = next.call(req).await;
        let res = match res {
            Ok(r) if r.status().is_success() => r,
            other => {
                self.forget(&store_key).await;
                return pass(other);
            }
        };
        let (http_req, http_res) = res.into_parts();
        let (head, body) = http_res.into_parts();
        let bytes = actix_web::body::to_bytes(body).await.map_err(|e| {
            let e: Box<dyn std::error::Error> = e.into();
            actix_web::error::ErrorInternalServerError(e.to_string())
        })?;
        let withheld = is_no_store(head.headers());
        let text = if withheld {
            Ok(String::new())
        } else {
            String::from_utf8(bytes.to_vec())
        };
        match text {
            Ok(text) => {
                let record = Record {
                    fingerprint: print,
                    response: Some(StoredResponse {
                        status: head.status().as_u16(),
                        headers: if withheld {
                            Vec::new()
                        } else {
                            head.headers()
                                .iter()
                                .filter(|(name, _)| replayable(name))
                                .filter_map(|(name, v)| {
                                    Some((name.to_string(), v.to_str().ok()?.to_string()))
                                })
                                .collect()
                        },
                        body: text,
                        withheld,
                    }),
                };
                if let Err(e) = self.store.put(&store_key, &record, RETENTION).await {
                    // The effect happened; the client gets its answer. A retry after the
                    // lease ends would not be recognised, hence the metric.
                    tracing::warn!(error = %e, "idempotent response not kept");
                    metrics::counter!("idempotency_store_errors_total").increment(1);
                }
            }
            Err(_) => self.forget(&store_key).await,
        }
        Ok(ServiceResponse::new(
            http_req,
            head.set_body(BoxBody::new(bytes)),
        ))
    }

    async fn forget(&self, key: &str) {
        if let Err(e) = self.store.remove(key).await {
            tracing::warn!(error = %e, "idempotency claim not released; it lapses with its lease");
            metrics::counter!("idempotency_store_errors_total").increment(1);
        }
    }
}

fn replay(r: StoredResponse) -> HttpResponse {
    let mut res = HttpResponse::build(StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK));
    res.insert_header(("Idempotent-Replayed", "true"));
    for (name, value) in r.headers {
        res.append_header((name, value));
    }
    res.body(r.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(print: &str) -> Record {
        Record {
            fingerprint: print.into(),
            response: Some(StoredResponse {
                status: 201,
                headers: vec![("location".into(), "/x/1".into())],
                body: "{}".into(),
                withheld: false,
            }),
        }
    }

    #[test]
    fn the_same_request_is_replayed_or_waited_for_and_another_is_refused() {
        let running = Record {
            fingerprint: "a".into(),
            response: None,
        };
        assert_eq!(judge(&running, "a"), Seen::InProgress);
        assert_eq!(judge(&running, "b"), Seen::Reused);
        assert!(matches!(judge(&done("a"), "a"), Seen::Replay(r) if r.status == 201));
        assert_eq!(judge(&done("a"), "b"), Seen::Reused);
    }

    #[test]
    fn keys_are_visible_ascii_up_to_255_characters() {
        let ok = HeaderValue::from_static("order-42_retry");
        assert_eq!(
            parse_key(Some(&ok)).ok().flatten().as_deref(),
            Some("order-42_retry")
        );
        assert!(matches!(parse_key(None), Ok(None)));
        for bad in ["", "has space", &"x".repeat(256)] {
            let v = HeaderValue::from_str(bad).unwrap_or(HeaderValue::from_static(" "));
            assert!(parse_key(Some(&v)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fingerprints_separate_their_parts() {
        assert_ne!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"a", b"bc"]));
        assert_eq!(fingerprint(&[b"a"]), fingerprint(&[b"a"]));
    }

    #[tokio::test]
    async fn the_memory_store_claims_once_until_the_claim_lapses_or_is_removed() {
        let store = MemoryStore::default();
        let r = done("a");
        let claim = |ttl| store.claim("k", &r, ttl);
        assert_eq!(claim(Duration::from_millis(20)).await, Ok(None));
        assert_eq!(claim(Duration::from_secs(1)).await, Ok(Some(r.clone())));
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(claim(Duration::from_secs(1)).await, Ok(None));
        assert_eq!(store.remove("k").await, Ok(()));
        assert_eq!(claim(Duration::from_secs(1)).await, Ok(None));
    }
}
