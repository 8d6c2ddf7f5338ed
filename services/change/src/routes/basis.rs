//! What a change's writes are weighed against, read once per request from the tenant and its
//! providers: the windows that apply, the risk rules and questionnaire in force, and the
//! approval policies. Read in its own transaction scoped to the lineage, before the change's
//! own (scoped to the tenant alone) begins.
use chrono::{DateTime, Utc};
use platform::{
    ApiError,
    tenancy::{TenantId, begin_scoped},
};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::{
    domain::{
        change::Window,
        conflict::{self, ChangeWindow},
        lifecycle::ChangeType,
        risk::{self, Answers, Assessment, Facts, Risk},
    },
    store::{
        cab::{self, Policy},
        risk::{self as risk_store, Effective},
        windows,
    },
};

pub struct Basis {
    pub lineage: Vec<TenantId>,
    pub windows: Vec<ChangeWindow>,
    pub risk: Effective,
    pub policies: Vec<Policy>,
}

impl Basis {
    pub async fn load(db: &DatabaseConnection, lineage: &[TenantId]) -> Result<Basis, ApiError> {
        let txn = begin_scoped(db, lineage).await?;
        let rows = windows::list(&txn, lineage, None, None).await?;
        let risk = risk_store::effective(&txn, lineage).await?;
        let policies = cab::policies(&txn, lineage, None, None).await?;
        txn.commit().await?;
        Ok(Basis {
            lineage: lineage.to_vec(),
            windows: rows.iter().map(windows::as_window).collect(),
            risk,
            policies,
        })
    }

    /// The risk of a change of type `t` planned for `window` on `cis`, with `answers`.
    pub fn assess(
        &self,
        t: ChangeType,
        window: Option<Window>,
        cis: &[Uuid],
        answers: Option<&Answers>,
        now: DateTime<Utc>,
    ) -> Assessment {
        let facts = Facts {
            ci_count: cis.len(),
            lead_time_hours: window.map(|w| (w.start - now).num_seconds() as f64 / 3600.0),
            outside_maintenance_window: window
                .is_some_and(|w| conflict::outside_maintenance(w, cis, &self.windows)),
        };
        risk::assess(
            t,
            &facts,
            &self.risk.rules,
            self.risk.questionnaire.as_ref(),
            answers,
        )
    }

    /// The policy deciding a change of type `t` at `risk`: the tenant's own first, then its
    /// nearest provider's; by priority within a tenant.
    pub fn policy(&self, t: ChangeType, risk: Risk) -> Option<&Policy> {
        self.policies
            .iter()
            .filter(|p| p.applies(t, risk))
            .min_by_key(|p| {
                // The lineage runs from the root down: the nearest tenant is the last.
                let distance = self
                    .lineage
                    .iter()
                    .rev()
                    .position(|x| x.as_uuid() == p.tenant_id);
                (distance, p.priority, p.id)
            })
    }
}
