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
    let mut batch = Batch::default();
    let id = batch.push(tenant, subject, version, payload)?;
    batch.append(txn).await?;
    Ok(id)
}

/// Events to append with one statement (for producers that emit many at once).
#[derive(Default)]
pub struct Batch(Vec<outbox::ActiveModel>);

impl Batch {
    /// Adds `payload` about aggregate `subject` (of `tenant`, at `version`); returns its id.
    pub fn push<E: Event>(
        &mut self,
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
        self.0.push(outbox::ActiveModel {
            id: Set(env.id),
            tenant_id: Set(tenant),
            routing_key: Set(E::routing_key()),
            envelope: Set(body),
            created_at: Set(env.time),
            sent_at: Set(None),
        });
        Ok(env.id)
    }

    /// Appends every event in the caller's transaction.
    pub async fn append(self, txn: &DatabaseTransaction) -> Result<(), BusError> {
        if self.0.is_empty() {
            return Ok(());
        }
        outbox::Entity::insert_many(self.0)
            .exec_without_returning(txn)
            .await?;
        Ok(())
    }
}

/// An aggregate version from a timestamp: microseconds since the epoch (monotonic per aggregate,
/// since changes to one aggregate are serialised by its row).
pub fn version_of(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_micros()
}
