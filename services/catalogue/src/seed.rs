//! The catalogue's part of the demo data set (`../shared/DEMO.md`): each demo customer's
//! portfolio. Seeding twice changes nothing.
use host::DemoCustomer;
use platform::{
    ApiError,
    tenancy::{TenantId, begin_scoped},
};

use crate::{
    CatalogueService,
    domain::portfolio::{NewService, Stage},
    events,
    store::services as store,
};

/// A demo service: its name, what it is, and the stage it has reached.
const SERVICES: [(&str, &str, Stage); 2] = [
    ("Payroll", "Monthly payroll runs and payslips.", Stage::Live),
    (
        "Data Lake",
        "Analytics storage for finance and sales data.",
        Stage::Design,
    ),
];

/// Seeds each customer's portfolio, walking each service through the stages up to its own
/// (so its history reads like a real one); the services created.
pub async fn seed_demo(
    service: &CatalogueService,
    customers: &[DemoCustomer],
) -> Result<usize, ApiError> {
    let mut created = 0;
    for customer in customers {
        let tenant = TenantId(customer.id);
        let txn = begin_scoped(&service.db, &[tenant]).await?;
        for (name, description, reached) in SERVICES {
            if store::name_taken(&txn, tenant, name, None).await? {
                continue;
            }
            let new = NewService {
                name: name.into(),
                description: description.into(),
                owner_id: Some(customer.service_owner),
                manager_id: Some(customer.service_owner),
                support_group_id: Some(customer.desk),
            };
            let mut s = store::insert(&txn, tenant, new).await?;
            events::service_created(&txn, &s).await?;
            for to in Stage::ORDER
                .into_iter()
                .skip(1)
                .take_while(|st| *st <= reached)
            {
                let rationale = format!("Demo data: {name} reached {}.", to.as_str());
                let (moved, change) =
                    store::move_stage(&txn, s, to, rationale, customer.service_owner).await?;
                events::stage_changed(&txn, &moved, &change).await?;
                s = moved;
            }
            created += 1;
        }
        txn.commit().await?;
    }
    Ok(created)
}
