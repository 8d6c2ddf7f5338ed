//! Published payload shapes are contracts. Each payload's JSON Schema is compared with its
//! snapshot in `schemas/<type>.json`; a change to a published shape must come as a new version
//! (a new type), never as an edit. `UPDATE_EVENT_SCHEMAS=1` writes snapshots for *new* types
//! only.
use events::{Event, analytics::*, catalogue::*, change::*, identity::*, incident::*, schema_of};

fn check<E: Event>(failures: &mut Vec<String>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let path = dir.join(format!("{}.json", E::event_type()));
    let current = serde_json::to_string_pretty(&schema_of::<E>()).unwrap_or_default() + "\n";
    match std::fs::read_to_string(&path) {
        Ok(snapshot) if snapshot == current => {}
        Ok(_) => failures.push(format!(
            "{} changed shape: publish it as v{} instead (snapshot {})",
            E::event_type(),
            E::VERSION + 1,
            path.display()
        )),
        Err(_) if std::env::var("UPDATE_EVENT_SCHEMAS").is_ok() => {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(&path, current);
        }
        Err(_) => failures.push(format!(
            "{} has no schema snapshot; run with UPDATE_EVENT_SCHEMAS=1 and commit {}",
            E::event_type(),
            path.display()
        )),
    }
}

#[test]
fn published_payloads_match_their_versioned_schemas() {
    let mut failures = Vec::new();
    check::<ChangeCreated>(&mut failures);
    check::<ChangeStateChanged>(&mut failures);
    check::<ChangeClosed>(&mut failures);
    check::<ChangeVoteCast>(&mut failures);
    check::<ChangeApprovalDecided>(&mut failures);
    check::<ChangeIncidentLinked>(&mut failures);
    check::<ChangeOutcomeRevised>(&mut failures);
    check::<ChangeTemplateSuspended>(&mut failures);
    check::<ChangePirFindingRecorded>(&mut failures);
    check::<ChangeConflictsChanged>(&mut failures);
    check::<ChangeOverdue>(&mut failures);
    check::<TenantCreated>(&mut failures);
    check::<TenantStatusChanged>(&mut failures);
    check::<TenantSettingsChanged>(&mut failures);
    check::<UserCreated>(&mut failures);
    check::<UserUpdated>(&mut failures);
    check::<UserRolesChanged>(&mut failures);
    check::<UserManagerChanged>(&mut failures);
    check::<GroupCreated>(&mut failures);
    check::<GroupMembersChanged>(&mut failures);
    check::<IncidentCreated>(&mut failures);
    check::<ServiceCreated>(&mut failures);
    check::<ServiceUpdated>(&mut failures);
    check::<ServiceStageChanged>(&mut failures);
    check::<OfferingCreated>(&mut failures);
    check::<OfferingUpdated>(&mut failures);
    check::<CategoryCreated>(&mut failures);
    check::<CategoryUpdated>(&mut failures);
    check::<ItemPublished>(&mut failures);
    check::<ArticlePublished>(&mut failures);
    check::<ArticleRetired>(&mut failures);
    check::<SuggestionDeflected>(&mut failures);
    check::<ItemRetired>(&mut failures);
    check::<RequestSubmitted>(&mut failures);
    check::<RequestClosed>(&mut failures);
    check::<RequestItemStateChanged>(&mut failures);
    check::<ApprovalRequested>(&mut failures);
    check::<ApprovalDecided>(&mut failures);
    check::<ApprovalReminderDue>(&mut failures);
    check::<ApprovalExpired>(&mut failures);
    check::<ApprovalDelegationCreated>(&mut failures);
    check::<ApprovalDelegationRevoked>(&mut failures);
    check::<FulfilmentTaskCreated>(&mut failures);
    check::<FulfilmentTaskStateChanged>(&mut failures);
    check::<IncidentStateChanged>(&mut failures);
    check::<IncidentClassified>(&mut failures);
    check::<IncidentCommented>(&mut failures);
    check::<IncidentAssigned>(&mut failures);
    check::<IncidentPriorityOverridden>(&mut failures);
    check::<IncidentUpdated>(&mut failures);
    check::<IncidentResolved>(&mut failures);
    check::<IncidentClosed>(&mut failures);
    check::<SlaWarning>(&mut failures);
    check::<SlaBreached>(&mut failures);
    check::<RequestItemSlaChanged>(&mut failures);
    check::<ProblemCreated>(&mut failures);
    check::<ProblemUpdated>(&mut failures);
    check::<ProblemResolved>(&mut failures);
    check::<CiCreated>(&mut failures);
    check::<CiUpdated>(&mut failures);
    check::<CiRetired>(&mut failures);
    check::<CiRelationshipCreated>(&mut failures);
    check::<CiGrantChanged>(&mut failures);
    check::<CiImportCompleted>(&mut failures);
    check::<CiRelationshipDeleted>(&mut failures);
    check::<ImprovementCreated>(&mut failures);
    check::<ImprovementStateChanged>(&mut failures);
    check::<CapacityBreachPredicted>(&mut failures);
    check::<CapacityThresholdChanged>(&mut failures);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
