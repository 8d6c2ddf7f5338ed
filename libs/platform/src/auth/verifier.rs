//! Access-token verification: the signature against the cached key set (refreshed when a
//! token names an unknown key), the algorithm pinned, `iss`, `aud`, `exp`, `nbf` required.
use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};

use super::{
    jwks::KeySource,
    principal::{ACCESS_TOKEN_TYP, Claims},
};
use crate::error::ApiError;

/// Verifies access tokens against a cached key set, refreshing it (at most every 10 s) when a
/// token names a `kid` it does not know — which is how key rotation reaches verifiers. One fetch
/// is in flight at a time: concurrent verifications of a new `kid` wait for it and use its
/// result, so a burst right after start or after a rotation costs one fetch and refuses nothing.
pub struct Verifier {
    issuer: String,
    audience: String,
    source: Arc<dyn KeySource>,
    keys: RwLock<HashMap<String, DecodingKey>>,
    /// The last fetch: when it started and whether it succeeded. Held across the fetch, which is
    /// what makes it single-flight.
    last_fetch: tokio::sync::Mutex<Option<(Instant, bool)>>,
    /// The least time between two fetches for unknown `kid`s: tokens with random `kid`s must
    /// not become a flood of requests to identity.
    floor: Duration,
}

const REFRESH_INTERVAL: Duration = Duration::from_secs(10);

impl Verifier {
    pub fn new(issuer: String, audience: String, source: Arc<dyn KeySource>) -> Self {
        Self {
            issuer,
            audience,
            source,
            keys: RwLock::new(HashMap::new()),
            last_fetch: tokio::sync::Mutex::new(None),
            floor: REFRESH_INTERVAL,
        }
    }

    /// The same with another floor between fetches (tests).
    pub fn with_refresh_floor(mut self, floor: Duration) -> Self {
        self.floor = floor;
        self
    }

    fn cached(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().ok()?.get(kid).cloned()
    }

    fn holds_keys(&self) -> bool {
        self.keys.read().is_ok_and(|k| !k.is_empty())
    }

    /// Loads the key set now (at start, before the service reports ready); true once keys are
    /// held.
    pub async fn load(&self) -> bool {
        if !self.holds_keys() {
            let _ = self.refresh(None).await;
        }
        self.holds_keys()
    }

    /// Fetches the key set unless `kid` arrived while waiting for a fetch in flight, or the last
    /// fetch was less than the floor ago (then its outcome stands).
    async fn refresh(&self, kid: Option<&str>) -> Result<(), ApiError> {
        let unavailable = || ApiError::unavailable("token verification keys are unavailable");
        let mut last = self.last_fetch.lock().await;
        if kid.is_some_and(|k| self.cached(k).is_some()) {
            return Ok(());
        }
        if let Some((at, ok)) = *last
            && at.elapsed() < self.floor
        {
            return if ok { Ok(()) } else { Err(unavailable()) };
        }
        let fetched = self.source.jwks().await;
        *last = Some((Instant::now(), fetched.is_ok()));
        let set = fetched.map_err(|e| {
            tracing::warn!(error = %e, "cannot fetch JWKS");
            unavailable()
        })?;
        let mut fresh = HashMap::new();
        for jwk in &set.keys {
            if let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)) {
                fresh.insert(kid, key);
            }
        }
        if let Ok(mut keys) = self.keys.write() {
            *keys = fresh;
        }
        metrics::counter!("jwks_fetches_total").increment(1);
        Ok(())
    }

    /// Lets the next unknown `kid` fetch at once (after a rotation in this process).
    pub async fn invalidate(&self) {
        *self.last_fetch.lock().await = None;
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let invalid = |why: &str| ApiError::unauthorized(format!("invalid access token: {why}"));
        let header = decode_header(token).map_err(|_| invalid("malformed"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid("algorithm not accepted"));
        }
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return Err(invalid("not an access token"));
        }
        let kid = header.kid.ok_or_else(|| invalid("no key id"))?;
        let key = match self.cached(&kid) {
            Some(k) => k,
            None => {
                if let Err(e) = self.refresh(Some(&kid)).await {
                    // Identity (or its key set) cannot be reached right now. Without any key we
                    // can verify nothing; with keys in hand, this kid is simply not one of them.
                    if !self.holds_keys() {
                        return Err(e);
                    }
                }
                self.cached(&kid)
                    .ok_or_else(|| invalid("unknown signing key"))?
            }
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        let data = decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind::*;
            match e.kind() {
                ExpiredSignature => invalid("expired"),
                ImmatureSignature => invalid("not yet valid"),
                InvalidIssuer => invalid("wrong issuer"),
                InvalidAudience => invalid("wrong audience"),
                InvalidSignature => invalid("bad signature"),
                _ => invalid("rejected"),
            }
        })?;
        Ok(data.claims)
    }
}

/// `/readyz` reports not ready until the verifier holds keys (it loads them on each check).
pub struct VerifierReadiness(pub Arc<Verifier>);

impl crate::health::ReadinessCheck for VerifierReadiness {
    fn name(&self) -> &'static str {
        "verification_keys"
    }
    fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            if self.0.load().await {
                Ok(())
            } else {
                Err("no token verification keys loaded yet".into())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use jsonwebtoken::jwk::JwkSet;
    use uuid::Uuid;

    use super::*;
    use crate::auth::Role;

    /// A key set that counts its fetches and takes a moment to answer, as identity over HTTP.
    struct CountingSource {
        set: std::sync::Mutex<serde_json::Value>,
        fetches: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl KeySource for CountingSource {
        async fn jwks(&self) -> Result<JwkSet, String> {
            self.fetches
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await;
            let set = self.set.lock().map_err(|e| e.to_string())?.clone();
            serde_json::from_value(set).map_err(|e| e.to_string())
        }
    }

    impl CountingSource {
        fn fetches(&self) -> usize {
            self.fetches.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    fn signing_key() -> (ed25519_dalek::SigningKey, serde_json::Value) {
        use base64::Engine;
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let x =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
        (
            key,
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
        )
    }

    fn token(kid: &str, key: &ed25519_dalek::SigningKey) -> String {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: "https://itsm.test".into(),
            sub: Uuid::now_v7(),
            aud: "itsm".into(),
            exp: now + 300,
            nbf: now,
            iat: now,
            jti: Uuid::now_v7(),
            tid: Uuid::now_v7(),
            roles: vec![Role::Agent],
            scope: "incident:read".into(),
            client_id: None,
            email: None,
            name: None,
        };
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some(kid.into());
        let der = key.to_pkcs8_der().unwrap_or_else(|e| panic!("pkcs8: {e}"));
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
        )
        .unwrap_or_else(|e| panic!("sign: {e}"))
    }

    fn set_of(keys: &[(&str, &serde_json::Value)]) -> serde_json::Value {
        let keys: Vec<_> = keys
            .iter()
            .map(|(kid, jwk)| {
                let mut jwk = (*jwk).clone();
                jwk["kid"] = serde_json::json!(kid);
                jwk
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    async fn verify_all(verifier: &Arc<Verifier>, tokens: Vec<String>) -> Vec<u16> {
        let tasks: Vec<_> = tokens
            .into_iter()
            .map(|t| {
                let v = verifier.clone();
                tokio::spawn(async move {
                    v.verify(&t)
                        .await
                        .map_or_else(|e| e.status.as_u16(), |_| 200)
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap_or(0));
        }
        out
    }

    #[tokio::test]
    async fn concurrent_verifications_of_a_new_kid_share_one_fetch_and_all_pass() {
        let (k1, jwk1) = signing_key();
        let source = Arc::new(CountingSource {
            set: std::sync::Mutex::new(set_of(&[("k1", &jwk1)])),
            fetches: Default::default(),
        });
        let verifier = Arc::new(
            Verifier::new("https://itsm.test".into(), "itsm".into(), source.clone())
                .with_refresh_floor(Duration::from_millis(200)),
        );
        // A fresh verifier: 64 at once, one fetch, none refused.
        let statuses = verify_all(&verifier, vec![token("k1", &k1); 64]).await;
        assert_eq!(statuses, vec![200; 64]);
        assert_eq!(source.fetches(), 1);

        // A rotation (after the floor): 64 tokens of the new key, one more fetch.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (k2, jwk2) = signing_key();
        if let Ok(mut set) = source.set.lock() {
            *set = set_of(&[("k1", &jwk1), ("k2", &jwk2)]);
        }
        let statuses = verify_all(&verifier, vec![token("k2", &k2); 64]).await;
        assert_eq!(statuses, vec![200; 64]);
        assert_eq!(source.fetches(), 2);

        // 64 random kids after the floor: one fetch, then the floor holds; all refused.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let random: Vec<String> = (0..64)
            .map(|_| token(&Uuid::now_v7().to_string(), &k2))
            .collect();
        let statuses = verify_all(&verifier, random.clone()).await;
        assert_eq!(statuses, vec![401; 64]);
        let again = verify_all(&verifier, random).await;
        assert_eq!(again, vec![401; 64]);
        assert_eq!(source.fetches(), 3);
    }
}
