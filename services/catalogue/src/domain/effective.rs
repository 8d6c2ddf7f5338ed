//! The effective catalogue: what a tenant's people may order, from its own items and those of
//! the providers above it, after the overrides of every tenant in between.
//!
//! An item of tenant P reaches every tenant below P. Each tenant on the way down (below P, down
//! to the acting tenant) may override it: hide it, rename it, replace its approval policy and,
//! for a provider's staff, its price. The override nearest the acting tenant wins, field by
//! field. No I/O: the caller gathers the item, the overrides on the path, the service's stage
//! and the caller's groups.
use std::collections::HashSet;

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::item::{ApprovalPolicy, Availability};

/// One tenant's override of an item it inherits. `None` keeps what is inherited.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub tenant_id: Uuid,
    pub hidden: Option<bool>,
    pub name: Option<String>,
    pub approval_policy: Option<ApprovalPolicy>,
    pub price_amount: Option<String>,
}

/// The fields of an item that overrides can change, as its own tenant set them.
#[derive(Debug, Clone, PartialEq)]
pub struct Inherited {
    pub tenant_id: Uuid,
    pub name: String,
    pub approval_policy: Option<ApprovalPolicy>,
    pub price_amount: Option<String>,
    pub availability: Availability,
}

/// Why an item the acting tenant inherits is not orderable by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = HiddenReason)]
pub enum Hidden {
    HiddenByTenant,
    NotAvailableToTenant,
    NotAvailableToGroup,
    ServiceNotLive,
}

/// Where a field's effective value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ExplainRule)]
pub enum Rule {
    /// The acting tenant's own item.
    Own,
    /// A provider's item, as the provider set it.
    Inherited,
    /// A tenant on the path overrode it.
    Override,
}

/// One line of the explanation: a field, its value and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Explained {
    pub field: &'static str,
    /// The effective value as JSON text (`"\"1150.00\""`, `"true"`, `"null"`, a policy).
    pub value: String,
    pub from_tenant_id: Uuid,
    pub rule: Rule,
}

/// An item as the acting tenant sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub name: String,
    pub approval_policy: Option<ApprovalPolicy>,
    pub price_amount: Option<String>,
    pub hidden: Option<Hidden>,
    pub explain: Vec<Explained>,
}

/// What the caller is: the acting tenant, the tenants from below the item's tenant down to it
/// (root first), and the groups the caller belongs to.
pub struct Viewer<'a> {
    pub acting: Uuid,
    pub path: &'a [Uuid],
    pub groups: &'a HashSet<Uuid>,
}

/// The item `base` as `viewer` sees it, given the overrides of the tenants on its path (any
/// order) and whether the item's service is live.
pub fn resolve(
    base: &Inherited,
    overrides: &[Override],
    service_live: bool,
    viewer: &Viewer<'_>,
) -> Effective {
    // Nearest the acting tenant last, so it wins.
    let on_path: Vec<&Override> = viewer
        .path
        .iter()
        .filter_map(|t| overrides.iter().find(|o| o.tenant_id == *t))
        .collect();
    let own_rule = if base.tenant_id == viewer.acting {
        Rule::Own
    } else {
        Rule::Inherited
    };
    let mut explain = Vec::new();
    let mut pick = |field, own, nearest: Option<(Uuid, Value)>| {
        let (value, from_tenant_id, rule) = match nearest {
            Some((tenant, v)) => (v, tenant, Rule::Override),
            None => (own, base.tenant_id, own_rule),
        };
        explain.push(Explained {
            field,
            value: value.to_string(),
            from_tenant_id,
            rule,
        });
    };
    fn nearest<T: Clone>(
        on_path: &[&Override],
        f: impl Fn(&Override) -> Option<T>,
    ) -> Option<(Uuid, T)> {
        on_path
            .iter()
            .rev()
            .find_map(|o| f(o).map(|v| (o.tenant_id, v)))
    }
    let name = nearest(&on_path, |o| o.name.clone());
    let price = nearest(&on_path, |o| o.price_amount.clone());
    let policy = nearest(&on_path, |o| o.approval_policy.clone());
    let hidden_by = nearest(&on_path, |o| o.hidden);
    pick(
        "name",
        json!(base.name),
        name.as_ref().map(|(t, v)| (*t, json!(v))),
    );
    pick(
        "price_amount",
        json!(base.price_amount),
        price.as_ref().map(|(t, v)| (*t, json!(v))),
    );
    pick(
        "approval_policy",
        json!(base.approval_policy),
        policy.as_ref().map(|(t, v)| (*t, json!(v))),
    );
    pick(
        "hidden",
        json!(false),
        hidden_by.map(|(t, v)| (t, json!(v))),
    );

    let tenants = &base.availability.tenant_ids;
    let groups = &base.availability.group_ids;
    let hidden = if hidden_by.is_some_and(|(_, h)| h) {
        Some(Hidden::HiddenByTenant)
    } else if !tenants.is_empty()
        && !tenants.contains(&viewer.acting)
        && !viewer.path.iter().any(|t| tenants.contains(t))
    {
        Some(Hidden::NotAvailableToTenant)
    } else if !groups.is_empty() && !groups.iter().any(|g| viewer.groups.contains(g)) {
        Some(Hidden::NotAvailableToGroup)
    } else if !service_live {
        Some(Hidden::ServiceNotLive)
    } else {
        None
    };
    Effective {
        name: name.map_or_else(|| base.name.clone(), |(_, n)| n),
        approval_policy: policy.map_or_else(|| base.approval_policy.clone(), |(_, p)| Some(p)),
        price_amount: price.map_or_else(|| base.price_amount.clone(), |(_, p)| Some(p)),
        hidden,
        explain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSP: Uuid = Uuid::from_u128(1);
    const GLOBEX: Uuid = Uuid::from_u128(2);
    const TEAM: Uuid = Uuid::from_u128(3);

    fn laptop() -> Inherited {
        Inherited {
            tenant_id: MSP,
            name: "New laptop".into(),
            approval_policy: None,
            price_amount: Some("1200.00".into()),
            availability: Availability::default(),
        }
    }

    fn no_override(tenant: Uuid) -> Override {
        Override {
            tenant_id: tenant,
            hidden: None,
            name: None,
            approval_policy: None,
            price_amount: None,
        }
    }

    fn field<'a>(e: &'a Effective, name: &str) -> &'a Explained {
        e.explain
            .iter()
            .find(|x| x.field == name)
            .unwrap_or_else(|| panic!("{name} is explained"))
    }

    #[test]
    fn the_override_nearest_the_tenant_wins_field_by_field() {
        let groups = HashSet::new();
        let path = [GLOBEX, TEAM];
        let viewer = Viewer {
            acting: TEAM,
            path: &path,
            groups: &groups,
        };
        let overrides = [
            Override {
                price_amount: Some("1150.00".into()),
                name: Some("Laptop".into()),
                ..no_override(GLOBEX)
            },
            Override {
                name: Some("Team laptop".into()),
                ..no_override(TEAM)
            },
        ];
        let e = resolve(&laptop(), &overrides, true, &viewer);
        assert_eq!(e.name, "Team laptop");
        assert_eq!(e.price_amount.as_deref(), Some("1150.00"));
        assert_eq!(e.hidden, None);
        assert_eq!(field(&e, "name").from_tenant_id, TEAM);
        assert_eq!(field(&e, "price_amount").from_tenant_id, GLOBEX);
        assert_eq!(field(&e, "price_amount").rule, Rule::Override);
        assert_eq!(field(&e, "approval_policy").rule, Rule::Inherited);
        assert_eq!(field(&e, "approval_policy").from_tenant_id, MSP);
    }

    #[test]
    fn each_reason_an_item_is_not_orderable_is_named() {
        let mine: HashSet<Uuid> = [Uuid::from_u128(9)].into();
        let path = [GLOBEX];
        let viewer = Viewer {
            acting: GLOBEX,
            path: &path,
            groups: &mine,
        };
        let hide = [Override {
            hidden: Some(true),
            ..no_override(GLOBEX)
        }];
        let e = resolve(&laptop(), &hide, true, &viewer);
        assert_eq!(e.hidden, Some(Hidden::HiddenByTenant));

        let mut elsewhere = laptop();
        elsewhere.availability.tenant_ids = vec![Uuid::from_u128(7)];
        let e = resolve(&elsewhere, &[], true, &viewer);
        assert_eq!(e.hidden, Some(Hidden::NotAvailableToTenant));

        let mut for_a_group = laptop();
        for_a_group.availability.group_ids = vec![Uuid::from_u128(8)];
        let e = resolve(&for_a_group, &[], true, &viewer);
        assert_eq!(e.hidden, Some(Hidden::NotAvailableToGroup));
        for_a_group.availability.group_ids = vec![Uuid::from_u128(9)];
        assert_eq!(resolve(&for_a_group, &[], true, &viewer).hidden, None);

        let e = resolve(&laptop(), &[], false, &viewer);
        assert_eq!(e.hidden, Some(Hidden::ServiceNotLive));
    }

    #[test]
    fn an_own_item_explains_itself_as_own() {
        let groups = HashSet::new();
        let viewer = Viewer {
            acting: MSP,
            path: &[],
            groups: &groups,
        };
        let e = resolve(&laptop(), &[], true, &viewer);
        assert!(e.explain.iter().all(|x| x.rule == Rule::Own));
        assert_eq!(e.explain.len(), 4);
    }
}
