//! Reading rows whose stored values this version does not know.
use platform::tenancy::TenantId;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Schema, TransactionTrait,
};
use uuid::Uuid;

use bus::entities::{directory_group, directory_user};

use super::entities::{comment, incident, sla_clock};
use super::incidents::{self, Incident};
use crate::domain::{
    incident::{IncidentId, NewIncident, Visibility},
    lifecycle::State,
    priority::Level,
};

async fn db() -> Result<DatabaseConnection, DbErr> {
    let db = Database::connect("sqlite::memory:").await?;
    let schema = Schema::new(DbBackend::Sqlite);
    for table in [
        schema.create_table_from_entity(incident::Entity),
        schema.create_table_from_entity(comment::Entity),
        schema.create_table_from_entity(directory_user::Entity),
        schema.create_table_from_entity(directory_group::Entity),
        schema.create_table_from_entity(sla_clock::Entity),
    ] {
        db.execute(&table).await?;
    }
    Ok(db)
}

fn new_incident() -> NewIncident {
    let level = Level::new(2).unwrap_or_else(|| unreachable!());
    NewIncident {
        title: "Printer on fire".into(),
        description: String::new(),
        impact: level,
        urgency: level,
        priority_override: None,
        caller_id: None,
        assignment_group_id: None,
        assignee_id: None,
        category: None,
        subcategory: None,
        service_id: None,
        configuration_item_id: None,
        parent_id: None,
        major: false,
        channel: Some(crate::domain::incident::Channel::Phone),
    }
}

async fn stored(db: &DatabaseConnection, tenant: TenantId) -> Result<Incident, DbErr> {
    let txn = db.begin().await?;
    let draft = incidents::draft(tenant, "INC0001001".into(), Uuid::now_v7(), new_incident());
    let inc = incidents::insert(&txn, draft).await?;
    txn.commit().await?;
    Ok(inc)
}

#[tokio::test]
async fn states_are_stored_as_their_names() -> Result<(), DbErr> {
    let db = db().await?;
    let tenant = TenantId(Uuid::now_v7());
    let inc = stored(&db, tenant).await?;
    let txn = db.begin().await?;
    incidents::add_comment(&txn, &inc, Uuid::now_v7(), Visibility::Internal, "x".into()).await?;
    let raw = txn
        .query_one_raw(sea_orm::Statement::from_string(
            DbBackend::Sqlite,
            "SELECT i.state, i.hold_reason, c.visibility FROM incidents i \
             JOIN incident_comments c ON c.incident_id = i.id",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("row".into()))?;
    assert_eq!(raw.try_get::<String>("", "state")?, "new");
    assert_eq!(raw.try_get::<Option<String>>("", "hold_reason")?, None);
    assert_eq!(raw.try_get::<String>("", "visibility")?, "internal");
    let found = incidents::find(&txn, tenant, IncidentId(inc.id)).await?;
    assert_eq!(found.map(|i| i.state), Some(State::New));
    Ok(())
}

#[tokio::test]
async fn an_unknown_stored_state_is_an_error_naming_the_row() -> Result<(), DbErr> {
    let db = db().await?;
    let tenant = TenantId(Uuid::now_v7());
    let inc = stored(&db, tenant).await?;
    let txn = db.begin().await?;
    incidents::add_comment(&txn, &inc, Uuid::now_v7(), Visibility::Public, "x".into()).await?;
    for sql in [
        "UPDATE incidents SET state = 'archived', hold_reason = 'awaiting_godot'",
        "UPDATE incident_comments SET visibility = 'secret'",
    ] {
        txn.execute_unprepared(sql).await?;
    }

    let err = incidents::find(&txn, tenant, IncidentId(inc.id))
        .await
        .err();
    let err = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains(&format!("incidents row {}", inc.id)), "{err}");
    assert!(err.contains("archived"), "{err}");

    let err = incidents::find_queued(&txn, tenant, IncidentId(inc.id))
        .await
        .err();
    let err = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains(&format!("incidents row {}", inc.id)), "{err}");

    let err = incidents::comments(&txn, &inc, false, None, 10).await.err();
    let err = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("incident_comments row"), "{err}");
    assert!(err.contains("secret"), "{err}");
    Ok(())
}
