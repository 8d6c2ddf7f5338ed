//! Who is calling: the claims an access token carries, the principal made of them, and whom
//! a principal may act on.
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::roles::Role;
use crate::tenancy::TenantId;

/// The JWT `typ` header of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

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

/// A user's id: a uuid that cannot be passed where a tenant's or another record's is meant.
/// Stored and serialized as the plain uuid.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    sea_orm::DeriveValueType,
)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

impl UserId {
    pub fn as_uuid(self) -> Uuid {
        self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Uuid> for UserId {
    fn from(id: Uuid) -> Self {
        UserId(id)
    }
}

impl From<UserId> for Uuid {
    fn from(id: UserId) -> Self {
        id.0
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    pub subject: Uuid,
    pub home_tenant: TenantId,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scopes_of;

    fn principal(roles: &[Role], is_client: bool) -> Principal {
        Principal {
            subject: Uuid::now_v7(),
            home_tenant: TenantId(Uuid::now_v7()),
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
}
