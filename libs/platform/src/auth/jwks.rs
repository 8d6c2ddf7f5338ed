//! Where verification keys come from: the key set (JWKS) fetched from identity, shared
//! between replicas through Redis under an HMAC so that they verify tokens while identity is
//! unreachable.
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;

/// Where verification keys come from.
#[async_trait]
pub trait KeySource: Send + Sync {
    async fn jwks(&self) -> Result<JwkSet, String>;
}

/// A JWKS document fetched over HTTP (another process runs identity). With Redis and a shared
/// key, each successful fetch is also kept there under an HMAC, and a fetch that fails falls back
/// to the last document any replica kept: a replica that starts, or meets a rotated key, while
/// identity is unreachable still verifies tokens. A copy whose MAC does not verify — a key set
/// planted by whoever can write to Redis — is never used.
pub struct RemoteJwks {
    url: String,
    client: reqwest::Client,
    shared: Option<SharedCopy>,
}

/// Where replicas share fetched key sets, and the key that proves a copy came from one of them.
struct SharedCopy {
    redis: crate::redis_client::LazyRedis,
    key: Vec<u8>,
}

/// How long the shared copy outlives identity's reachability.
const SHARED_JWKS_TTL: Duration = Duration::from_secs(24 * 3600);

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

impl SharedCopy {
    fn mac(&self, url: &str, doc: &str) -> HmacSha256 {
        use hmac::Mac;
        // `new_from_slice` accepts keys of any length for HMAC.
        let mut mac = HmacSha256::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(url.as_bytes());
        mac.update(b"\n");
        mac.update(doc.as_bytes());
        mac
    }

    /// `<hex MAC>.<document>`; the MAC covers the URL too, so a copy cannot be moved between
    /// key-set URLs.
    fn seal(&self, url: &str, doc: &str) -> String {
        use hmac::Mac;
        format!(
            "{}.{doc}",
            hex::encode(self.mac(url, doc).finalize().into_bytes())
        )
    }

    fn open(&self, url: &str, kept: &str) -> Result<String, String> {
        use hmac::Mac;
        let (tag, doc) = kept.split_once('.').ok_or("not a sealed copy")?;
        let tag = hex::decode(tag).map_err(|_| "not a sealed copy")?;
        self.mac(url, doc)
            .verify_slice(&tag)
            .map_err(|_| "the shared copy's MAC does not verify".to_string())?;
        Ok(doc.to_string())
    }
}

impl RemoteJwks {
    pub fn new(url: impl Into<String>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            url: url.into(),
            client,
            shared: None,
        }
    }

    /// Shares fetched documents through the Redis at `redis_url`, sealed with `key`.
    pub fn shared_through(mut self, redis_url: &str, key: &[u8]) -> Result<Self, String> {
        self.shared = Some(SharedCopy {
            redis: crate::redis_client::LazyRedis::new(redis_url)?,
            key: key.to_vec(),
        });
        Ok(self)
    }

    /// The copy of `doc` this source would share (None without a shared key).
    pub fn sealed(&self, doc: &str) -> Option<String> {
        self.shared.as_ref().map(|s| s.seal(&self.url, doc))
    }

    /// The Redis key of the shared copy.
    pub fn shared_key(&self) -> String {
        format!("jwks:{}", self.url)
    }

    async fn fetch(&self) -> Result<String, String> {
        let res = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        res.error_for_status()
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl KeySource for RemoteJwks {
    async fn jwks(&self) -> Result<JwkSet, String> {
        let doc = match (self.fetch().await, &self.shared) {
            (Ok(doc), Some(shared)) => {
                let sealed = shared.seal(&self.url, &doc);
                if let Err(e) = shared
                    .redis
                    .set_for(&self.shared_key(), &sealed, SHARED_JWKS_TTL)
                    .await
                {
                    tracing::warn!(error = %e, "JWKS not shared through Redis");
                }
                doc
            }
            (Ok(doc), None) => doc,
            (Err(e), Some(shared)) => {
                tracing::warn!(error = %e, "cannot fetch JWKS; using the shared copy");
                shared
                    .redis
                    .get(&self.shared_key())
                    .await
                    .and_then(|kept| kept.ok_or_else(|| "none kept".to_string()))
                    .and_then(|kept| shared.open(&self.url, &kept))
                    .map_err(|shared| format!("{e}; shared copy: {shared}"))?
            }
            (Err(e), None) => return Err(e),
        };
        serde_json::from_str(&doc).map_err(|e| e.to_string())
    }
}
