//! The tenant tree: platform operator → MSPs → customers (→ sub-customers).
use platform::{
    auth::Role,
    tenancy::TenantKind,
    validate::{Email, Slug},
};
use uuid::Uuid;

/// A tenant to onboard below the acting one, with its first administrator: every value
/// already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onboarding {
    /// Trimmed, 1–200 characters.
    pub name: String,
    /// Unique across the platform (the store enforces it).
    pub slug: Slug,
    /// The first administrator, who receives the invitation.
    pub admin_email: Email,
    /// Trimmed, 1–200 characters; the email when the request named no one.
    pub admin_display_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }
}

/// The kind of tenant created below a parent of `parent` kind.
pub fn child_kind(parent: TenantKind) -> TenantKind {
    match parent {
        TenantKind::Platform => TenantKind::Msp,
        TenantKind::Msp | TenantKind::Customer => TenantKind::Customer,
    }
}

/// Whether a user of a tenant of `kind` may hold `role`.
pub fn role_allowed(kind: TenantKind, role: Role) -> bool {
    match role {
        Role::PlatformAdmin => kind == TenantKind::Platform,
        Role::MspAdmin | Role::MspAgent => kind == TenantKind::Msp,
        _ => kind != TenantKind::Platform,
    }
}

/// The stored materialised path of a child: the parent's path plus the child's id.
pub fn child_path(parent_path: &str, child: Uuid) -> String {
    format!("{parent_path}/{child}")
}

/// Parses a stored path (ids joined by `/`, root first).
pub fn parse_path(path: &str) -> Vec<Uuid> {
    path.split('/')
        .filter_map(|p| Uuid::parse_str(p).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_tree() {
        assert_eq!(child_kind(TenantKind::Platform), TenantKind::Msp);
        assert_eq!(child_kind(TenantKind::Msp), TenantKind::Customer);
        assert_eq!(child_kind(TenantKind::Customer), TenantKind::Customer);
    }

    #[test]
    fn msp_roles_only_in_msps() {
        assert!(role_allowed(TenantKind::Msp, Role::MspAgent));
        assert!(!role_allowed(TenantKind::Customer, Role::MspAdmin));
        assert!(!role_allowed(TenantKind::Customer, Role::PlatformAdmin));
        assert!(role_allowed(TenantKind::Customer, Role::Requester));
    }

    #[test]
    fn paths_round_trip() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let p = child_path(&a.to_string(), b);
        assert_eq!(parse_path(&p), vec![a, b]);
    }
}
