//! A user as an invitation describes one, and the rules for the roles a user holds: which
//! names are roles, and which roles a caller may grant in which tenant.
use platform::{
    FieldError,
    auth::Role,
    tenancy::TenantKind,
    validate::{Email, Validator},
};

use crate::domain::tenant::role_allowed;

/// A user to invite into a tenant: every value already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub email: Email,
    /// Trimmed, 1–200 characters.
    pub display_name: String,
    pub roles: RoleSet,
}

/// Roles that exist, each once, in order: what a request's role names parse into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleSet(Vec<Role>);

impl RoleSet {
    /// Parses the role names of a request's `/roles`. A name that is no role is recorded in `v`
    /// as `unknown_role` at `/roles/<index>`; the rest are kept, each once, sorted.
    pub fn parse(names: &[String], v: &mut Validator) -> Self {
        let mut roles = Vec::new();
        for (i, name) in names.iter().enumerate() {
            match Role::parse(name) {
                None => v.push(FieldError::new(
                    format!("/roles/{i}"),
                    "unknown_role",
                    format!("no role named {name:?}"),
                )),
                Some(r) if !roles.contains(&r) => roles.push(r),
                Some(_) => {}
            }
        }
        roles.sort();
        Self(roles)
    }

    pub fn as_slice(&self) -> &[Role] {
        &self.0
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }
}

/// Why a role may not be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantRefusal {
    /// No user of a tenant of this kind may hold the role (`role_not_allowed`).
    NotAllowedInTenant,
    /// The role reaches other tenants and the granter neither holds it nor is a platform
    /// admin (`role_not_grantable`).
    NotHeldByGranter,
}

/// Whether a caller holding `granter_roles`, acting in a tenant of `kind`, may grant `role` to a
/// user of that tenant: roles reaching other tenants only by someone who holds them (or a
/// platform admin).
pub fn may_grant(role: Role, kind: TenantKind, granter_roles: &[Role]) -> Result<(), GrantRefusal> {
    if !role_allowed(kind, role) {
        return Err(GrantRefusal::NotAllowedInTenant);
    }
    let holds = |r: Role| granter_roles.contains(&r);
    if role.reaches_descendants() && !holds(role) && !holds(Role::PlatformAdmin) {
        return Err(GrantRefusal::NotHeldByGranter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn role_names_parse_into_a_sorted_set_and_unknown_ones_are_reported_by_index() {
        let mut v = Validator::new();
        let roles = RoleSet::parse(&names(&["approver", "wizard", "agent", "approver"]), &mut v);
        assert_eq!(roles.as_slice(), &[Role::Agent, Role::Approver]);
        let errors = v.finish_with(None::<()>).err().unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            (errors[0].pointer.as_str(), errors[0].code.as_str()),
            ("/roles/1", "unknown_role")
        );
    }

    #[test]
    fn roles_reaching_other_tenants_need_the_granter_to_hold_them() {
        use GrantRefusal::*;
        let msp = TenantKind::Msp;
        assert_eq!(
            may_grant(Role::MspAgent, msp, &[Role::MspAdmin]),
            Err(NotHeldByGranter)
        );
        assert_eq!(may_grant(Role::MspAgent, msp, &[Role::MspAgent]), Ok(()));
        assert_eq!(
            may_grant(Role::MspAgent, msp, &[Role::PlatformAdmin]),
            Ok(())
        );
        assert_eq!(may_grant(Role::TenantAdmin, msp, &[Role::MspAdmin]), Ok(()));
        let customer = TenantKind::Customer;
        assert_eq!(
            may_grant(Role::MspAdmin, customer, &[Role::MspAdmin]),
            Err(NotAllowedInTenant)
        );
        assert_eq!(
            may_grant(Role::Agent, customer, &[Role::TenantAdmin]),
            Ok(())
        );
    }
}
