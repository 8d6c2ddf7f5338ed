//! Roles and the scopes each grants: what a principal may do follows from its roles, and a
//! delegate (an API client) holds no more than its delegator's roles still grant.
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::scopes::ALL_SCOPES;

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
    CapacityManager,
}

impl Role {
    pub const ALL: [Role; 12] = [
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
        Role::CapacityManager,
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
            Role::CapacityManager => "capacity_manager",
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
                "portfolio:write",
                "catalogue:read",
                "catalogue:write",
                "request:read",
                "request:write",
                "request:submit",
                "request:fulfil",
                "request:approve",
                "approval:decide",
                "change:read",
                "change:write",
                "change:approve",
                "change:manage",
                "cmdb:read",
                "cmdb:write",
                "cmdb:import",
                "cmdb:admin",
                "knowledge:read",
                "knowledge:write",
                "knowledge:publish",
                "analytics:read",
                "improvement:read",
                "analytics:export",
                "improvement:write",
                "capacity:read",
                "capacity:write",
                "capacity:ingest",
            ],
            Role::MspAgent | Role::Agent => vec![
                "tenant:read",
                "user:read",
                "group:read",
                "incident:read",
                "incident:write",
                "problem:read",
                "problem:write",
                "catalogue:read",
                "request:read",
                "request:write",
                "request:submit",
                "request:fulfil",
                "change:read",
                "change:write",
                "cmdb:read",
                "knowledge:read",
                "knowledge:write",
                "analytics:read",
                "improvement:read",
            ],
            Role::ServiceOwner => vec![
                "tenant:read",
                "user:read",
                "group:read",
                "incident:read",
                "problem:read",
                "portfolio:write",
                "catalogue:read",
                "catalogue:write",
                "request:read",
                "request:submit",
                "change:read",
                "cmdb:read",
                "knowledge:read",
                "knowledge:write",
                "knowledge:publish",
                "analytics:read",
                "improvement:read",
                "analytics:export",
                "improvement:write",
            ],
            Role::ConfigurationManager => vec![
                "tenant:read",
                "user:read",
                "group:read",
                "incident:read",
                "change:read",
                "cmdb:read",
                "cmdb:write",
                "cmdb:import",
                "cmdb:admin",
                "catalogue:read",
                "analytics:read",
                "improvement:read",
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
                "change:manage",
                "approval:decide",
                "cmdb:read",
                "catalogue:read",
                "analytics:read",
                "improvement:read",
            ],
            Role::Approver => vec![
                "tenant:read",
                "user:read",
                "change:read",
                "change:approve",
                "request:read",
                "request:approve",
                "approval:decide",
                "catalogue:read",
                "analytics:read",
                "improvement:read",
            ],
            // Requesters reach the incidents they raised, never the tenant's queue.
            Role::Requester => vec![
                "tenant:read",
                "incident:read_own",
                "incident:write_own",
                "request:read",
                "request:write",
                "request:submit",
                "catalogue:read",
                "knowledge:read",
            ],
            Role::Analyst => vec![
                "tenant:read",
                "user:read",
                "group:read",
                "incident:read",
                "problem:read",
                "catalogue:read",
                "request:read",
                "change:read",
                "cmdb:read",
                "knowledge:read",
                "analytics:read",
                "improvement:read",
                "analytics:export",
                "improvement:write",
            ],
            // Capacity management: thresholds, the samples that feed them, their forecasts.
            Role::CapacityManager => vec![
                "tenant:read",
                "user:read",
                "group:read",
                "incident:read",
                "problem:read",
                "change:read",
                "cmdb:read",
                "catalogue:read",
                "analytics:read",
                "improvement:read",
                "capacity:read",
                "capacity:write",
                "capacity:ingest",
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
