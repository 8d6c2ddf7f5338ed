//! `/api/v1/change-risk`: the rules and questionnaire that weigh a change's risk (a
//! provider's apply to customers without their own), and a change's risk with its reasons.
use actix_web::{HttpResponse, get, put, web};
use platform::{
    ApiError,
    auth::{
        Auth,
        scopes::{ChangeManage, ChangeRead, ChangeWrite},
    },
    json::Json,
    tenancy::{TenantId, begin_scoped},
    validate::Validator,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::{basis::Basis, checks::load};
use crate::{
    ChangeService,
    domain::risk::{self, Answers, Assessment, Questionnaire, Reason, Risk, Rule},
    store::{
        changes,
        risk::{self as store, Put},
    },
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(get_rules)
        .service(put_rules)
        .service(get_questionnaire)
        .service(put_questionnaire);
}

/// Under `/api/v1/changes`.
pub fn change_routes(cfg: &mut ServiceConfig) {
    cfg.service(get_risk).service(put_assessment);
}

fn inherited(from: Option<Uuid>, tenant: TenantId) -> Option<Uuid> {
    from.filter(|t| *t != tenant.as_uuid())
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "rules": [
        {"order": 10, "name": "Many CIs", "condition": {"fact": "ci_count", "op": "gte", "value": 10}, "risk": "high"},
        {"order": 20, "name": "Short notice", "condition": {"fact": "lead_time_hours", "op": "lt", "value": 24}, "risk": "high"},
        {"order": 30, "name": "Outside maintenance", "condition": {"fact": "outside_maintenance_window", "op": "eq", "value": true}, "risk": "moderate"}
    ]
}))]
pub struct RulesIn {
    /// Replaces the tenant's rules; an empty list opts out of a provider's.
    pub rules: Vec<Rule>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "rules": [{"order": 10, "name": "Many CIs", "condition": {"fact": "ci_count", "op": "gte", "value": 10}, "risk": "high"}],
    "inherited_from": null
}))]
pub struct RulesOut {
    /// By order.
    pub rules: Vec<Rule>,
    /// The provider whose rules apply, when the tenant has none of its own.
    pub inherited_from: Option<Uuid>,
}

/// The risk rules in force.
///
/// The tenant's own, or its nearest provider's (`inherited_from`); none is an empty list.
#[utoipa::path(
    tag = "change-risk",
    operation_id = "getChangeRiskRules",
    responses((status = 200, description = "OK", body = RulesOut)),
    security(("bearer" = ["change:read"]))
)]
#[get("/rules")]
pub async fn get_rules(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
) -> Result<HttpResponse, ApiError> {
    let basis = Basis::load(&state.db, auth.tenant.lineage()).await?;
    Ok(HttpResponse::Ok().json(RulesOut {
        rules: basis.risk.rules,
        inherited_from: inherited(basis.risk.rules_from, auth.tenant_id()),
    }))
}

/// Set the tenant's risk rules.
///
/// Ordered rules `{order, name, condition, risk}`: a condition compares `ci_count`,
/// `lead_time_hours` or `outside_maintenance_window` with a value. Every rule that matches
/// a change names a risk; the highest wins. Orders are unique.
#[utoipa::path(
    tag = "change-risk",
    operation_id = "putChangeRiskRules",
    request_body = RulesIn,
    responses(
        (status = 200, description = "OK", body = RulesOut),
        (status = 422, description = "A rule is invalid", body = platform::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:manage"]))
)]
#[put("/rules")]
pub async fn put_rules(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeManage>,
    body: Json<RulesIn>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Validator::new();
    let rules = risk::rules(&mut v, body.0.rules);
    let rules = v.finish_with(rules)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let row = store::put(
        &txn,
        tenant,
        Put {
            rules: Some(rules),
            questionnaire: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(RulesOut {
        rules: row.rules(),
        inherited_from: None,
    }))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "questions": [{"key": "outage", "text": "Does it need an outage?", "choices": [
        {"value": "no", "label": "No", "score": 0}, {"value": "yes", "label": "Yes", "score": 3}]}],
    "thresholds": [{"min_score": 0, "max_score": 1, "risk": "low"}, {"min_score": 2, "max_score": 3, "risk": "high"}],
    "max_score": 3,
    "inherited_from": null
}))]
pub struct QuestionnaireOut {
    pub questions: Vec<crate::domain::risk::Question>,
    /// Every score from 0 to `max_score` in exactly one band.
    pub thresholds: Vec<crate::domain::risk::Threshold>,
    /// The highest score the answers can add up to.
    pub max_score: u32,
    pub inherited_from: Option<Uuid>,
}

fn questionnaire_out(q: Questionnaire, from: Option<Uuid>, tenant: TenantId) -> QuestionnaireOut {
    QuestionnaireOut {
        max_score: q.max_score(),
        questions: q.questions,
        thresholds: q.thresholds,
        inherited_from: inherited(from, tenant),
    }
}

/// The risk questionnaire in force.
///
/// The tenant's own or its nearest provider's; 404 when neither has one.
#[utoipa::path(
    tag = "change-risk",
    operation_id = "getChangeRiskQuestionnaire",
    responses((status = 200, description = "OK", body = QuestionnaireOut)),
    security(("bearer" = ["change:read"]))
)]
#[get("/questionnaire")]
pub async fn get_questionnaire(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
) -> Result<HttpResponse, ApiError> {
    let basis = Basis::load(&state.db, auth.tenant.lineage()).await?;
    let q = basis
        .risk
        .questionnaire
        .ok_or_else(|| ApiError::not_found("risk questionnaire"))?;
    Ok(HttpResponse::Ok().json(questionnaire_out(
        q,
        basis.risk.questionnaire_from,
        auth.tenant_id(),
    )))
}

/// Set the tenant's risk questionnaire.
///
/// Questions with scored choices, and `thresholds` turning the total score into a risk.
/// The thresholds cover every score from 0 to the highest possible with no gap or overlap
/// (422 `threshold_gap` / `threshold_overlap` naming the threshold).
#[utoipa::path(
    tag = "change-risk",
    operation_id = "putChangeRiskQuestionnaire",
    request_body = Questionnaire,
    responses(
        (status = 200, description = "OK", body = QuestionnaireOut),
        (status = 422, description = "A question or threshold is invalid", body = platform::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:manage"]))
)]
#[put("/questionnaire")]
pub async fn put_questionnaire(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeManage>,
    body: Json<Questionnaire>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Validator::new();
    let q = Questionnaire::check(&mut v, body.0);
    let q = v.finish_with(q)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let row = store::put(
        &txn,
        tenant,
        Put {
            rules: None,
            questionnaire: Some(q),
        },
    )
    .await?;
    txn.commit().await?;
    let q = row
        .questionnaire()
        .ok_or_else(|| ApiError::internal("questionnaire not stored"))?;
    Ok(HttpResponse::Ok().json(questionnaire_out(q, Some(tenant.as_uuid()), tenant)))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "risk": "high",
    "explanation": [
        {"source": "rule", "name": "Short notice", "order": 20, "risk": "high"},
        {"source": "questionnaire", "name": "questionnaire score 2", "order": null, "risk": "moderate"}
    ],
    "answers": {"outage": "no", "tested": "no"}
}))]
pub struct RiskOut {
    pub risk: Risk,
    /// Every rule that matched and the questionnaire's band; the type's default when none.
    pub explanation: Vec<Reason>,
    /// The change's answers to the questionnaire (empty until given).
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub answers: Answers,
}

fn risk_out(a: Assessment, answers: Option<Answers>) -> RiskOut {
    RiskOut {
        risk: a.risk,
        explanation: a.explanation,
        answers: answers.unwrap_or_default(),
    }
}

/// A change's risk, explained.
///
/// Weighed now: rules on its CIs, lead time and maintenance windows, and its questionnaire
/// answers. The change's own `risk` is this as of its last write (lead time shrinks).
#[utoipa::path(
    tag = "changes",
    operation_id = "getChangeRisk",
    params(("id" = Uuid, Path, description = "The change's id.")),
    responses((status = 200, description = "OK", body = RiskOut)),
    security(("bearer" = ["change:read"]))
)]
#[get("/{id}/risk")]
pub async fn get_risk(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let basis = Basis::load(&state.db, auth.tenant.lineage()).await?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let (c, cis) = load(&txn, tenant, *id, false).await?;
    txn.commit().await?;
    let answers = c.answers();
    let a = basis.assess(
        c.kind(),
        c.window(),
        &cis,
        answers.as_ref(),
        platform::record::now(),
    );
    Ok(HttpResponse::Ok().json(risk_out(a, answers)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"answers": {"outage": "no", "tested": "no"}}))]
pub struct AssessmentIn {
    /// One choice's `value` per question `key`.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub answers: Answers,
}

/// Answer the risk questionnaire for a change.
///
/// Every question once, each with one of its choices (422 naming `/answers/<key>`). The
/// change's risk is weighed again and stored; a closed or canceled change is read-only.
#[utoipa::path(
    tag = "changes",
    operation_id = "putChangeRiskAssessment",
    params(("id" = Uuid, Path, description = "The change's id.")),
    request_body = AssessmentIn,
    responses(
        (status = 200, description = "OK", body = RiskOut),
        (status = 404, description = "No such change, or no questionnaire in force", body = platform::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "An answer is missing or not a choice", body = platform::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:write"]))
)]
#[put("/{id}/risk-assessment")]
pub async fn put_assessment(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeWrite>,
    id: web::Path<Uuid>,
    body: Json<AssessmentIn>,
) -> Result<HttpResponse, ApiError> {
    let basis = Basis::load(&state.db, auth.tenant.lineage()).await?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let (c, cis) = load(&txn, tenant, *id, true).await?;
    let q = basis
        .risk
        .questionnaire
        .as_ref()
        .ok_or_else(|| ApiError::not_found("risk questionnaire"))?;
    let answers = body.0.answers;
    let errors = q.check_answers(&answers);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    super::checks::editable(&c)?;
    let a = basis.assess(
        c.kind(),
        c.window(),
        &cis,
        Some(&answers),
        platform::record::now(),
    );
    changes::set_risk(&txn, c, a.risk, Some(&answers)).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(risk_out(a, Some(answers))))
}
