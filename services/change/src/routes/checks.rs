//! The checks a change's routes share: the windows that apply to a tenant, a plan's
//! conflicts, and the blackout that refuses scheduling.
use platform::{
    ApiError, FieldError,
    tenancy::{TenantId, begin_scoped},
};
use sea_orm::{DatabaseConnection, DatabaseTransaction};

use crate::{
    domain::conflict::{self, ChangeWindow, Conflict, Planned, RELATED_DEPTH},
    store::windows,
};

/// The windows that apply to a tenant: its own and its providers'.
pub async fn windows_of(
    db: &DatabaseConnection,
    lineage: &[TenantId],
) -> Result<Vec<ChangeWindow>, ApiError> {
    let txn = begin_scoped(db, lineage).await?;
    let rows = windows::list(&txn, lineage, None, None).await?;
    txn.commit().await?;
    Ok(rows.iter().map(windows::as_window).collect())
}

/// Every conflict of `planned` in `tenant`.
pub async fn conflicts_of(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    planned: &Planned,
    windows: &[ChangeWindow],
) -> Result<Vec<Conflict>, ApiError> {
    let others = windows::others(txn, tenant, planned.window).await?;
    let near = bus::cmdb::around(txn, tenant, &planned.cis, RELATED_DEPTH).await?;
    Ok(conflict::conflicts(planned, &near, &others, windows))
}

/// A blackout refuses `scheduled` (409 `blackout`) unless an emergency change gives an
/// `override_reason`; returns the reason to record.
pub fn blackout_gate(
    found: &[Conflict],
    emergency: bool,
    override_reason: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let blackouts: Vec<&Conflict> = found
        .iter()
        .filter(|c| c.kind == conflict::ConflictKind::Blackout)
        .collect();
    if blackouts.is_empty() {
        return Ok(None);
    }
    let reason = override_reason.map(str::trim).filter(|r| !r.is_empty());
    match (emergency, reason) {
        (true, Some(r)) => Ok(Some(format!("blackout overridden: {r}"))),
        (true, None) => Err(ApiError::validation(vec![FieldError::new(
            "/override_reason",
            "required",
            "an emergency change enters a blackout only with an override_reason",
        )])),
        (false, _) => Err(ApiError::conflict(
            "blackout",
            "the change's window overlaps a blackout",
        )
        .with_extra(serde_json::json!({ "conflicts": blackouts }))),
    }
}
