//! Which incidents were opened for which capacity threshold (`capacity_incidents`), so that a
//! threshold has at most one open incident however often analytics forecasts its breach.
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, QuerySelect, QueryTrait, Statement,
};
use uuid::Uuid;

use super::{
    Named,
    entities::{capacity_incident, incident},
    incidents::Incident,
};
use crate::domain::lifecycle::State;

/// Holds `tenant`'s `threshold` until the transaction ends, so two forecasts handled at once
/// open one incident between them: the second waits, then finds the first one's incident.
/// (SQLite runs one writing transaction at a time: nothing to take there.)
pub async fn lock_threshold(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    threshold: Uuid,
) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [format!("incident/capacity/{tenant}/{threshold}").into()],
        ))
        .await?;
    }
    Ok(())
}

/// The open incident (new, in progress or on hold) opened for `tenant`'s `threshold`, if any.
pub async fn open_incident(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    threshold: Uuid,
) -> Result<Option<Incident>, DbErr> {
    let opened_for_threshold = capacity_incident::Entity::find()
        .select_only()
        .column(capacity_incident::Column::IncidentId)
        .filter(capacity_incident::Column::TenantId.eq(tenant.as_uuid()))
        .filter(capacity_incident::Column::ThresholdId.eq(threshold))
        .into_query();
    let row = incident::Entity::find()
        .filter(incident::Column::TenantId.eq(tenant.as_uuid()))
        .filter(incident::Column::Id.in_subquery(opened_for_threshold))
        .filter(incident::Column::State.is_in(State::ALL.into_iter().filter(|s| s.is_open())))
        .into_model::<Named<incident::Entity>>()
        .one(txn)
        .await?;
    Ok(row.map(|Named(inc)| inc))
}

/// Records that `incident` was opened for `tenant`'s `threshold`.
pub async fn link(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    threshold: Uuid,
    incident: Uuid,
) -> Result<(), DbErr> {
    capacity_incident::Entity::insert(capacity_incident::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        threshold_id: Set(threshold),
        incident_id: Set(incident),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}
