//! Rate limits with the generic cell rate algorithm (GCRA): per key a single stored instant,
//! the theoretical arrival time (TAT) of the next request at the sustained rate. A quota of
//! `n` requests per `period` lets a quiet key spend `n` at once and then one every
//! `period / n`. Keys live in Redis when configured (one atomic script, Redis's own clock, so
//! every replica shares them), otherwise in this process.
//!
//! A limiter that cannot reach its store lets the request through (with a warning and the
//! `rate_limit_store_errors_total` metric): an outage of the limiter must not become an outage
//! of the product.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;

/// The tenant setting that overrides the platform's per-tenant limit (inherited down the tree).
pub const TENANT_LIMIT_SETTING: &str = "api_rate_limit_per_minute";

/// `requests` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub requests: u32,
    pub period: Duration,
}

impl Quota {
    pub fn per_minute(requests: u32) -> Option<Self> {
        (requests > 0).then_some(Self {
            requests,
            period: Duration::from_secs(60),
        })
    }

    fn interval_us(self) -> i64 {
        self.period_us() / i64::from(self.requests.max(1))
    }

    fn period_us(self) -> i64 {
        i64::try_from(self.period.as_micros()).unwrap_or(i64::MAX)
    }
}

/// The answer for one request, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Until the key is back to its full quota.
    pub reset_after: Duration,
    /// When refused: until the next request would be allowed.
    pub retry_after: Duration,
}

/// GCRA for one request at `now` (µs) against the stored `tat`; returns the decision and the
/// TAT to store (None when refused: nothing changes).
pub fn gcra(tat: Option<i64>, now: i64, quota: Quota) -> (Decision, Option<i64>) {
    let (t, period) = (quota.interval_us(), quota.period_us());
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat + t;
    let allow_at = new_tat - period;
    if now < allow_at {
        return (decision(false, quota, tat - now, allow_at - now), None);
    }
    (decision(true, quota, new_tat - now, 0), Some(new_tat))
}

/// A decision from the key's backlog after this request (`ahead_us`: TAT − now).
fn decision(allowed: bool, quota: Quota, ahead_us: i64, retry_us: i64) -> Decision {
    let t = quota.interval_us().max(1);
    let free = (quota.period_us() - ahead_us).max(0) / t;
    let us = |v: i64| Duration::from_micros(u64::try_from(v.max(0)).unwrap_or(0));
    Decision {
        allowed,
        limit: quota.requests,
        remaining: u32::try_from(free).unwrap_or(0).min(quota.requests),
        reset_after: us(ahead_us),
        retry_after: us(retry_us),
    }
}

/// Where TATs are kept.
#[async_trait]
pub trait Store: Send + Sync {
    async fn check(&self, key: &str, quota: Quota) -> Result<Decision, String>;
}

/// TATs in this process (the embedded mode), shared by every service in it.
#[derive(Default)]
pub struct MemoryStore(Mutex<HashMap<String, i64>>);

#[async_trait]
impl Store for MemoryStore {
    async fn check(&self, key: &str, quota: Quota) -> Result<Decision, String> {
        let now = chrono::Utc::now().timestamp_micros();
        let mut tats = self.0.lock().map_err(|_| "rate limit table poisoned")?;
        if tats.len() > 100_000 {
            // Keys whose TAT has passed hold nothing a new request would not recompute.
            tats.retain(|_, tat| *tat > now);
        }
        let (d, tat) = gcra(tats.get(key).copied(), now, quota);
        if let Some(tat) = tat {
            tats.insert(key.to_string(), tat);
        }
        Ok(d)
    }
}

/// TATs in Redis: the same algorithm as [`gcra`], run atomically on the server's clock; keys
/// expire when their TAT has passed.
pub struct RedisStore {
    redis: crate::redis_client::LazyRedis,
    script: redis::Script,
}

const GCRA_LUA: &str = r"
local t = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + t
local allow_at = new_tat - period
if now < allow_at then
  return {0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.floor((new_tat - now) / 1000) + 1)
return {1, new_tat - now, 0}
";

impl RedisStore {
    pub fn new(url: &str) -> Result<Self, String> {
        Ok(Self {
            redis: crate::redis_client::LazyRedis::new(url)?,
            script: redis::Script::new(GCRA_LUA),
        })
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn check(&self, key: &str, quota: Quota) -> Result<Decision, String> {
        let mut conn = self.redis.connection().await?;
        let (allowed, ahead, retry): (i64, i64, i64) = self
            .script
            .key(key)
            .arg(quota.interval_us())
            .arg(quota.period_us())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        Ok(decision(allowed == 1, quota, ahead, retry))
    }
}

/// Per-tenant and per-API-client limits over one store.
#[derive(Clone)]
pub struct RateLimiter {
    store: Arc<dyn Store>,
    pub tenant: Option<Quota>,
    pub client: Option<Quota>,
    /// Keys refused recently, with the decision and when it was made. GCRA refuses a key until
    /// its `retry_after` whatever happens elsewhere (other replicas can only spend more), so
    /// repeating the refusal from here until then is exact, and a tenant hammering past its
    /// limit costs no store round trip per request.
    refused: Arc<Mutex<HashMap<String, (std::time::Instant, Decision)>>>,
}

/// A remembered refusal as it stands `elapsed` later; None once it has run out.
fn still_refused(d: Decision, elapsed: Duration) -> Option<Decision> {
    (elapsed < d.retry_after).then(|| Decision {
        retry_after: d.retry_after - elapsed,
        reset_after: d.reset_after.saturating_sub(elapsed),
        ..d
    })
}

impl RateLimiter {
    pub fn new(store: Arc<dyn Store>, tenant: Option<Quota>, client: Option<Quota>) -> Self {
        Self {
            store,
            tenant,
            client,
            refused: Arc::default(),
        }
    }

    fn remembered_refusal(&self, key: &str) -> Option<Decision> {
        let refused = self.refused.lock().ok()?;
        let (at, d) = refused.get(key)?;
        still_refused(*d, at.elapsed())
    }

    fn remember_refusal(&self, key: &str, d: Decision) {
        if let Ok(mut refused) = self.refused.lock() {
            if refused.len() > 100_000 {
                refused.retain(|_, (at, d)| still_refused(*d, at.elapsed()).is_some());
            }
            refused.insert(key.to_string(), (std::time::Instant::now(), d));
        }
    }

    /// The limits of `settings`: in Redis when `redis_url` is set, else in this process;
    /// None when both limits are off.
    pub fn from_settings(settings: &crate::settings::Settings) -> Result<Option<Self>, String> {
        let tenant = Quota::per_minute(settings.rate_limit_tenant_per_minute);
        let client = Quota::per_minute(settings.rate_limit_client_per_minute);
        if tenant.is_none() && client.is_none() {
            return Ok(None);
        }
        Ok(Some(Self::new(Self::store_for(settings)?, tenant, client)))
    }

    /// Redis when `redis_url` is set, else this process's store.
    pub fn store_for(settings: &crate::settings::Settings) -> Result<Arc<dyn Store>, String> {
        Ok(match &settings.redis_url {
            Some(url) => Arc::new(RedisStore::new(url.expose())?),
            None => Self::memory_store(),
        })
    }

    /// The process-wide in-memory store, so services of one process share their counts.
    pub fn memory_store() -> Arc<dyn Store> {
        static STORE: std::sync::LazyLock<Arc<MemoryStore>> =
            std::sync::LazyLock::new(Arc::default);
        STORE.clone()
    }

    /// Spends one request of `quota` under `key`; None when the store cannot be reached (the
    /// request is let through, counted in `rate_limit_store_errors_total`).
    pub async fn check_key(&self, key: &str, quota: Quota) -> Option<Decision> {
        let checked = match self.remembered_refusal(key) {
            Some(d) if d.limit == quota.requests => Ok(d),
            _ => self.store.check(key, quota).await,
        };
        let d = match checked {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "rate limit store unavailable; request let through");
                metrics::counter!("rate_limit_store_errors_total").increment(1);
                return None;
            }
        };
        if !d.allowed {
            self.remember_refusal(key, d);
        }
        Some(d)
    }

    /// Checks a request by `tenant` (its users and clients together; `tenant_limit` per minute
    /// when the tenant has its own, else the platform's) and, for an API client, by the client
    /// too. Returns the tightest decision; None when no limit applies.
    pub async fn check(
        &self,
        tenant: crate::tenancy::TenantId,
        tenant_limit: Option<u32>,
        client: Option<uuid::Uuid>,
    ) -> Option<Decision> {
        let mut tightest: Option<Decision> = None;
        let tenant_quota = match tenant_limit {
            Some(n) if self.tenant.is_some() => Quota::per_minute(n),
            _ => self.tenant,
        };
        let checks = [
            tenant_quota.map(|q| (format!("rl:t:{tenant}"), q)),
            client.and_then(|c| self.client.map(|q| (format!("rl:c:{c}"), q))),
        ];
        for (key, quota) in checks.into_iter().flatten() {
            let Some(d) = self.check_key(&key, quota).await else {
                continue;
            };
            let tighter = match tightest {
                None => true,
                Some(t) => !d.allowed || (t.allowed && d.remaining < t.remaining),
            };
            if tighter {
                tightest = Some(d);
            }
            if !d.allowed {
                metrics::counter!("rate_limited_total").increment(1);
                break;
            }
        }
        tightest
    }
}

/// How many answers that disclose something beyond the caller's reach a principal gets: 10 per
/// 10 minutes (then one a minute).
pub const DISCLOSURE_QUOTA: Quota = Quota {
    requests: 10,
    period: Duration::from_secs(600),
};

/// A per-principal budget for answers that disclose whether something exists beyond the
/// caller's reach, such as a 409 because an email or slug is taken somewhere on the platform.
/// Each such answer spends one unit ([`spend`](Self::spend)); the answer that finds the budget
/// spent becomes a 429, and from then on every request of that kind is refused before it
/// looks anything up ([`refused`](Self::refused)) until a unit has come back, so a refusal
/// says nothing about what was asked. Kept in Redis or the process like the request limits,
/// and failing open the same way.
#[derive(Clone)]
pub struct DisclosureBudget {
    store: Arc<dyn Store>,
    quota: Quota,
    /// Principals refused, with when and for how long (exact, as for [`RateLimiter`]).
    refused: Arc<Mutex<HashMap<uuid::Uuid, (std::time::Instant, Duration)>>>,
}

impl DisclosureBudget {
    pub fn new(store: Arc<dyn Store>, quota: Quota) -> Self {
        Self {
            store,
            quota,
            refused: Arc::default(),
        }
    }

    /// [`DISCLOSURE_QUOTA`] in Redis when `redis_url` is set, else in this process.
    pub fn from_settings(settings: &crate::settings::Settings) -> Result<Self, String> {
        let store: Arc<dyn Store> = match &settings.redis_url {
            Some(url) => Arc::new(RedisStore::new(url.expose())?),
            None => RateLimiter::memory_store(),
        };
        Ok(Self::new(store, DISCLOSURE_QUOTA))
    }

    /// How long `principal` is still refused, if it is.
    pub fn refused(&self, principal: uuid::Uuid) -> Option<Duration> {
        let refused = self.refused.lock().ok()?;
        let (at, retry_after) = refused.get(&principal)?;
        retry_after
            .checked_sub(at.elapsed())
            .filter(|d| !d.is_zero())
    }

    /// Spends one disclosing answer of `principal`; `Err(retry_after)` when its budget is
    /// spent (answer 429 instead, and refuse it until then).
    pub async fn spend(&self, principal: uuid::Uuid) -> Result<(), Duration> {
        let d = match self
            .store
            .check(&format!("rl:d:{principal}"), self.quota)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "rate limit store unavailable; disclosure let through");
                metrics::counter!("rate_limit_store_errors_total").increment(1);
                return Ok(());
            }
        };
        if d.allowed {
            return Ok(());
        }
        metrics::counter!("disclosures_refused_total").increment(1);
        if let Ok(mut refused) = self.refused.lock() {
            if refused.len() > 100_000 {
                refused.retain(|_, (at, retry)| at.elapsed() < *retry);
            }
            refused.insert(principal, (std::time::Instant::now(), d.retry_after));
        }
        Err(d.retry_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000;

    fn quota(n: u32, secs: u64) -> Quota {
        Quota {
            requests: n,
            period: Duration::from_secs(secs),
        }
    }

    /// Runs `count` requests at `now`, returns how many were allowed and the last decision.
    fn burst(tat: &mut Option<i64>, now: i64, q: Quota, count: u32) -> (u32, Option<Decision>) {
        let mut allowed = 0;
        let mut last = None;
        for _ in 0..count {
            let (d, new) = gcra(*tat, now, q);
            if let Some(new) = new {
                *tat = Some(new);
                allowed += 1;
            }
            last = Some(d);
        }
        (allowed, last)
    }

    #[test]
    fn a_quiet_key_spends_its_whole_quota_at_once_then_waits_one_interval() {
        let q = quota(10, 60);
        let mut tat = None;
        let (allowed, last) = burst(&mut tat, 0, q, 15);
        assert_eq!(allowed, 10);
        let last = last.unwrap_or_else(|| unreachable!());
        assert!(!last.allowed);
        assert_eq!(last.remaining, 0);
        assert_eq!(last.retry_after, Duration::from_secs(6));
        assert_eq!(last.reset_after, Duration::from_secs(60));
        // 6 s later exactly one more request fits.
        assert_eq!(burst(&mut tat, 6 * SEC, q, 3).0, 1);
    }

    #[test]
    fn remaining_counts_down_and_refills_at_the_sustained_rate() {
        let q = quota(4, 4);
        let mut tat = None;
        let remaining: Vec<u32> = (0..4)
            .map(|_| {
                let (d, new) = gcra(tat, 0, q);
                tat = new.or(tat);
                d.remaining
            })
            .collect();
        assert_eq!(remaining, vec![3, 2, 1, 0]);
        // After 2 s two requests' worth has come back.
        let (d, _) = gcra(tat, 2 * SEC, q);
        assert!(d.allowed);
        assert_eq!(d.remaining, 1);
    }

    /// A store that counts its calls and refuses everything for 5 s.
    #[derive(Default)]
    struct Refusing(std::sync::atomic::AtomicUsize);

    #[async_trait]
    impl Store for Refusing {
        async fn check(&self, _: &str, quota: Quota) -> Result<Decision, String> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(decision(false, quota, 60 * SEC, 5 * SEC))
        }
    }

    #[tokio::test]
    async fn a_refused_key_is_refused_locally_until_its_retry_after() {
        let store = Arc::new(Refusing::default());
        let limiter = RateLimiter::new(store.clone(), Some(quota(10, 60)), None);
        let tenant = crate::tenancy::TenantId(uuid::Uuid::now_v7());
        for _ in 0..5 {
            let d = limiter.check(tenant, None, None).await;
            assert!(d.is_some_and(|d| !d.allowed && d.retry_after <= Duration::from_secs(5)));
        }
        assert_eq!(store.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Another quota for the key (the tenant's setting changed) asks the store again.
        limiter.check(tenant, Some(20), None).await;
        assert_eq!(store.0.load(std::sync::atomic::Ordering::SeqCst), 2);
        // A refusal runs out.
        let d = decision(false, quota(10, 60), 60 * SEC, 5 * SEC);
        assert_eq!(
            still_refused(d, Duration::from_secs(2)).map(|d| d.retry_after),
            Some(Duration::from_secs(3))
        );
        assert_eq!(still_refused(d, Duration::from_secs(5)), None);
    }

    #[tokio::test]
    async fn a_spent_disclosure_budget_refuses_its_principal_only() {
        let budget = DisclosureBudget::new(Arc::new(MemoryStore::default()), quota(3, 60));
        let (prober, other) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        for _ in 0..3 {
            assert_eq!(budget.spend(prober).await, Ok(()));
            assert_eq!(budget.refused(prober), None);
        }
        // One unit comes back every 60 s / 3 = 20 s.
        let retry = budget.spend(prober).await.err();
        assert!(
            retry.is_some_and(|d| d <= Duration::from_secs(20) && d > Duration::from_secs(19)),
            "{retry:?}"
        );
        assert!(
            budget
                .refused(prober)
                .is_some_and(|d| d <= Duration::from_secs(20) && d > Duration::from_secs(19))
        );
        assert_eq!(budget.refused(other), None);
        assert_eq!(budget.spend(other).await, Ok(()));
    }

    #[test]
    fn a_steady_stream_at_three_times_the_rate_is_refused_two_thirds_of_the_time() {
        let q = quota(60, 60); // one per second
        let mut tat = None;
        let mut allowed = 0;
        // Three requests a second for 100 s, after the burst is spent.
        burst(&mut tat, 0, q, 60);
        for i in 0..300 {
            let now = SEC + i * SEC / 3;
            let (_, new) = gcra(tat, now, q);
            if let Some(new) = new {
                tat = Some(new);
                allowed += 1;
            }
        }
        assert!((99..=101).contains(&allowed), "{allowed}");
    }
}
