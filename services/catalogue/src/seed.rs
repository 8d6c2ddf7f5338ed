//! The catalogue's part of the demo data set (`../shared/DEMO.md`): each demo customer's
//! portfolio, the provider's services and catalogue items, the customers' overrides of them,
//! and three requests per customer. Seeding twice changes nothing.
use host::DemoCustomer;
use platform::{
    ApiError,
    auth::{Principal, Role},
    tenancy::{TenantId, begin_scoped},
};
use sea_orm::DatabaseTransaction;
use serde_json::json;
use uuid::Uuid;

use crate::{
    CatalogueService,
    domain::request::RitmState,
    domain::{
        effective::Override,
        form::Form,
        item::{
            ApprovalPolicy, Approver, Availability, FulfilmentPlan, ItemState, NewItem,
            PlannedStage, PlannedTask, Rule, Step,
        },
        portfolio::{NewService, Stage},
    },
    events,
    ordering::{self, Orderer, RequestIn, RequestLineIn},
    store::{items, overrides, requests, services as store},
    workflow,
};

/// A demo service: its name, what it is, and the stage it has reached.
type DemoService = (&'static str, &'static str, Stage);

/// Each customer's own services.
const CUSTOMER_SERVICES: [DemoService; 2] = [
    ("Payroll", "Monthly payroll runs and payslips.", Stage::Live),
    (
        "Data Lake",
        "Analytics storage for finance and sales data.",
        Stage::Design,
    ),
];

/// The provider's services, offered to every customer. (DEMO.md names Email and VPN; the
/// laptop needs a workplace service to be ordered under.)
const PROVIDER_SERVICES: [DemoService; 3] = [
    (
        "Email",
        "Mailboxes, shared mailboxes and calendars.",
        Stage::Live,
    ),
    (
        "VPN",
        "Remote access to the corporate network.",
        Stage::Live,
    ),
    (
        "Workplace",
        "Laptops, monitors and accessories.",
        Stage::Live,
    ),
];

/// What was seeded.
#[derive(Debug, Default)]
pub struct Seeded {
    pub services: usize,
    pub items: usize,
    pub overrides: usize,
    pub requests: usize,
}

/// Seeds each provider's services and items once, then each customer's portfolio and
/// overrides.
pub async fn seed_demo(
    service: &CatalogueService,
    customers: &[DemoCustomer],
) -> Result<Seeded, ApiError> {
    let mut seeded = Seeded::default();
    for of_provider in customers.chunk_by(|a, b| a.provider() == b.provider()) {
        seed_provider(service, of_provider, &mut seeded).await?;
    }
    for customer in customers {
        seeded.requests += seed_requests(service, customer).await?;
    }
    Ok(seeded)
}

/// The requester's three laptop requests, placed as the API places them: a standard laptop
/// (auto-approved, its "Prepare" tasks open), a performance laptop waiting for the line
/// manager (`approver@`), and a standard laptop the desk put on `awaiting_requester`. Needs
/// identity's people in the projection (the demo settles the bus before this part). Returns
/// how many requests it placed: none for a customer that has requests already.
async fn seed_requests(
    service: &CatalogueService,
    customer: &DemoCustomer,
) -> Result<usize, ApiError> {
    let tenant = TenantId(customer.id);
    let lineage = TenantId::many(&customer.path);
    let txn = begin_scoped(&service.db, &lineage).await?;
    let placed = !requests::list(&txn, tenant, None, None, 1)
        .await?
        .is_empty();
    let laptop = items::find_by_key(&txn, customer.provider(), "new-laptop").await?;
    txn.commit().await?;
    let Some(laptop) = laptop.filter(|_| !placed) else {
        return Ok(0);
    };
    let requester = Principal {
        subject: customer.requester,
        home_tenant: tenant,
        roles: vec![Role::Requester],
        scopes: Default::default(),
        is_client: false,
        email: None,
        name: None,
        expires_at: 0,
    };
    let orderer = Orderer {
        tenant,
        lineage: &lineage,
        principal: &requester,
    };
    let standard = json!({"model": "standard-14", "cost_center": "CC-1234"});
    let performance = json!({"model": "performance-16", "cost_center": "CC-1234",
                             "justification": "Video editing for the marketing team"});
    for (variables, waits_for_requester) in [
        (standard.clone(), false),
        (performance, false),
        (standard, true),
    ] {
        let number = service
            .numbers
            .next(&service.db, "request_numbers", "REQ", tenant)
            .await?;
        let item_number = service
            .numbers
            .next(&service.db, "request_item_numbers", "RITM", tenant)
            .await?;
        let body = RequestIn {
            items: vec![RequestLineIn {
                item_id: laptop.id,
                quantity: 1,
                variables,
            }],
            suggestion_session_id: None,
        };
        let txn = begin_scoped(&service.db, &lineage).await?;
        let (_, made) = ordering::place(
            &txn,
            &service.forms,
            &orderer,
            body,
            number,
            vec![item_number],
        )
        .await?;
        if waits_for_requester {
            for item in made {
                workflow::move_by_hand(&txn, item, RitmState::AwaitingRequester).await?;
            }
        }
        txn.commit().await?;
    }
    Ok(3)
}

/// One provider's part: `customers` all have the same provider.
async fn seed_provider(
    service: &CatalogueService,
    customers: &[DemoCustomer],
    seeded: &mut Seeded,
) -> Result<(), ApiError> {
    let Some(first) = customers.first() else {
        return Ok(());
    };
    let provider = first.provider();
    let txn = begin_scoped(&service.db, &[provider]).await?;
    let mut ids = std::collections::HashMap::new();
    for s in PROVIDER_SERVICES {
        let (id, new) =
            ensure_service(&txn, provider, s, first.provider_admin, first.provider_desk).await?;
        seeded.services += usize::from(new);
        ids.insert(s.0, id);
    }
    let laptop = ensure_item(
        &txn,
        provider,
        laptop(ids["Workplace"], first.provider_desk)?,
    )
    .await?;
    let mailbox = ensure_item(&txn, provider, mailbox(ids["Email"], first.provider_desk)?).await?;
    seeded.items += usize::from(laptop.1) + usize::from(mailbox.1);
    txn.commit().await?;

    for customer in customers {
        let tenant = TenantId(customer.id);
        let txn = begin_scoped(&service.db, &[tenant]).await?;
        for s in CUSTOMER_SERVICES {
            let (_, new) =
                ensure_service(&txn, tenant, s, customer.service_owner, customer.desk).await?;
            seeded.services += usize::from(new);
        }
        // globex pays less for the laptop; initech does not offer shared mailboxes.
        let wanted = match customer.slug.as_str() {
            "globex" => Some((
                laptop.0,
                Override {
                    price_amount: Some("1150.00".into()),
                    ..nothing(tenant)
                },
            )),
            "initech" => Some((
                mailbox.0,
                Override {
                    hidden: Some(true),
                    ..nothing(tenant)
                },
            )),
            _ => None,
        };
        if let Some((item, o)) = wanted
            && overrides::find(&txn, tenant, item).await?.is_none()
        {
            overrides::put(&txn, tenant, item, o).await?;
            seeded.overrides += 1;
        }
        txn.commit().await?;
    }
    Ok(())
}

fn nothing(tenant: TenantId) -> Override {
    Override {
        tenant_id: tenant.as_uuid(),
        hidden: None,
        name: None,
        approval_policy: None,
        price_amount: None,
    }
}

/// The service called `name` in `tenant`, created and walked through the stages up to its own
/// (so its history reads like a real one) if missing: its id and whether it is new.
async fn ensure_service(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    (name, description, reached): DemoService,
    owner: Uuid,
    desk: Uuid,
) -> Result<(Uuid, bool), ApiError> {
    if let Some(existing) = store::find_by_name(txn, tenant, name).await? {
        return Ok((existing.id, false));
    }
    let new = NewService {
        name: name.into(),
        description: description.into(),
        owner_id: Some(owner),
        manager_id: Some(owner),
        support_group_id: Some(desk),
    };
    let mut s = store::insert(txn, tenant, new).await?;
    events::service_created(txn, &s).await?;
    for to in Stage::ORDER
        .into_iter()
        .skip(1)
        .take_while(|st| *st <= reached)
    {
        let rationale = format!("Demo data: {name} reached {}.", to.as_str());
        let (moved, change) = store::move_stage(txn, s, to, rationale, owner).await?;
        events::stage_changed(txn, &moved, &change).await?;
        s = moved;
    }
    Ok((s.id, true))
}

/// The item keyed like `new` in `tenant`, created and published if missing: its id and whether
/// it is new.
async fn ensure_item(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    new: NewItem,
) -> Result<(Uuid, bool), ApiError> {
    if let Some(existing) = items::find_by_key(txn, tenant, &new.key).await? {
        return Ok((existing.id, false));
    }
    let item = items::insert(txn, tenant, new).await?;
    let item = items::set_state(txn, item, ItemState::Published).await?;
    events::item_state_changed(txn, &item).await?;
    Ok((item.id, true))
}

fn form(schema: serde_json::Value) -> Result<Form, ApiError> {
    Form::parse("/form_schema", schema)
        .map_err(|e| ApiError::internal(format!("a demo form is invalid: {e:?}")))
}

/// `new-laptop`: a standard model is auto-approved, a performance one needs a justification
/// and the line manager; "Prepare" (two tasks at once), then "Deliver".
fn laptop(service: Uuid, desk: Uuid) -> Result<NewItem, ApiError> {
    let task = |name: &str| PlannedTask {
        name: name.into(),
        group_id: desk,
    };
    Ok(NewItem {
        key: "new-laptop".into(),
        name: "New laptop".into(),
        description: "A standard or performance laptop, imaged and delivered to your desk.".into(),
        service_id: service,
        offering_id: None,
        category_id: None,
        form: form(json!({
            "type": "object",
            "properties": {
                "model": {"type": "string", "enum": ["standard-14", "performance-16"], "title": "Model"},
                "justification": {"type": "string", "minLength": 1, "title": "Why a performance model?"},
                "cost_center": {"type": "string", "pattern": "^CC-[0-9]{4}$", "title": "Cost center"}
            },
            "required": ["model", "cost_center"],
            "if": {"properties": {"model": {"const": "performance-16"}}},
            "then": {"required": ["justification"]}
        }))?,
        price_amount: Some("1200.00".into()),
        currency: Some("EUR".into()),
        cost_amount: Some("950.00".into()),
        max_quantity: 5,
        availability: Availability::default(),
        approval_policy: Some(ApprovalPolicy {
            steps: vec![Step {
                name: "Line manager".into(),
                approvers: vec![Approver::Manager],
                rule: Rule::Any,
            }],
            auto_approve_when: Some(json!({
                "properties": {"model": {"const": "standard-14"}},
                "required": ["model"]
            })),
            remind_after_hours: 24,
            expire_after_hours: 120,
        }),
        fulfilment_plan: FulfilmentPlan {
            stages: vec![
                PlannedStage {
                    name: "Prepare".into(),
                    tasks: vec![task("Image the laptop"), task("Pack the accessories")],
                },
                PlannedStage {
                    name: "Deliver".into(),
                    tasks: vec![task("Hand over to the requester")],
                },
            ],
        },
    })
}

/// `shared-mailbox`: a mailbox name and its owner.
fn mailbox(service: Uuid, desk: Uuid) -> Result<NewItem, ApiError> {
    Ok(NewItem {
        key: "shared-mailbox".into(),
        name: "Shared mailbox".into(),
        description: "A mailbox a team shares, with its owner.".into(),
        service_id: service,
        offering_id: None,
        category_id: None,
        form: form(json!({
            "type": "object",
            "properties": {
                "address": {"type": "string", "pattern": "^[a-z0-9.-]{1,64}$", "title": "Address (before the @)"},
                "owner": {"type": "string", "x-itsm-ref": "user", "title": "Owner"}
            },
            "required": ["address", "owner"]
        }))?,
        price_amount: Some("15.00".into()),
        currency: Some("EUR".into()),
        cost_amount: Some("4.20".into()),
        max_quantity: 1,
        availability: Availability::default(),
        approval_policy: None,
        fulfilment_plan: FulfilmentPlan {
            stages: vec![PlannedStage {
                name: "Create".into(),
                tasks: vec![PlannedTask {
                    name: "Create the mailbox".into(),
                    group_id: desk,
                }],
            }],
        },
    })
}
