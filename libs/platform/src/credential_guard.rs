//! What stands between the endpoints anyone can reach (login, token, invitation, password
//! reset) and a flood: a GCRA limit per client address, and a bound on password verifications
//! in flight — overall, sized to the cores, and per address — so that one address sending a
//! hundred bogus logins at once neither queues a real user's login behind them nor keeps the
//! cores busy with argon2. The per-account lockout lives with the accounts (identity); this is
//! the part any service with a credential endpoint reuses.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use actix_web::HttpRequest;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{
    ApiError,
    client_addr::TrustedProxies,
    ratelimit::{Quota, RateLimiter},
};

/// Password verifications one address may have in flight at once.
const PER_ADDRESS_IN_FLIGHT: u32 = 2;
/// How long a verification waits for a free core before the request is turned away.
const VERIFICATION_WAIT: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct CredentialGuard {
    proxies: TrustedProxies,
    limiter: Option<(RateLimiter, Quota)>,
    verifications: Arc<Semaphore>,
    in_flight: Arc<Mutex<HashMap<String, u32>>>,
}

/// A slot to run one password verification; frees its address's share (and its core, once
/// it holds one) when dropped.
pub struct VerificationPermit {
    _core: Option<OwnedSemaphorePermit>,
    address: String,
    in_flight: Arc<Mutex<HashMap<String, u32>>>,
}

impl Drop for VerificationPermit {
    fn drop(&mut self) {
        if let Ok(mut map) = self.in_flight.lock()
            && let Some(n) = map.get_mut(&self.address)
        {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.address);
            }
        }
    }
}

impl CredentialGuard {
    pub fn from_settings(settings: &crate::settings::Settings) -> Result<Self, String> {
        let limiter = match Quota::per_minute(settings.rate_limit_address_per_minute) {
            Some(q) => Some((
                RateLimiter::new(RateLimiter::store_for(settings)?, None, None),
                q,
            )),
            None => None,
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            proxies: TrustedProxies::new(&settings.http_trusted_proxies),
            limiter,
            verifications: Arc::new(Semaphore::new(cores)),
            in_flight: Arc::default(),
        })
    }

    /// The client address of `req`, once it is within its per-address limit (429 otherwise).
    pub async fn admit(&self, req: &HttpRequest) -> Result<String, ApiError> {
        let address = self.proxies.of(req);
        if let Some((limiter, quota)) = &self.limiter
            && let Some(d) = limiter.check_key(&format!("rl:a:{address}"), *quota).await
            && !d.allowed
        {
            let secs = d.retry_after.as_secs() + u64::from(d.retry_after.subsec_nanos() > 0);
            return Err(ApiError::too_many_requests(
                "too many requests from your address; try again later",
                secs.max(1),
            ));
        }
        Ok(address)
    }

    /// A slot for one password verification by `address`: 429 when that address already has
    /// its share in flight, 503 when every core stays busy for a second.
    pub async fn verification(&self, address: &str) -> Result<VerificationPermit, ApiError> {
        {
            let mut map = self
                .in_flight
                .lock()
                .map_err(|_| ApiError::internal("verification bookkeeping poisoned"))?;
            let n = map.entry(address.to_string()).or_insert(0);
            if *n >= PER_ADDRESS_IN_FLIGHT {
                metrics::counter!("credential_checks_refused_total", "reason" => "address_busy")
                    .increment(1);
                return Err(ApiError::too_many_requests(
                    "another sign-in from your address is still being checked",
                    1,
                ));
            }
            *n += 1;
        }
        // From here the address's share is held; dropping the permit gives it back.
        let mut permit = VerificationPermit {
            _core: None,
            address: address.to_string(),
            in_flight: self.in_flight.clone(),
        };
        let core = tokio::time::timeout(
            VERIFICATION_WAIT,
            self.verifications.clone().acquire_owned(),
        )
        .await;
        match core {
            Ok(Ok(core)) => {
                permit._core = Some(core);
                Ok(permit)
            }
            _ => {
                metrics::counter!("credential_checks_refused_total", "reason" => "cores_busy")
                    .increment(1);
                let mut e = ApiError::unavailable("too many sign-ins at once; try again shortly");
                e.retry_after = Some(1);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(cores: usize) -> CredentialGuard {
        CredentialGuard {
            proxies: TrustedProxies::default(),
            limiter: None,
            verifications: Arc::new(Semaphore::new(cores)),
            in_flight: Arc::default(),
        }
    }

    #[tokio::test]
    async fn one_address_holds_at_most_its_share_and_gets_it_back() {
        let g = guard(4);
        let a = g.verification("192.0.2.1").await;
        let b = g.verification("192.0.2.1").await;
        assert!(a.is_ok() && b.is_ok());
        let refused = g.verification("192.0.2.1").await;
        assert_eq!(refused.err().map(|e| e.status.as_u16()), Some(429));
        // Another address is not affected.
        assert!(g.verification("192.0.2.2").await.is_ok());
        drop(a);
        assert!(g.verification("192.0.2.1").await.is_ok());
    }

    #[tokio::test]
    async fn busy_cores_turn_a_verification_away_with_503_and_free_its_address_slot() {
        let g = guard(1);
        let _held = g.verification("192.0.2.1").await;
        let waited = g.verification("192.0.2.9").await;
        assert_eq!(waited.err().map(|e| e.status.as_u16()), Some(503));
        assert!(
            g.in_flight
                .lock()
                .is_ok_and(|m| !m.contains_key("192.0.2.9"))
        );
    }
}
