//! Analytics' part of the demo data set (DEMO.md): per customer a capacity threshold,
//! `disk_used_percent` above 90 on `db-01`, opening an improvement, and no samples. Seeding
//! twice changes nothing.
use host::demo::DemoCustomer;
use platform::{
    ApiError,
    tenancy::{TenantId, begin_scoped},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::{
    AnalyticsService,
    domain::capacity::{Action, Direction, TargetType},
    routes::capacity::thresholds::{DEFAULT_HORIZON_DAYS, DEFAULT_LOOKBACK_DAYS, announce},
    store::capacity::{self, NewThreshold},
};

/// Seeds each customer's threshold; returns how many were new.
pub async fn seed_demo(
    service: &AnalyticsService,
    customers: &[DemoCustomer],
) -> Result<usize, ApiError> {
    use bus::entities::cmdb_ci;
    let mut made = 0;
    for customer in customers {
        let tenant = TenantId(customer.id);
        let txn = begin_scoped(&service.db, &[tenant]).await?;
        let db01 = cmdb_ci::Entity::find()
            .filter(cmdb_ci::Column::TenantId.eq(customer.id))
            .filter(cmdb_ci::Column::Name.eq("db-01"))
            .one(&txn)
            .await?;
        let Some(db01) = db01 else {
            continue;
        };
        let new = NewThreshold {
            target_type: TargetType::Ci,
            target_id: db01.ci_id,
            metric: "disk_used_percent".into(),
            limit: 90.0,
            direction: Direction::Above,
            lookback_days: DEFAULT_LOOKBACK_DAYS,
            horizon_days: DEFAULT_HORIZON_DAYS,
            action: Action::Improvement,
        };
        if !capacity::exists(&txn, tenant, &new, None).await? {
            let row = capacity::insert(&txn, tenant, new, platform::record::now()).await?;
            announce(&txn, &row, "created", None).await?;
            made += 1;
        }
        txn.commit().await?;
    }
    Ok(made)
}
