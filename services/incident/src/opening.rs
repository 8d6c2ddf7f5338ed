//! A new incident made ready to write, the same way whoever opens it (a person through the API,
//! or the platform on analytics' capacity forecast): its number, its row, its `created` events
//! and the SLA clocks it starts. The caller then writes it with `store::incidents::create`.
use platform::{ApiError, numbers::Numbers, tenancy::TenantId};
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use crate::{
    domain::incident::NewIncident,
    events,
    sla::Tracking,
    store::{
        incidents::{self, Incident},
        sla::Started,
    },
};

/// What a create writes: the row (with its queue key), its events, its clocks.
pub struct Opening {
    pub incident: Incident,
    pub events: bus::outbox::Batch,
    pub clocks: Started,
}

/// The tenant's next incident number. Taken in a short transaction of its own: a number is
/// unique, not gapless, so one taken for a create that then fails is simply not used.
pub async fn next_number(
    db: &DatabaseConnection,
    numbers: &Numbers,
    tenant: TenantId,
) -> Result<String, DbErr> {
    numbers
        .next(db, incidents::COUNTERS, incidents::PREFIX, tenant)
        .await
}

/// `new` as incident `number` of `tenant`, opened by `created_by`, with the clocks `sla`
/// starts for it now.
pub fn prepare(
    tenant: TenantId,
    number: String,
    created_by: Uuid,
    new: NewIncident,
    sla: &Tracking<'_>,
) -> Result<Opening, ApiError> {
    let matrix_priority = new.matrix_priority().get();
    let mut incident = incidents::draft(tenant, number, created_by, new);
    let events = events::incident_created(&incident, matrix_priority)?;
    // The clocks start first, so the row is written once, with its queue key.
    let clocks = sla.start(&incident, crate::sla::now())?;
    incident.sla_due_at = clocks.due;
    Ok(Opening {
        incident,
        events,
        clocks,
    })
}
