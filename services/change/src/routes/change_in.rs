//! What a change request carries, checked field by field into a [`NewChange`].
use chrono::{DateTime, Utc};
use platform::{FieldError, validate::Validator};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{
    change::{self, NewChange, Plans, Window},
    lifecycle::ChangeType,
};

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "type": "normal",
    "title": "Patch db-01",
    "affected_ci_ids": ["01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a11"],
    "planned_start": "2026-12-12T20:00:00Z",
    "planned_end": "2026-12-12T22:00:00Z",
    "implementation_plan": "Apply the patch set.",
    "backout_plan": "Restore the snapshot.",
    "test_plan": "Run the payroll smoke test."
}))]
pub struct ChangeIn {
    #[serde(rename = "type")]
    pub change_type: ChangeType,
    /// Required unless a template gives it.
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// An active template version: the change takes its type, CIs and plans (read-only;
    /// giving different ones is 422) and its title and description unless given.
    pub template_id: Option<Uuid>,
    /// CIs of the acting tenant (its own or shared with it), not retired.
    #[serde(default)]
    pub affected_ci_ids: Vec<Uuid>,
    pub planned_start: Option<DateTime<Utc>>,
    /// After `planned_start`; the window is half-open.
    pub planned_end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub implementation_plan: String,
    #[serde(default)]
    pub backout_plan: String,
    #[serde(default)]
    pub test_plan: String,
    /// An active user of the acting tenant.
    pub assignee_id: Option<Uuid>,
}

impl TryFrom<ChangeIn> for NewChange {
    type Error = Vec<FieldError>;

    fn try_from(input: ChangeIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let title = change::title(&mut v, &input.title);
        let description = change::long_text(&mut v, "/description", &input.description);
        let window = Window::parse(&mut v, input.planned_start, input.planned_end);
        let implementation_plan =
            change::long_text(&mut v, "/implementation_plan", &input.implementation_plan);
        let backout_plan = change::long_text(&mut v, "/backout_plan", &input.backout_plan);
        let test_plan = change::long_text(&mut v, "/test_plan", &input.test_plan);
        let ci_ids = change::ci_ids(&mut v, input.affected_ci_ids);
        let parsed = (|| {
            Some(NewChange {
                change_type: input.change_type,
                title: title?,
                description: description?,
                window: window?,
                plans: Plans {
                    implementation_plan: implementation_plan?,
                    backout_plan: backout_plan?,
                    test_plan: test_plan?,
                },
                assignee_id: input.assignee_id,
                ci_ids: ci_ids?,
            })
        })();
        v.finish_with(parsed)
    }
}
