//! The demo CMDB (`../shared/DEMO.md`): per provider a hypervisor `hv-01` shared read-only with
//! its customers, and a rule letting applications depend on servers; per customer `web-01` and
//! `db-01` hosted on it, `payroll-app` running on `web-01` and depending on `db-01`, and the
//! Payroll business service depending on `payroll-app`. Written as the API writes (identities,
//! history, events), once: a second run finds every CI by its identity and adds nothing.
use host::DemoCustomer;
use platform::{
    ApiError,
    tenancy::{TenantId, begin_scoped, scope_to},
};
use sea_orm::DatabaseTransaction;
use serde_json::json;

use crate::{
    CatalogueService,
    domain::{
        cmdb::{ClassTree, changes},
        cmdb_graph::{RelRule, RelType},
        cmdb_reconcile::{IdentityKey, NAME_RULE, normalise},
    },
    events,
    routes::cmdb_relationships::relate,
    store::{
        cmdb::{self as store, Ci, NewCiRow, Provenance},
        cmdb_sharing::{self as sharing, class_root},
        services,
    },
};

fn demo() -> Provenance {
    Provenance {
        actor_id: None,
        source: "demo".into(),
        import_id: None,
        at: platform::record::now(),
    }
}

/// The CI of `tenant` named `name` in `class`'s tree, made if missing; whether it was made.
async fn ensure_ci(
    txn: &DatabaseTransaction,
    tree: &ClassTree,
    tenant: TenantId,
    (class, name): (&str, &str),
    service_id: Option<uuid::Uuid>,
) -> Result<(Ci, bool), ApiError> {
    let class = tree
        .get(class)
        .ok_or_else(|| ApiError::internal(format!("built-in class {class} missing")))?;
    let key = IdentityKey {
        rule: NAME_RULE.into(),
        value: normalise(&json!(name)).unwrap_or_default(),
    };
    let identity = (class_root(&class.path).to_string(), key);
    let found = sharing::identified(txn, tenant, std::slice::from_ref(&identity)).await?;
    if let Some(id) = found.get(&identity)
        && let Some(ci) = store::find_ci(txn, tenant, *id).await?
    {
        return Ok((ci, false));
    }
    let by = demo();
    let ci = store::insert_ci(
        txn,
        tenant,
        NewCiRow {
            class: class.def.key.clone(),
            class_path: class.path.clone(),
            name: name.into(),
            status: "operational".into(),
            service_id,
            attributes: json!({}),
            attribute_sources: json!({}),
        },
    )
    .await?;
    sharing::reidentify(txn, tree, &ci).await?;
    let fields = crate::domain::cmdb::CiFields {
        name: ci.name.clone(),
        status: ci.status.clone(),
        attributes: Default::default(),
    };
    store::append_history(txn, &ci, &by, changes(None, &fields)).await?;
    events::ci_created(txn, &ci).await?;
    Ok((ci, true))
}

/// Seeds every provider's and customer's part; returns how many CIs it made.
pub async fn seed_demo(
    service: &CatalogueService,
    customers: &[DemoCustomer],
) -> Result<usize, ApiError> {
    let mut made = 0;
    for of_provider in customers.chunk_by(|a, b| a.provider() == b.provider()) {
        let Some(first) = of_provider.first() else {
            continue;
        };
        let provider = first.provider();
        let lineage = TenantId::many(&first.path[..first.path.len() - 1]);
        let txn = begin_scoped(&service.db, &lineage).await?;
        let tree = store::classes(&txn, &lineage).await?;
        let rules = sharing::all_rel_rules(&txn, &lineage).await?;
        scope_to(&txn, &[provider]).await?;
        // DEMO.md's `payroll-app` depends on `db-01`, a (virtual) server: the provider allows
        // it for its customers.
        let depends_on_server = RelRule {
            source_class: "application".into(),
            rel_type: RelType::DependsOn,
            target_class: "server".into(),
            max_targets: None,
            max_sources: None,
        };
        if !rules.contains(&depends_on_server) {
            sharing::insert_rel_rule(&txn, provider, &depends_on_server).await?;
        }
        let (hv, new) = ensure_ci(&txn, &tree, provider, ("hypervisor", "hv-01"), None).await?;
        made += usize::from(new);
        let hv_id = hv.id;
        let customer_ids: Vec<uuid::Uuid> = of_provider.iter().map(|c| c.id).collect();
        let mut wanted = customer_ids.clone();
        wanted.sort();
        if sharing::grantees(&txn, hv.id).await? != wanted {
            let hv = sharing::set_grants(&txn, hv, &wanted).await?;
            events::ci_grant_changed(&txn, &hv, &wanted).await?;
        }
        txn.commit().await?;
        for customer in of_provider {
            made += seed_customer(service, customer, hv_id).await?;
        }
    }
    Ok(made)
}

async fn seed_customer(
    service: &CatalogueService,
    customer: &DemoCustomer,
    hv: uuid::Uuid,
) -> Result<usize, ApiError> {
    let tenant = TenantId(customer.id);
    let lineage = TenantId::many(&customer.path);
    let txn = begin_scoped(&service.db, &lineage).await?;
    let tree = store::classes(&txn, &lineage).await?;
    let rules = sharing::all_rel_rules(&txn, &lineage).await?;
    scope_to(&txn, &[tenant]).await?;
    let payroll = services::find_by_name(&txn, tenant, "Payroll").await?;
    let mut made = 0;
    let mut cis = Vec::new();
    for (class, name, service_id) in [
        ("virtual", "web-01", None),
        ("virtual", "db-01", None),
        ("application", "payroll-app", None),
        ("business_service", "Payroll", payroll.map(|s| s.id)),
    ] {
        let (ci, new) = ensure_ci(&txn, &tree, tenant, (class, name), service_id).await?;
        made += usize::from(new);
        cis.push(ci);
    }
    let [web, db, app, business] = &cis[..] else {
        return Err(ApiError::internal("four demo CIs"));
    };
    let hv = store::find_visible_ci(&txn, &[tenant], hv)
        .await?
        .ok_or_else(|| {
            ApiError::internal("the provider's hv-01 is not shared with its customer")
        })?;
    let by = demo();
    for (source, rel_type, target) in [
        (web, RelType::HostedOn, &hv),
        (db, RelType::HostedOn, &hv),
        (app, RelType::RunsOn, web),
        (app, RelType::DependsOn, db),
        (business, RelType::DependsOn, app),
    ] {
        // One that exists already (a second run) is left as it is.
        relate(&txn, tenant, &rules, (source, rel_type, target), &by).await?;
    }
    txn.commit().await?;
    Ok(made)
}
