//! One Redis connection for the edge stores (rate limits, idempotency keys), made lazily and
//! made again after a failure (at most once a second), so a Redis that is down at start or
//! restarts later costs no restart here. Timeouts are short: the edge must not hang on Redis.
use std::{sync::Mutex, time::Duration};

/// A TTL as Redis's `PX` milliseconds (at least 1: Redis refuses 0).
pub fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

pub struct LazyRedis {
    client: redis::Client,
    conn: tokio::sync::RwLock<Option<redis::aio::ConnectionManager>>,
    last_attempt: Mutex<Option<std::time::Instant>>,
}

impl LazyRedis {
    pub fn new(url: &str) -> Result<Self, String> {
        Ok(Self {
            client: redis::Client::open(url).map_err(|e| e.to_string())?,
            conn: tokio::sync::RwLock::new(None),
            last_attempt: Mutex::new(None),
        })
    }

    /// The connection, connecting first if needed; an error when Redis cannot be reached (or
    /// was tried less than a second ago).
    pub async fn connection(&self) -> Result<redis::aio::ConnectionManager, String> {
        if let Some(c) = self.conn.read().await.as_ref() {
            return Ok(c.clone());
        }
        let mut slot = self.conn.write().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        {
            let mut last = self.last_attempt.lock().map_err(|_| "poisoned")?;
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                return Err("redis unavailable (retrying)".into());
            }
            *last = Some(std::time::Instant::now());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_millis(500))
            .set_response_timeout(Duration::from_millis(250))
            .set_number_of_retries(1);
        let conn = redis::aio::ConnectionManager::new_with_config(self.client.clone(), config)
            .await
            .map_err(|e| e.to_string())?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// `SET key value PX ttl`.
    pub async fn set_for(&self, key: &str, value: &str, ttl: Duration) -> Result<(), String> {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut self.connection().await?)
            .await
            .map_err(|e| e.to_string())
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, String> {
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.connection().await?)
            .await
            .map_err(|e| e.to_string())
    }

    pub async fn del(&self, key: &str) -> Result<(), String> {
        redis::cmd("DEL")
            .arg(key)
            .query_async::<()>(&mut self.connection().await?)
            .await
            .map_err(|e| e.to_string())
    }
}
