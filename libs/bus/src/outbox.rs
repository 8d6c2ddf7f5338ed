//! Appending events in the producer's transaction.
use events::{Envelope, Event};
use sea_orm::{ActiveValue::Set, DatabaseTransaction, EntityTrait};
use uuid::Uuid;

use crate::{BusError, entities::outbox};

/// Records `payload` about aggregate `subject` (of `tenant`, at `version`) in the outbox, in
/// the caller's transaction: it is published if and only if the transaction commits.
pub async fn append<E: Event>(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    subject: Uuid,
    version: i64,
    payload: &E,
) -> Result<Uuid, BusError> {
    let env = Envelope::new(
        tenant,
        subject,
        version,
        payload,
        crate::trace::current_traceparent(),
    )
    .map_err(|e| BusError::Event(e.to_string()))?;
    let body = serde_json::to_string(&env).map_err(|e| BusError::Event(e.to_string()))?;
    outbox::Entity::insert(outbox::ActiveModel {
        id: Set(env.id),
        tenant_id: Set(tenant),
        routing_key: Set(E::routing_key()),
        envelope: Set(body),
        created_at: Set(env.time),
        sent_at: Set(None),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(env.id)
}

/// An aggregate version from a timestamp: microseconds since the epoch (monotonic per aggregate,
/// since changes to one aggregate are serialised by its row).
pub fn version_of(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_micros()
}
