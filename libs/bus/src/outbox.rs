//! Appending events in the producer's transaction.
use events::{Envelope, Event};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    IntoActiveModel, Statement,
};
use std::sync::{Arc, Mutex, Weak};

use platform::tenancy::TenantId;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{BusError, entities::outbox};

/// This process's relays, woken whenever a producer appends.
static RELAYS: Mutex<Vec<Weak<Notify>>> = Mutex::new(Vec::new());

/// Registers a relay's wake-up (dropped relays fall out of the list by themselves).
pub(crate) fn register_relay(wake: &Arc<Notify>) {
    if let Ok(mut relays) = RELAYS.lock() {
        relays.push(Arc::downgrade(wake));
    }
}

/// Wakes one claim loop of every relay in this process. A hint, sent before the producer
/// commits: the relay waits a moment before claiming, and its poll picks up whatever the hint
/// missed (a slow commit, another process's producers).
fn wake_relays() {
    if let Ok(mut relays) = RELAYS.lock() {
        relays.retain(|w| w.upgrade().inspect(|wake| wake.notify_one()).is_some());
    }
}

/// Records `payload` about aggregate `subject` (of `tenant`, at `version`) in the outbox, in
/// the caller's transaction: it is published if and only if the transaction commits.
pub async fn append<E: Event>(
    txn: &DatabaseTransaction,
    tenant: TenantId,
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
pub struct Batch(Vec<outbox::Model>);

impl Batch {
    /// Adds `payload` about aggregate `subject` (of `tenant`, at `version`); returns its id.
    pub fn push<E: Event>(
        &mut self,
        tenant: TenantId,
        subject: Uuid,
        version: i64,
        payload: &E,
    ) -> Result<Uuid, BusError> {
        let env = Envelope::new(
            tenant.as_uuid(),
            subject,
            version,
            payload,
            crate::trace::current_traceparent(),
        )
        .map_err(|e| BusError::Event(e.to_string()))?;
        let body = serde_json::to_string(&env).map_err(|e| BusError::Event(e.to_string()))?;
        self.0.push(outbox::Model {
            id: env.id,
            tenant_id: tenant.as_uuid(),
            routing_key: E::routing_key(),
            envelope: body,
            created_at: env.time,
            sent_at: None,
        });
        Ok(env.id)
    }

    /// Adds `other`'s events after these.
    pub fn extend(&mut self, other: Batch) {
        self.0.extend(other.0);
    }

    /// Adds every event to `write`, the statement that writes the aggregate they are about: they
    /// are published if and only if it commits.
    pub fn write_in(self, write: &mut platform::scoped_write::ScopedWrite) -> Result<(), BusError> {
        if !self.0.is_empty() {
            wake_relays();
        }
        write.insert::<outbox::Entity>(self.0)?;
        Ok(())
    }

    /// Appends every event in the caller's transaction. On PostgreSQL many rows go as one JSON
    /// parameter (`json_to_recordset`), so the statement stays short however large the batch.
    pub async fn append(self, txn: &DatabaseTransaction) -> Result<(), BusError> {
        if !self.0.is_empty() {
            wake_relays();
        }
        match self.0.len() {
            0 => Ok(()),
            n if n > 1 && txn.get_database_backend() == DbBackend::Postgres => {
                let rows: Vec<serde_json::Value> = self
                    .0
                    .into_iter()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.id, "tenant_id": r.tenant_id, "routing_key": r.routing_key,
                            "envelope": r.envelope, "created_at": r.created_at,
                        })
                    })
                    .collect();
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "INSERT INTO outbox (id, tenant_id, routing_key, envelope, created_at) \
                     SELECT id, tenant_id, routing_key, envelope, created_at \
                     FROM json_to_recordset($1::json) AS v(id uuid, tenant_id uuid, \
                     routing_key text, envelope text, created_at timestamptz)",
                    [serde_json::Value::Array(rows).to_string().into()],
                ))
                .await?;
                Ok(())
            }
            _ => {
                let rows = self
                    .0
                    .into_iter()
                    .map(|r| r.into_active_model().reset_all());
                outbox::Entity::insert_many(rows)
                    .exec_without_returning(txn)
                    .await?;
                Ok(())
            }
        }
    }
}

/// An aggregate version from a timestamp: microseconds since the epoch (monotonic per aggregate,
/// since changes to one aggregate are serialised by its row).
pub fn version_of(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_micros()
}
