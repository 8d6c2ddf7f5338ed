//! The request side: the `Auth<S>` extractor verifies the bearer token (through a cache of
//! recently verified tokens), checks scope `S`, the caller's tenant and its rate limit, and
//! resolves the tenant the request acts in (`X-Tenant`).
use std::{
    collections::{BTreeSet, HashMap},
    future::Future,
    marker::PhantomData,
    pin::Pin,
    sync::{Arc, RwLock},
};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

use super::{
    principal::Principal,
    roles::{scopes_of, with_implied},
    scopes::RequiredScope,
    verifier::Verifier,
};
use crate::{
    error::ApiError,
    tenancy::{TenantDirectory, TenantId, TenantInfo},
};

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

    /// A service's token verification as the settings configure it: the issuer and audience,
    /// tokens signed by `keys`, tenants resolved by `directory`, and the request limits.
    pub fn from_settings(
        settings: &crate::settings::Settings,
        keys: Arc<dyn super::KeySource>,
        directory: Arc<dyn TenantDirectory>,
    ) -> Result<Self, String> {
        let verifier = Arc::new(Verifier::new(
            settings.issuer(),
            settings.auth_audience.clone(),
            keys,
        ));
        let limiter = crate::ratelimit::RateLimiter::from_settings(settings)?;
        Ok(Self::new(verifier, directory).with_limiter(limiter))
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
    pub fn tenant_id(&self) -> TenantId {
        self.tenant.id
    }

    /// Tenants a list may span: `?tenant=*` gives the acting tenant's subtree to principals
    /// that reach descendants; otherwise just the acting tenant.
    pub async fn list_scope(&self, tenant_param: Option<&str>) -> Result<Vec<TenantId>, ApiError> {
        match tenant_param {
            None => Ok(vec![self.tenant_id()]),
            Some("*") if self.principal.reaches_descendants() => {
                let subtree = self.directory.subtree(self.tenant.id.as_uuid()).await?;
                Ok(subtree.into_iter().map(TenantId).collect())
            }
            Some("*") => Ok(vec![self.tenant_id()]),
            Some(key) => {
                let target = self
                    .directory
                    .resolve(self.tenant.id.as_uuid(), key)
                    .await?;
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
        home_tenant: TenantId(claims.tid),
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
                .resolve(home.as_uuid(), &home.to_string())
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
                    let target = ctx.directory.resolve(home.as_uuid(), &key).await?;
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
