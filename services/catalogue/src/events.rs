//! What the catalogue publishes, appended to the outbox in the same transaction as the change.
use events::{
    Event,
    catalogue::{
        ApprovalDecided, ApprovalDelegationCreated, ApprovalDelegationRevoked, ApprovalExpired,
        ApprovalReminderDue, ApprovalRequested, ArticlePublished, ArticleRetired, CategoryCreated,
        CategoryUpdated, CiCreated, CiGrantChanged, CiImportCompleted, CiRelationshipCreated,
        CiRelationshipDeleted, CiRetired, CiUpdated, FulfilmentTaskCreated,
        FulfilmentTaskStateChanged, ItemPublished, ItemRetired, OfferingCreated, OfferingUpdated,
        RequestClosed, RequestItemStateChanged, RequestSubmitted, ServiceCreated,
        ServiceStageChanged, ServiceUpdated, SuggestionDeflected,
    },
};
use platform::{ApiError, tenancy::TenantId};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use crate::domain::{deflection::Decision, item::ItemState, request::VoteState};
use crate::store::{
    approvals::{Approval, Delegation},
    articles::Article,
    categories::Category,
    cmdb::{Ci, Relationship},
    cmdb_import::CmdbImport,
    items::Item,
    offerings::Offering,
    requests::{Request, RequestItem},
    services::{Service, StageChange},
    suggestions::Session,
    tasks::Task,
};

async fn publish<E: Event>(
    txn: &DatabaseTransaction,
    s: &Service,
    payload: &E,
) -> Result<(), ApiError> {
    bus::outbox::append(txn, TenantId(s.tenant_id), s.id, s.version, payload).await?;
    Ok(())
}

/// A new (`created`) or changed offering.
pub async fn offering_changed(
    txn: &DatabaseTransaction,
    o: &Offering,
    created: bool,
) -> Result<(), ApiError> {
    let tenant = TenantId(o.tenant_id);
    if created {
        let event = OfferingCreated {
            offering_id: o.id,
            service_id: o.service_id,
            name: o.name.clone(),
            support_group_id: o.support_group_id,
        };
        bus::outbox::append(txn, tenant, o.id, o.version, &event).await?;
    } else {
        let event = OfferingUpdated {
            offering_id: o.id,
            service_id: o.service_id,
            name: o.name.clone(),
            support_group_id: o.support_group_id,
        };
        bus::outbox::append(txn, tenant, o.id, o.version, &event).await?;
    }
    Ok(())
}

pub async fn service_created(txn: &DatabaseTransaction, s: &Service) -> Result<(), ApiError> {
    let event = ServiceCreated {
        service_id: s.id,
        name: s.name.clone(),
        stage: s.stage.as_str().into(),
        owner_id: s.owner_id,
        manager_id: s.manager_id,
        support_group_id: s.support_group_id,
    };
    publish(txn, s, &event).await
}

pub async fn service_updated(txn: &DatabaseTransaction, s: &Service) -> Result<(), ApiError> {
    let event = ServiceUpdated {
        service_id: s.id,
        name: s.name.clone(),
        owner_id: s.owner_id,
        manager_id: s.manager_id,
        support_group_id: s.support_group_id,
    };
    publish(txn, s, &event).await
}

pub async fn stage_changed(
    txn: &DatabaseTransaction,
    s: &Service,
    change: &StageChange,
) -> Result<(), ApiError> {
    let event = ServiceStageChanged {
        service_id: s.id,
        from: change.from_stage.as_str().into(),
        to: change.to_stage.as_str().into(),
        rationale: change.rationale.clone(),
        actor_id: change.actor_id,
    };
    publish(txn, s, &event).await
}

/// A new (`created`) or changed category.
pub async fn category_changed(
    txn: &DatabaseTransaction,
    c: &Category,
    created: bool,
) -> Result<(), ApiError> {
    let tenant = TenantId(c.tenant_id);
    let (id, parent_id, name) = (c.id, c.parent_id, c.name.clone());
    if created {
        let event = CategoryCreated {
            category_id: id,
            parent_id,
            name,
        };
        bus::outbox::append(txn, tenant, c.id, c.version, &event).await?;
    } else {
        let event = CategoryUpdated {
            category_id: id,
            parent_id,
            name,
        };
        bus::outbox::append(txn, tenant, c.id, c.version, &event).await?;
    }
    Ok(())
}

/// An item was published or retired (going back to draft is not announced: a draft is
/// nobody's business but its editors').
pub async fn item_state_changed(txn: &DatabaseTransaction, i: &Item) -> Result<(), ApiError> {
    let tenant = TenantId(i.tenant_id);
    match i.state {
        ItemState::Published => {
            let event = ItemPublished {
                item_id: i.id,
                key: i.key.clone(),
                name: i.name.clone(),
                service_id: i.service_id,
                version: i.version,
            };
            bus::outbox::append(txn, tenant, i.id, i.version, &event).await?;
        }
        ItemState::Retired => {
            let event = ItemRetired {
                item_id: i.id,
                key: i.key.clone(),
                service_id: i.service_id,
            };
            bus::outbox::append(txn, tenant, i.id, i.version, &event).await?;
        }
        ItemState::Draft => {}
    }
    Ok(())
}

pub async fn request_submitted(
    txn: &DatabaseTransaction,
    r: &Request,
    items: &[RequestItem],
) -> Result<(), ApiError> {
    let event = RequestSubmitted {
        request_id: r.id,
        number: r.number.clone(),
        requester_id: r.requester_id,
        request_item_ids: items.iter().map(|i| i.id).collect(),
    };
    bus::outbox::append(txn, TenantId(r.tenant_id), r.id, r.version, &event).await?;
    Ok(())
}

pub async fn request_closed(txn: &DatabaseTransaction, r: &Request) -> Result<(), ApiError> {
    let event = RequestClosed {
        request_id: r.id,
        number: r.number.clone(),
    };
    bus::outbox::append(txn, TenantId(r.tenant_id), r.id, r.version, &event).await?;
    Ok(())
}

/// A request item moved from `from` (`None`: just submitted) to where it is now.
pub async fn request_item_moved(
    txn: &DatabaseTransaction,
    i: &RequestItem,
    from: Option<&str>,
) -> Result<(), ApiError> {
    let event = RequestItemStateChanged {
        request_item_id: i.id,
        request_id: i.request_id,
        number: i.number.clone(),
        item_id: i.item_id,
        from: from.map(str::to_string),
        to: i.state.as_str().into(),
        approval_state: i.approval_state.as_str().into(),
        close_reason: i.close_reason.clone(),
    };
    bus::outbox::append(txn, TenantId(i.tenant_id), i.id, i.version, &event).await?;
    Ok(())
}

pub async fn approval_requested(txn: &DatabaseTransaction, a: &Approval) -> Result<(), ApiError> {
    let event = ApprovalRequested {
        approval_id: a.id,
        request_item_id: a.request_item_id,
        step: a.step,
        approver_id: a.approver_id,
        expires_at: a.expires_at,
    };
    bus::outbox::append(txn, TenantId(a.tenant_id), a.id, a.version, &event).await?;
    Ok(())
}

/// A delegation given (`revoked: false`) or withdrawn, so the change service's CAB can honour
/// it too.
pub async fn delegation_changed(
    txn: &DatabaseTransaction,
    d: &Delegation,
    revoked: bool,
) -> Result<(), ApiError> {
    let tenant = TenantId(d.tenant_id);
    if revoked {
        let event = ApprovalDelegationRevoked {
            delegation_id: d.id,
            delegator_id: d.delegator_id,
            delegate_id: d.delegate_id,
            ends_at: d.ends_at,
        };
        bus::outbox::append(txn, tenant, d.id, d.version, &event).await?;
    } else {
        let event = ApprovalDelegationCreated {
            delegation_id: d.id,
            delegator_id: d.delegator_id,
            delegate_id: d.delegate_id,
            starts_at: d.starts_at,
            ends_at: d.ends_at,
        };
        bus::outbox::append(txn, tenant, d.id, d.version, &event).await?;
    }
    Ok(())
}

/// A vote's outcome: decided (approved or rejected), expired, or a reminder due.
pub async fn approval_changed(txn: &DatabaseTransaction, a: &Approval) -> Result<(), ApiError> {
    let tenant = TenantId(a.tenant_id);
    match (a.state, a.decided_by) {
        (VoteState::Approved | VoteState::Rejected, Some(decided_by)) => {
            let event = ApprovalDecided {
                approval_id: a.id,
                request_item_id: a.request_item_id,
                step: a.step,
                decision: a.state.as_str().into(),
                decided_by,
                on_behalf_of: a.on_behalf_of,
            };
            bus::outbox::append(txn, tenant, a.id, a.version, &event).await?;
        }
        (VoteState::Expired, _) => {
            let event = ApprovalExpired {
                approval_id: a.id,
                request_item_id: a.request_item_id,
                approver_id: a.approver_id,
            };
            bus::outbox::append(txn, tenant, a.id, a.version, &event).await?;
        }
        (VoteState::Pending, _) if a.reminded_at.is_some() => {
            let event = ApprovalReminderDue {
                approval_id: a.id,
                request_item_id: a.request_item_id,
                approver_id: a.approver_id,
            };
            bus::outbox::append(txn, tenant, a.id, a.version, &event).await?;
        }
        _ => {}
    }
    Ok(())
}

pub async fn task_created(txn: &DatabaseTransaction, t: &Task) -> Result<(), ApiError> {
    let event = FulfilmentTaskCreated {
        task_id: t.id,
        number: t.number.clone(),
        request_item_id: t.request_item_id,
        stage: t.stage,
        name: t.name.clone(),
        group_id: t.group_id,
    };
    bus::outbox::append(txn, TenantId(t.tenant_id), t.id, t.version, &event).await?;
    Ok(())
}

pub async fn task_moved(txn: &DatabaseTransaction, t: &Task, from: &str) -> Result<(), ApiError> {
    let event = FulfilmentTaskStateChanged {
        task_id: t.id,
        request_item_id: t.request_item_id,
        from: from.into(),
        to: t.state.as_str().into(),
    };
    bus::outbox::append(txn, TenantId(t.tenant_id), t.id, t.version, &event).await?;
    Ok(())
}

/// An article's aggregate version: its version number, then the row's revision, so the events
/// of a later version always rank above those of an earlier one.
fn article_version(a: &Article) -> i64 {
    (i64::from(a.article_version) << 32) | a.version
}

/// Version `a` was published, replacing `supersedes` (the version published before, if any).
pub async fn article_published(
    txn: &DatabaseTransaction,
    a: &Article,
    supersedes: Option<i32>,
) -> Result<(), ApiError> {
    let event = ArticlePublished {
        article_id: a.article_id,
        number: a.number.clone(),
        version: a.article_version,
        title: a.title.clone(),
        audience: a.audience.as_str().into(),
        share_with_customers: a.share_with_customers,
        published_by: a.published_by.unwrap_or_default(),
        supersedes_version: supersedes,
    };
    let tenant = TenantId(a.tenant_id);
    bus::outbox::append(txn, tenant, a.article_id, article_version(a), &event).await?;
    Ok(())
}

/// The published version `a` was retired by `by`: the article is no longer published.
pub async fn article_retired(
    txn: &DatabaseTransaction,
    a: &Article,
    by: uuid::Uuid,
) -> Result<(), ApiError> {
    let event = ArticleRetired {
        article_id: a.article_id,
        number: a.number.clone(),
        version: a.article_version,
        retired_by: by,
    };
    let tenant = TenantId(a.tenant_id);
    bus::outbox::append(txn, tenant, a.article_id, article_version(a), &event).await?;
    Ok(())
}

/// Session `s` was deflected (`decision` is a deflection; anything else announces nothing).
pub async fn suggestion_decided(
    txn: &DatabaseTransaction,
    s: &Session,
    decision: &Decision,
) -> Result<(), ApiError> {
    let Decision::Deflected {
        article_id, reason, ..
    } = decision
    else {
        return Ok(());
    };
    let event = SuggestionDeflected {
        session_id: s.id,
        user_id: s.user_id,
        article_id: *article_id,
        reason: reason.as_str().into(),
    };
    bus::outbox::append(txn, TenantId(s.tenant_id), s.id, 1, &event).await?;
    Ok(())
}

/// A CI was recorded.
pub async fn ci_created(txn: &DatabaseTransaction, ci: &Ci) -> Result<(), ApiError> {
    cis_created(txn, std::slice::from_ref(ci)).await
}

/// CIs were recorded (an import's, appended with one statement).
pub async fn cis_created(txn: &DatabaseTransaction, cis: &[Ci]) -> Result<(), ApiError> {
    let mut batch = bus::outbox::Batch::default();
    for ci in cis {
        let event = CiCreated {
            ci_id: ci.id,
            name: ci.name.clone(),
            class: ci.class.clone(),
            class_path: ci.class_path.clone(),
            status: ci.status.clone(),
            service_id: ci.service_id,
        };
        batch.push(TenantId(ci.tenant_id), ci.id, ci.version, &event)?;
    }
    batch.append(txn).await?;
    Ok(())
}

/// A CI changed `changed` (its fields' names); retiring it is announced as such too.
pub async fn ci_updated(
    txn: &DatabaseTransaction,
    ci: &Ci,
    changed: Vec<String>,
    retired: bool,
) -> Result<(), ApiError> {
    let tenant = TenantId(ci.tenant_id);
    let event = CiUpdated {
        ci_id: ci.id,
        name: ci.name.clone(),
        class_path: ci.class_path.clone(),
        status: ci.status.clone(),
        changed,
    };
    bus::outbox::append(txn, tenant, ci.id, ci.version, &event).await?;
    if retired {
        let event = CiRetired {
            ci_id: ci.id,
            class_path: ci.class_path.clone(),
        };
        bus::outbox::append(txn, tenant, ci.id, ci.version, &event).await?;
    }
    Ok(())
}

/// A relationship was created (version 1) or deleted (version 2).
pub async fn relationship_changed(
    txn: &DatabaseTransaction,
    r: &Relationship,
    created: bool,
) -> Result<(), ApiError> {
    let tenant = TenantId(r.tenant_id);
    let (relationship_id, source_id, rel_type, target_id) =
        (r.id, r.source_id, r.rel_type.clone(), r.target_id);
    if created {
        let event = CiRelationshipCreated {
            relationship_id,
            source_id,
            rel_type,
            target_id,
        };
        bus::outbox::append(txn, tenant, r.id, 1, &event).await?;
    } else {
        let event = CiRelationshipDeleted {
            relationship_id,
            source_id,
            rel_type,
            target_id,
        };
        bus::outbox::append(txn, tenant, r.id, 2, &event).await?;
    }
    Ok(())
}

/// A CI's grants changed: it is shared with exactly `tenant_ids` now.
pub async fn ci_grant_changed(
    txn: &DatabaseTransaction,
    ci: &Ci,
    tenant_ids: &[Uuid],
) -> Result<(), ApiError> {
    let event = CiGrantChanged {
        ci_id: ci.id,
        class_path: ci.class_path.clone(),
        tenant_ids: tenant_ids.to_vec(),
        version: ci.version,
    };
    bus::outbox::append(txn, TenantId(ci.tenant_id), ci.id, ci.version, &event).await?;
    Ok(())
}

/// An import finished.
pub async fn ci_import_completed(
    txn: &DatabaseTransaction,
    i: &CmdbImport,
) -> Result<(), ApiError> {
    let event = CiImportCompleted {
        import_id: i.id,
        source: i.source.clone(),
        status: i.status.clone(),
        rows_total: i.rows_total,
        created: i.created,
        updated: i.updated,
        unchanged: i.unchanged,
        failed: i.failed,
    };
    bus::outbox::append(txn, TenantId(i.tenant_id), i.id, 1, &event).await?;
    Ok(())
}
