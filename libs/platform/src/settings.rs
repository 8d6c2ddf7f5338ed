//! Typed settings, layered: built-in defaults < optional TOML file (`ITSM_CONFIG`) < `ITSM_*`
//! environment variables. Every secret also reads from `ITSM_<NAME>_FILE` (a mounted secret).
use std::{collections::BTreeMap, fmt, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// A value that must never reach a log: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Settings keys whose value may come from a file named by `ITSM_<KEY>_FILE`.
const SECRET_KEYS: &[&str] = &[
    "database_url",
    "migration_database_url",
    "amqp_url",
    "amqp_urls",
    "redis_url",
    "demo_password",
    "auth_jwks_shared_key",
    "key_encryption_key",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server binds (`ITSM_LISTEN`).
    pub listen: String,
    /// Directory for the embedded SQLite databases (`ITSM_DATA_DIR`).
    pub data_dir: PathBuf,
    /// PostgreSQL URL of the application role; unset selects the embedded SQLite mode.
    pub database_url: Option<Secret>,
    /// PostgreSQL URL of the owner role that runs migrations.
    pub migration_database_url: Option<Secret>,
    /// RabbitMQ URL of this process's service, logging in as its broker user `itsm-<service>`
    /// (ADR 19); unset, with no `amqp_urls`, selects the in-process event transport (embedded
    /// mode).
    pub amqp_url: Option<Secret>,
    /// RabbitMQ URL per service, for a process that runs several (`{identity = "amqp://…",
    /// incident = "amqp://…"}`): each logs in as its own broker user. A service without an
    /// entry uses `amqp_url`.
    pub amqp_urls: BTreeMap<String, Secret>,
    /// Maximum pooled connections per service (PostgreSQL).
    pub database_max_connections: u32,
    /// Redis URL: rate limits shared by every replica; unset keeps them in this process.
    pub redis_url: Option<Secret>,
    /// Requests per minute each tenant's users and clients may make together (0: no limit).
    pub rate_limit_tenant_per_minute: u32,
    /// Requests per minute one API client may make (0: no limit).
    pub rate_limit_client_per_minute: u32,
    /// Requests per minute one client address may make to the endpoints anyone can reach
    /// (login, token, invitation, password reset) together (0: no limit).
    pub rate_limit_address_per_minute: u32,
    /// Externally visible base URL; the token issuer unless `auth_issuer` is set.
    pub public_url: Option<String>,
    /// Request body limit in bytes; larger bodies get 413.
    pub http_max_body_bytes: usize,
    /// Per-request timeout in seconds; a slower handler gets 503.
    pub http_request_timeout_secs: u64,
    /// How long shutdown waits for in-flight requests.
    pub http_shutdown_timeout_secs: u64,
    /// Worker threads for the HTTP server (0 = one per core).
    pub http_workers: usize,
    /// `iss` of issued tokens and the only issuer verifiers accept.
    pub auth_issuer: Option<String>,
    /// `aud` of issued tokens and the only audience verifiers accept.
    pub auth_audience: String,
    /// Access token lifetime in seconds (at most 900).
    pub auth_access_token_ttl_secs: u64,
    /// Refresh token lifetime in seconds.
    pub auth_refresh_token_ttl_secs: u64,
    /// JWKS URL to verify tokens against when identity runs in another process.
    pub auth_jwks_url: Option<String>,
    /// Key (at least 32 bytes) that authenticates the copy of the key set replicas share
    /// through Redis (HMAC-SHA256). Unset: no copy is shared, and a verifier trusts only keys it
    /// fetched itself.
    pub auth_jwks_shared_key: Option<Secret>,
    /// Key-encryption keys that seal identity's signing keys at rest (AES-256-GCM):
    /// `id:base64(32 bytes)`, comma-separated; the first seals, each one opens (rotation).
    /// Required on PostgreSQL; optional in the embedded mode.
    pub key_encryption_key: Option<Secret>,
    /// Addresses (IPs or CIDR blocks) of reverse proxies whose `X-Forwarded-For` names the
    /// client; from any other peer the header is ignored.
    pub http_trusted_proxies: Vec<String>,
    /// `tracing` filter, e.g. `info,sqlx=warn`.
    pub log_filter: String,
    /// `json` (default) or `pretty`.
    pub log_format: String,
    /// Password of the demo users; generated when unset.
    pub demo_password: Option<Secret>,
    /// A service whose 28-day ratio of incidents resolved after their resolution target is at
    /// least this, and higher than in the 28 days before, gets an improvement
    /// (`ITSM_IMPROVEMENT_BREACH_RATIO`, 0–1).
    pub improvement_breach_ratio: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            database_url: None,
            migration_database_url: None,
            amqp_url: None,
            amqp_urls: BTreeMap::new(),
            database_max_connections: 10,
            redis_url: None,
            rate_limit_tenant_per_minute: 6000,
            rate_limit_client_per_minute: 3000,
            rate_limit_address_per_minute: 60,
            public_url: None,
            http_max_body_bytes: 1024 * 1024,
            http_request_timeout_secs: 30,
            http_shutdown_timeout_secs: 20,
            http_workers: 0,
            auth_issuer: None,
            auth_audience: "itsm".into(),
            auth_access_token_ttl_secs: 900,
            auth_refresh_token_ttl_secs: 30 * 24 * 3600,
            auth_jwks_url: None,
            auth_jwks_shared_key: None,
            key_encryption_key: None,
            http_trusted_proxies: Vec::new(),
            log_filter: "info,sqlx=warn,sea_orm=warn".into(),
            log_format: "json".into(),
            demo_password: None,
            improvement_breach_ratio: 0.10,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid settings: {0}")]
    Invalid(String),
    #[error("cannot read {path}: {source}")]
    SecretFile {
        path: String,
        source: std::io::Error,
    },
}

/// A secret file's content as a settings value: a map setting (`amqp_urls`) is written as in
/// the environment, `{identity = "…", incident = "…"}`; any other secret is the trimmed text.
fn secret_file_value(key: &str, content: &str) -> figment::value::Value {
    let text = content.trim();
    match key {
        "amqp_urls" => match text.parse::<figment::value::Value>() {
            Ok(value) => value,
            Err(never) => match never {},
        },
        _ => figment::value::Value::from(text.to_string()),
    }
}

impl Settings {
    /// Loads defaults < `ITSM_CONFIG` file < `ITSM_*` environment (< `ITSM_*_FILE` secrets).
    pub fn load() -> Result<Self, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Ok(path) = std::env::var("ITSM_CONFIG") {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(
            Env::prefixed("ITSM_")
                .ignore(&["CONFIG"])
                // The filter sees keys as written (`ITSM_DATABASE_URL_FILE` → `DATABASE_URL_FILE`).
                .filter(|key| !key.as_str().to_ascii_lowercase().ends_with("_file")),
        );
        for key in SECRET_KEYS {
            let var = format!("ITSM_{}_FILE", key.to_uppercase());
            if let Ok(path) = std::env::var(&var) {
                let value = std::fs::read_to_string(&path)
                    .map_err(|source| SettingsError::SecretFile { path, source })?;
                figment = figment.merge(Serialized::default(key, secret_file_value(key, &value)));
            }
        }
        let settings: Settings = figment
            .extract()
            .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if self.auth_access_token_ttl_secs == 0 || self.auth_access_token_ttl_secs > 900 {
            return Err(SettingsError::Invalid(
                "auth_access_token_ttl_secs must be between 1 and 900".into(),
            ));
        }
        if self.migration_database_url.is_some() && self.database_url.is_none() {
            return Err(SettingsError::Invalid(
                "ITSM_MIGRATION_DATABASE_URL needs ITSM_DATABASE_URL".into(),
            ));
        }
        if self
            .auth_jwks_shared_key
            .as_ref()
            .is_some_and(|k| k.expose().len() < 32)
        {
            return Err(SettingsError::Invalid(
                "auth_jwks_shared_key must be at least 32 bytes".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.improvement_breach_ratio) {
            return Err(SettingsError::Invalid(
                "improvement_breach_ratio must be between 0 and 1".into(),
            ));
        }
        for proxy in &self.http_trusted_proxies {
            crate::client_addr::Cidr::parse(proxy).map_err(|e| {
                SettingsError::Invalid(format!("http_trusted_proxies: {proxy:?}: {e}"))
            })?;
        }
        Ok(())
    }

    /// The base URL clients reach this deployment at.
    pub fn public_base_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_string()
    }

    /// The token issuer: `auth_issuer`, else the public base URL.
    pub fn issuer(&self) -> String {
        self.auth_issuer
            .clone()
            .unwrap_or_else(|| self.public_base_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_in_debug_output() {
        let s = Settings {
            database_url: Some(Secret::new("postgres://app:hunter2@db/itsm")),
            ..Settings::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn per_service_amqp_urls_read_from_a_secret_file_as_a_map() {
        let text = "{identity = \"amqp://itsm-identity:s3cret@mq/%2f\", incident = \"amqps://itsm-incident:x@mq:5671/itsm\"}\n";
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Serialized::default(
                "amqp_urls",
                secret_file_value("amqp_urls", text),
            ))
            .extract()
            .unwrap_or_else(|e| panic!("{e}"));
        let urls: Vec<(&str, &str)> = settings
            .amqp_urls
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        assert_eq!(
            urls,
            [
                ("identity", "amqp://itsm-identity:s3cret@mq/%2f"),
                ("incident", "amqps://itsm-incident:x@mq:5671/itsm")
            ]
        );
        assert!(!format!("{settings:?}").contains("s3cret"));
        assert_eq!(
            secret_file_value("amqp_url", " amqp://a:b@mq/%2f\n"),
            figment::value::Value::from("amqp://a:b@mq/%2f".to_string())
        );
    }

    #[test]
    fn defaults_are_valid() {
        assert!(Settings::default().validate().is_ok());
    }
}
