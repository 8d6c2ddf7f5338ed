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
            // Requesters reach the incidents they raised, never the tenant's queue.
            Role::Requester => vec![
                "tenant:read",
                "incident:read_own",
                "incident:write_own",
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

/// Scopes that include narrower ones: whoever works the whole tenant's queue may also do what
/// "mine" allows, so routes open to both declare the narrower scope and decide the reach from
/// the wider one (see `Principal::reaches_all`).
pub const IMPLIED_SCOPES: &[(&str, &str)] = &[
    ("incident:read", "incident:read_own"),
    ("incident:write", "incident:write_own"),
];

/// The union of the scopes of `roles`.
pub fn scopes_of(roles: &[Role]) -> BTreeSet<String> {
    with_implied(
        roles
            .iter()
            .flat_map(|r| r.scopes().into_iter().map(str::to_string))
            .collect(),
    )
}

/// `scopes` plus every scope they imply.
pub fn with_implied(mut scopes: BTreeSet<String>) -> BTreeSet<String> {
    for (wide, narrow) in IMPLIED_SCOPES {
        if scopes.contains(*wide) {
            scopes.insert((*narrow).to_string());
        }
    }
    scopes
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
    /// Whether the principal reaches every record of the acting tenant through `scope` (e.g.
    /// `incident:read`), rather than only its own records through the `_own` scope the route
    /// declared. Decided from granted scopes alone, never from roles the principal lacks.
    pub fn reaches_all(&self, scope: &str) -> bool {
        self.has_scope(scope)
    }
}

/// Whether `actor` may act on a user who holds `target_roles`: reset its password, deactivate
/// it, change its roles, re-invite or impersonate it. No one acts on a principal more powerful
/// than itself: a user must hold every role of the target that reaches other tenants
/// ([`Role::reaches_descendants`]), unless it is a platform admin; an API client never acts on a
/// user who holds such a role. Roles that stay inside one tenant do not count (a tenant admin
/// may reset another tenant admin of its tenant).
pub fn may_act_on(actor: &Principal, target_roles: &[Role]) -> bool {
    let mut reaching = target_roles.iter().filter(|r| r.reaches_descendants());
    if actor.is_client {
        return reaching.next().is_none();
    }
    actor.has_role(Role::PlatformAdmin) || reaching.all(|r| actor.has_role(*r))
}

/// The scopes a delegate (an API client) may use now: those it was granted that its
/// delegator's current roles still grant, in the order granted. A client created by an admin
/// who is later demoted keeps only what the admin still holds.
pub fn delegated_scopes<'a>(
    granted: impl IntoIterator<Item = &'a str>,
    delegator_roles: &[Role],
) -> Vec<String> {
    let held = scopes_of(delegator_roles);
    granted
        .into_iter()
        .filter(|s| held.contains(*s))
        .map(str::to_string)
        .collect()
}

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

impl crate::http::ReadinessCheck for VerifierReadiness {
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

/// Declares every scope once: `ALL_SCOPES` (what roles grant, clients may ask for, and the
/// discovery document and OpenAPI list) and a marker type per scope for routes
/// (`Auth<scopes::UserRead>`). A new scope is one line here.
macro_rules! declare_scopes {
    ($($name:ident = $scope:literal),* $(,)?) => {
        /// Every scope the platform knows. Routes name one of these.
        pub const ALL_SCOPES: &[&str] = &[$($scope),*];

        /// Scope markers for routes.
        pub mod scopes {
            $(
                #[doc = concat!("Requires the `", $scope, "` scope.")]
                pub struct $name;
                impl crate::auth::RequiredScope for $name {
                    const SCOPE: &'static str = $scope;
                }
            )*

            /// Any authenticated principal.
            pub struct Authenticated;
            impl crate::auth::RequiredScope for Authenticated {
                const SCOPE: &'static str = "";
            }
        }
    };
}

declare_scopes!(
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
    IncidentRead = "incident:read",
    IncidentWrite = "incident:write",
    IncidentReadOwn = "incident:read_own",
    IncidentWriteOwn = "incident:write_own",
    ProblemRead = "problem:read",
    ProblemWrite = "problem:write",
    SlaAdmin = "sla:admin",
    CatalogRead = "catalog:read",
    CatalogWrite = "catalog:write",
    RequestRead = "request:read",
    RequestWrite = "request:write",
    RequestApprove = "request:approve",
    ChangeRead = "change:read",
    ChangeWrite = "change:write",
    ChangeApprove = "change:approve",
    CmdbRead = "cmdb:read",
    CmdbWrite = "cmdb:write",
    KnowledgeRead = "knowledge:read",
    KnowledgeWrite = "knowledge:write",
    AnalyticsRead = "analytics:read",
    BusAdmin = "bus:admin",
);

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
    let granted: BTreeSet<String> = claims
        .scope
        .split_whitespace()
        .map(str::to_string)
        .collect();
    // A user's token never grants more than its roles do today: a token minted before a role
    // lost a scope, or one that names scopes beside its roles, is cut down to the roles' union.
    let scopes = if claims.client_id.is_some() {
        with_implied(granted)
    } else {
        let allowed = scopes_of(&claims.roles);
        with_implied(granted)
            .intersection(&allowed)
            .cloned()
            .collect()
    };
    let principal = Principal {
        subject: claims.sub,
        home_tenant: claims.tid,
        scopes,
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

    #[test]
    fn requester_cannot_manage_users() {
        assert!(!scopes_of(&[Role::Requester]).contains("user:write"));
        assert!(scopes_of(&[Role::TenantAdmin]).contains("user:write"));
    }

    fn principal(roles: &[Role], is_client: bool) -> Principal {
        Principal {
            subject: Uuid::now_v7(),
            home_tenant: Uuid::now_v7(),
            roles: roles.to_vec(),
            scopes: scopes_of(roles),
            is_client,
            email: None,
            name: None,
            expires_at: 0,
        }
    }

    #[test]
    fn acting_on_a_user_needs_each_of_its_tenant_reaching_roles() {
        use Role::*;
        let cases: &[(&[Role], &[Role], bool)] = &[
            (&[TenantAdmin], &[MspAdmin], false),
            (&[TenantAdmin], &[MspAgent, Requester], false),
            (&[TenantAdmin], &[TenantAdmin, Agent], true),
            (&[MspAdmin], &[MspAdmin], true),
            (&[MspAdmin], &[MspAdmin, MspAgent], false),
            (&[MspAdmin, MspAgent], &[MspAdmin, MspAgent], true),
            (&[MspAdmin], &[PlatformAdmin], false),
            (&[PlatformAdmin], &[MspAdmin, MspAgent], true),
            (&[Requester], &[], true),
        ];
        for (actor, target, expected) in cases {
            assert_eq!(
                may_act_on(&principal(actor, false), target),
                *expected,
                "{actor:?} on {target:?}"
            );
        }
        let client = principal(&[], true);
        assert!(!may_act_on(&client, &[MspAgent]));
        assert!(may_act_on(&client, &[TenantAdmin]));
    }

    #[test]
    fn a_delegate_keeps_only_the_scopes_its_delegator_still_holds() {
        let granted = ["audit:read", "user:read", "user:write"];
        assert_eq!(
            delegated_scopes(granted, &[Role::TenantAdmin]),
            vec!["audit:read", "user:read", "user:write"]
        );
        assert_eq!(delegated_scopes(granted, &[Role::Agent]), vec!["user:read"]);
        assert!(delegated_scopes(granted, &[]).is_empty());
    }
}
