//! Bearer-token authentication and per-route scopes.
//!
//! Access tokens are EdDSA JWTs (`typ: at+jwt`, RFC 9068) verified against a JWKS: the algorithm
//! is pinned, and `iss`, `aud`, `exp`, `nbf` are required. A handler declares the scope it
//! needs in its signature — `auth: Auth<scopes::UserRead>` — so no route can forget it.
use std::{
    collections::{BTreeSet, HashMap},
    future::Future,
    marker::PhantomData,
    pin::Pin,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use async_trait::async_trait;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    error::ApiError,
    tenancy::{TenantDirectory, TenantInfo},
};

/// The JWT `typ` header of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Roles, after ITIL's generic and practice roles. Each grants a fixed set of scopes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PlatformAdmin,
    MspAdmin,
    MspAgent,
    TenantAdmin,
    ServiceOwner,
    Agent,
    ConfigurationManager,
    ChangeManager,
    Approver,
    Requester,
    Analyst,
}

/// Every scope the platform knows. Routes name one of these.
pub const ALL_SCOPES: &[&str] = &[
    "tenant:read",
    "tenant:write",
    "tenant:onboard",
    "user:read",
    "user:write",
    "group:read",
    "group:write",
    "api_client:manage",
    "audit:read",
    "signing_key:rotate",
    "incident:read",
    "incident:write",
    "problem:read",
    "problem:write",
    "sla:admin",
    "catalog:read",
    "catalog:write",
    "request:read",
    "request:write",
    "request:approve",
    "change:read",
    "change:write",
    "change:approve",
    "cmdb:read",
    "cmdb:write",
    "knowledge:read",
    "knowledge:write",
    "analytics:read",
    "bus:admin",
];

impl Role {
    pub const ALL: [Role; 11] = [
        Role::PlatformAdmin,
        Role::MspAdmin,
        Role::MspAgent,
        Role::TenantAdmin,
        Role::ServiceOwner,
        Role::Agent,
        Role::ConfigurationManager,
        Role::ChangeManager,
        Role::Approver,
        Role::Requester,
        Role::Analyst,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::MspAdmin => "msp_admin",
            Role::MspAgent => "msp_agent",
            Role::TenantAdmin => "tenant_admin",
            Role::ServiceOwner => "service_owner",
            Role::Agent => "agent",
            Role::ConfigurationManager => "configuration_manager",
            Role::ChangeManager => "change_manager",
            Role::Approver => "approver",
            Role::Requester => "requester",
            Role::Analyst => "analyst",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Roles that act for the whole subtree below their tenant (`X-Tenant`, `?tenant=*`).
    pub fn reaches_descendants(self) -> bool {
        matches!(self, Role::PlatformAdmin | Role::MspAdmin | Role::MspAgent)
    }

    pub fn scopes(self) -> Vec<&'static str> {
        match self {
            Role::PlatformAdmin => ALL_SCOPES.to_vec(),
            // An MSP admin administers its own tenant and onboards customers below it.
            Role::MspAdmin => [Role::TenantAdmin.scopes(), vec!["tenant:onboard"]].concat(),
            Role::TenantAdmin => vec![
                "tenant:read",
                "tenant:write",
                "user:read",
                "user:write",
                "group:read",
                "group:write",
                "api_client:manage",
                "audit:read",
                "incident:read",
                "incident:write",
                "problem:read",
                "problem:write",
                "sla:admin",
                "catalog:read",
                "catalog:write",
                "request:read",
                "request:write",
                "request:approve",
                "change:read",
                "change:write",
                "change:approve",
                "cmdb:read",
                "cmdb:write",
                "knowledge:read",
                "knowledge:write",
                "analytics:read",
            ],
            Role::MspAgent | Role::Agent => vec![
                "tenant:read",
                "user:read",
                "group:read",
                "incident:read",
                "incident:write",
                "problem:read",
                "problem:write",
                "catalog:read",
                "request:read",
                "request:write",
                "change:read",
                "cmdb:read",
                "knowledge:read",
                "knowledge:write",
            ],
            Role::ServiceOwner => vec![
                "tenant:read",
                "user:read",
                "group:read",
                "incident:read",
                "problem:read",
                "catalog:read",
                "catalog:write",
                "request:read",
                "change:read",
                "cmdb:read",
                "knowledge:read",
                "knowledge:write",
                "analytics:read",
            ],
            Role::ConfigurationManager => vec![
                "tenant:read",
                "user:read",
                "group:read",
                "incident:read",
                "change:read",
                "cmdb:read",
                "cmdb:write",
                "catalog:read",
            ],
            Role::ChangeManager => vec![
                "tenant:read",
                "user:read",
                "group:read",
                "incident:read",
                "problem:read",
                "change:read",
                "change:write",
                "change:approve",
                "cmdb:read",
                "catalog:read",
            ],
            Role::Approver => vec![
                "tenant:read",
                "user:read",
                "change:read",
                "change:approve",
                "request:read",
                "request:approve",
                "catalog:read",
            ],
            Role::Requester => vec![
                "tenant:read",
                "incident:read",
                "incident:write",
                "request:read",
                "request:write",
                "catalog:read",
                "knowledge:read",
            ],
            Role::Analyst => vec![
                "tenant:read",
                "user:read",
                "group:read",
                "incident:read",
                "problem:read",
                "catalog:read",
                "request:read",
                "change:read",
                "cmdb:read",
                "knowledge:read",
                "analytics:read",
            ],
        }
    }
}

/// The union of the scopes of `roles`.
pub fn scopes_of(roles: &[Role]) -> BTreeSet<String> {
    roles
        .iter()
        .flat_map(|r| r.scopes().into_iter().map(str::to_string))
        .collect()
}

/// Access-token claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// User id, or API client id.
    pub sub: Uuid,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: Uuid,
    /// Home tenant of the principal.
    pub tid: Uuid,
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Space-separated scopes (RFC 8693 / RFC 9068).
    pub scope: String,
    /// Present on tokens issued to API clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Uuid>,
    /// The user's email (OIDC standard claim), on user tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's display name (OIDC standard claim), on user tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    pub subject: Uuid,
    pub home_tenant: Uuid,
    pub roles: Vec<Role>,
    pub scopes: BTreeSet<String>,
    pub is_client: bool,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Token expiry (Unix seconds).
    pub expires_at: i64,
}

impl Principal {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }
    pub fn reaches_descendants(&self) -> bool {
        !self.is_client && self.roles.iter().any(|r| r.reaches_descendants())
    }
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Where verification keys come from.
#[async_trait]
pub trait KeySource: Send + Sync {
    async fn jwks(&self) -> Result<JwkSet, String>;
}

/// A JWKS document fetched over HTTP (another process runs identity). With Redis, each
/// successful fetch is also kept there, and a fetch that fails falls back to the last document
/// any replica kept: a replica that starts, or meets a rotated key, while identity is
/// unreachable still verifies tokens.
pub struct RemoteJwks {
    url: String,
    client: reqwest::Client,
    shared: Option<crate::redis_client::LazyRedis>,
}

/// How long the shared copy outlives identity's reachability.
const SHARED_JWKS_TTL: Duration = Duration::from_secs(24 * 3600);

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

    /// Shares fetched documents through the Redis at `redis_url`.
    pub fn shared_through(mut self, redis_url: &str) -> Result<Self, String> {
        self.shared = Some(crate::redis_client::LazyRedis::new(redis_url)?);
        Ok(self)
    }

    fn shared_key(&self) -> String {
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
            (Ok(doc), Some(redis)) => {
                if let Err(e) = redis
                    .set_for(&self.shared_key(), &doc, SHARED_JWKS_TTL)
                    .await
                {
                    tracing::warn!(error = %e, "JWKS not shared through Redis");
                }
                doc
            }
            (Ok(doc), None) => doc,
            (Err(e), Some(redis)) => {
                tracing::warn!(error = %e, "cannot fetch JWKS; using the shared copy");
                redis
                    .get(&self.shared_key())
                    .await
                    .and_then(|kept| kept.ok_or_else(|| "none kept".to_string()))
                    .map_err(|shared| format!("{e}; shared copy: {shared}"))?
            }
            (Err(e), None) => return Err(e),
        };
        serde_json::from_str(&doc).map_err(|e| e.to_string())
    }
}

/// Verifies access tokens against a cached key set, refreshing it (at most every 10 s) when a
/// token names a `kid` it does not know — which is how key rotation reaches verifiers.
pub struct Verifier {
    issuer: String,
    audience: String,
    source: Arc<dyn KeySource>,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_refresh: RwLock<Option<Instant>>,
}

const REFRESH_INTERVAL: Duration = Duration::from_secs(10);

impl Verifier {
    pub fn new(issuer: String, audience: String, source: Arc<dyn KeySource>) -> Self {
        Self {
            issuer,
            audience,
            source,
            keys: RwLock::new(HashMap::new()),
            last_refresh: RwLock::new(None),
        }
    }

    fn cached(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().ok()?.get(kid).cloned()
    }

    async fn refresh(&self) -> Result<(), ApiError> {
        let due = self
            .last_refresh
            .read()
            .map(|t| t.is_none_or(|t| t.elapsed() >= REFRESH_INTERVAL))
            .unwrap_or(true);
        if !due {
            return Ok(());
        }
        if let Ok(mut t) = self.last_refresh.write() {
            *t = Some(Instant::now());
        }
        let set = self.source.jwks().await.map_err(|e| {
            tracing::warn!(error = %e, "cannot fetch JWKS");
            ApiError::unavailable("token verification keys are unavailable")
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
        Ok(())
    }

    /// Forgets the cached keys so the next token fetches them again (after a rotation).
    pub fn invalidate(&self) {
        if let Ok(mut t) = self.last_refresh.write() {
            *t = None;
        }
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
                self.refresh().await?;
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

/// What the auth extractors need from the application.
#[derive(Clone)]
pub struct AuthContext {
    pub verifier: Arc<Verifier>,
    pub directory: Arc<dyn TenantDirectory>,
    pub principals: Arc<PrincipalCache>,
    /// Per-tenant and per-client request limits, checked once the caller is known.
    pub limiter: Option<crate::ratelimit::RateLimiter>,
}

impl AuthContext {
    pub fn new(verifier: Arc<Verifier>, directory: Arc<dyn TenantDirectory>) -> Self {
        Self {
            verifier,
            directory,
            principals: Arc::default(),
            limiter: None,
        }
    }

    pub fn with_limiter(mut self, limiter: Option<crate::ratelimit::RateLimiter>) -> Self {
        self.limiter = limiter;
        self
    }
}

/// A scope a route requires.
pub trait RequiredScope {
    const SCOPE: &'static str;
}

/// Declares marker types for scopes: `scope!(UserRead = "user:read")`.
#[macro_export]
macro_rules! scope {
    ($($name:ident = $scope:literal),* $(,)?) => {
        $(
            #[doc = concat!("Requires the `", $scope, "` scope.")]
            pub struct $name;
            impl $crate::auth::RequiredScope for $name {
                const SCOPE: &'static str = $scope;
            }
        )*
    };
}

/// Scope markers for routes.
pub mod scopes {
    crate::scope!(
        TenantRead = "tenant:read",
        TenantWrite = "tenant:write",
        TenantOnboard = "tenant:onboard",
        UserRead = "user:read",
        UserWrite = "user:write",
        GroupRead = "group:read",
        GroupWrite = "group:write",
        ApiClientManage = "api_client:manage",
        AuditRead = "audit:read",
        SigningKeyRotate = "signing_key:rotate",
        BusAdmin = "bus:admin",
        IncidentRead = "incident:read",
        IncidentWrite = "incident:write",
        ProblemRead = "problem:read",
        ProblemWrite = "problem:write",
        SlaAdmin = "sla:admin",
    );

    /// Any authenticated principal.
    pub struct Authenticated;
    impl crate::auth::RequiredScope for Authenticated {
        const SCOPE: &'static str = "";
    }
}

/// An authenticated, authorized request: the principal holds scope `S`, and `tenant` is the
/// tenant it acts in (its own, or a descendant named by `X-Tenant` for MSP roles).
pub struct Auth<S: RequiredScope> {
    pub principal: Principal,
    pub tenant: TenantInfo,
    directory: Arc<dyn TenantDirectory>,
    _scope: PhantomData<S>,
}

impl<S: RequiredScope> Auth<S> {
    /// The acting tenant's id.
    pub fn tenant_id(&self) -> Uuid {
        self.tenant.id
    }

    /// Tenants a list may span: `?tenant=*` gives the acting tenant's subtree to principals
    /// that reach descendants; otherwise just the acting tenant.
    pub async fn list_scope(&self, tenant_param: Option<&str>) -> Result<Vec<Uuid>, ApiError> {
        match tenant_param {
            None => Ok(vec![self.tenant.id]),
            Some("*") if self.principal.reaches_descendants() => {
                self.directory.subtree(self.tenant.id).await
            }
            Some("*") => Ok(vec![self.tenant.id]),
            Some(key) => {
                let target = self.directory.resolve(self.tenant.id, key).await?;
                match target {
                    Some(t) if t.id == self.tenant.id || self.principal.reaches_descendants() => {
                        Ok(vec![t.id])
                    }
                    _ => Err(ApiError::bad_query(
                        "tenant",
                        "unknown_tenant",
                        "no such tenant within your reach",
                    )),
                }
            }
        }
    }

    /// Whether `tenant` is the acting tenant or (for MSP roles) below it.
    pub fn reaches(&self, tenant: &TenantInfo) -> bool {
        tenant.id == self.tenant.id
            || (self.principal.reaches_descendants() && tenant.path.contains(&self.tenant.id))
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// Verifies the bearer token of `req` and returns the principal.
pub async fn authenticate(ctx: &AuthContext, req: &HttpRequest) -> Result<Principal, ApiError> {
    let token = bearer(req).ok_or_else(|| ApiError::unauthorized("a bearer token is required"))?;
    if let Some(p) = ctx.principals.get(&token) {
        return Ok(p);
    }
    let claims = ctx.verifier.verify(&token).await?;
    let principal = Principal {
        subject: claims.sub,
        home_tenant: claims.tid,
        scopes: claims
            .scope
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        is_client: claims.client_id.is_some(),
        roles: claims.roles,
        email: claims.email,
        name: claims.name,
        expires_at: claims.exp,
    };
    ctx.principals.put(token, principal.clone());
    Ok(principal)
}

/// Principals of tokens verified recently, so a client's repeated calls skip the signature
/// check. A token is immutable and cannot be revoked before it expires, so a cached result is
/// exactly what verifying again would give — until `exp`, which is checked on every hit.
#[derive(Default)]
pub struct PrincipalCache {
    entries: RwLock<HashMap<String, Principal>>,
}

/// Bound on cached tokens; when full the cache starts over (cheap, and a miss only costs one
/// signature check).
const PRINCIPAL_CACHE_CAPACITY: usize = 10_000;

impl PrincipalCache {
    fn get(&self, token: &str) -> Option<Principal> {
        let p = self.entries.read().ok()?.get(token).cloned()?;
        (p.expires_at > chrono::Utc::now().timestamp()).then_some(p)
    }

    fn put(&self, token: String, principal: Principal) {
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= PRINCIPAL_CACHE_CAPACITY {
                map.clear();
            }
            map.insert(token, principal);
        }
    }
}

impl<S: RequiredScope + 'static> FromRequest for Auth<S> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let ctx = req
                .app_data::<web::Data<AuthContext>>()
                .ok_or_else(|| ApiError::internal("AuthContext missing from app data"))?
                .get_ref()
                .clone();
            let principal = authenticate(&ctx, &req).await?;
            if !S::SCOPE.is_empty() && !principal.has_scope(S::SCOPE) {
                return Err(ApiError::forbidden(
                    "insufficient_scope",
                    format!("this operation requires the `{}` scope", S::SCOPE),
                ));
            }
            let home = principal.home_tenant;
            let home_info = ctx
                .directory
                .resolve(home, &home.to_string())
                .await?
                .ok_or_else(|| ApiError::unauthorized("the token's tenant no longer exists"))?;
            if !home_info.active {
                return Err(ApiError::forbidden(
                    "tenant_suspended",
                    "your tenant is suspended",
                ));
            }
            // The caller's own tenant pays for the request, whichever tenant it acts in.
            let client = principal.is_client.then_some(principal.subject);
            if let Some(limiter) = &ctx.limiter
                && let Some(d) = limiter
                    .check(home, home_info.rate_limit_per_minute, client)
                    .await
            {
                req.extensions_mut().insert(d);
                if !d.allowed {
                    let secs =
                        d.retry_after.as_secs() + u64::from(d.retry_after.subsec_nanos() > 0);
                    return Err(ApiError::too_many_requests(
                        format!(
                            "rate limit of {} requests per minute reached; retry in {secs} s",
                            d.limit
                        ),
                        secs.max(1),
                    ));
                }
            }
            let header = req
                .headers()
                .get("x-tenant")
                .map(|v| v.to_str().map(str::trim).map(str::to_string));
            let tenant = match header {
                None => home_info,
                Some(Err(_)) => return Err(ApiError::not_found("tenant")),
                Some(Ok(key)) => {
                    let target = ctx.directory.resolve(home, &key).await?;
                    match target {
                        Some(t) if t.id == home => t,
                        Some(t) if principal.reaches_descendants() => t,
                        _ => return Err(ApiError::not_found("tenant")),
                    }
                }
            };
            if !tenant.active {
                return Err(ApiError::forbidden(
                    "tenant_suspended",
                    "the tenant is suspended",
                ));
            }
            tracing::Span::current().record("tenant_id", tracing::field::display(tenant.id));
            req.extensions_mut().insert(tenant.id);
            Ok(Auth {
                principal,
                tenant,
                directory: ctx.directory.clone(),
                _scope: PhantomData,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_scope_is_a_known_scope() {
        for role in Role::ALL {
            for s in role.scopes() {
                assert!(ALL_SCOPES.contains(&s), "{role:?} grants unknown {s}");
            }
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }

    #[test]
    fn only_msp_and_platform_roles_reach_descendants() {
        let reaching: Vec<_> = Role::ALL
            .into_iter()
            .filter(|r| r.reaches_descendants())
            .collect();
        assert_eq!(
            reaching,
            vec![Role::PlatformAdmin, Role::MspAdmin, Role::MspAgent]
        );
    }

    #[test]
    fn requester_cannot_manage_users() {
        assert!(!scopes_of(&[Role::Requester]).contains("user:write"));
        assert!(scopes_of(&[Role::TenantAdmin]).contains("user:write"));
    }
}
