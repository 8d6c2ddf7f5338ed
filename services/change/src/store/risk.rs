//! Risk rules and questionnaires, per tenant; a customer without its own reads its nearest
//! provider's.
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, QueryFilter,
};

use super::entities::risk_settings;
use crate::domain::risk::{Questionnaire, Rule};

pub use risk_settings::Model as RiskSettings;

impl RiskSettings {
    pub fn rules(&self) -> Vec<Rule> {
        self.rules
            .clone()
            .and_then(|r| serde_json::from_value(r).ok())
            .unwrap_or_default()
    }

    pub fn questionnaire(&self) -> Option<Questionnaire> {
        self.questionnaire
            .clone()
            .and_then(|q| serde_json::from_value(q).ok())
    }
}

/// The settings of each tenant of `lineage` that has some, nearest first.
pub async fn of_lineage(
    txn: &DatabaseTransaction,
    lineage: &[TenantId],
) -> Result<Vec<RiskSettings>, DbErr> {
    let mut rows = risk_settings::Entity::find()
        .filter(risk_settings::Column::TenantId.is_in(lineage.iter().map(|t| t.as_uuid())))
        .all(txn)
        .await?;
    // The lineage runs from the root down: the tenant itself is last, and comes first here.
    rows.sort_by_key(|r| {
        lineage
            .iter()
            .rev()
            .position(|t| t.as_uuid() == r.tenant_id)
    });
    Ok(rows)
}

/// What applies to the first tenant of `lineage`: the nearest rules and the nearest
/// questionnaire (each from the tenant itself or a provider), with who set them.
#[derive(Debug, Clone, Default)]
pub struct Effective {
    pub rules: Vec<Rule>,
    pub rules_from: Option<uuid::Uuid>,
    pub questionnaire: Option<Questionnaire>,
    pub questionnaire_from: Option<uuid::Uuid>,
}

pub async fn effective(
    txn: &DatabaseTransaction,
    lineage: &[TenantId],
) -> Result<Effective, DbErr> {
    let rows = of_lineage(txn, lineage).await?;
    let mut out = Effective::default();
    // Rules set to an empty list still count as set: a customer may opt out of its
    // provider's rules.
    if let Some(r) = rows.iter().find(|r| r.rules.is_some()) {
        out.rules = r.rules();
        out.rules_from = Some(r.tenant_id);
    }
    if let Some(r) = rows.iter().find(|r| r.questionnaire.is_some()) {
        out.questionnaire = r.questionnaire();
        out.questionnaire_from = Some(r.tenant_id);
    }
    Ok(out)
}

/// What to write: `None` keeps that part as it is.
pub struct Put {
    pub rules: Option<Vec<Rule>>,
    pub questionnaire: Option<Questionnaire>,
}

/// Sets the tenant's own rules or questionnaire.
pub async fn put(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    put: Put,
) -> Result<RiskSettings, DbErr> {
    let existing = risk_settings::Entity::find()
        .filter(risk_settings::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await?;
    let rules = put.rules.map(|r| serde_json::json!(r));
    let questionnaire = put.questionnaire.map(|q| serde_json::json!(q));
    match existing {
        Some(row) => {
            let mut am: risk_settings::ActiveModel = row.into();
            if let Some(r) = rules {
                am.rules = Set(Some(r));
            }
            if let Some(q) = questionnaire {
                am.questionnaire = Set(Some(q));
            }
            am.update(txn).await
        }
        None => {
            let mut am = risk_settings::ActiveModel::new();
            am.tenant_id = Set(tenant.as_uuid());
            am.rules = Set(rules);
            am.questionnaire = Set(questionnaire);
            am.insert(txn).await
        }
    }
}
