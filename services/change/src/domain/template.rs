//! Change templates (pre-approved, repeatable work) and post-implementation reviews.
//!
//! A template is versioned by slug: publishing a slug again makes the next version, active,
//! and retires the one before. A change made from a template pins the version and keeps the
//! template's CIs and plans read-only. A change from it that fails (closes `unsuccessful`, or
//! is found to have caused an incident) suspends the template until a change manager
//! reactivates it.
//!
//! Pure: no I/O.
use platform::{
    FieldError,
    validate::{Validator, multiline},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::lifecycle::{ChangeType, CloseCode};

/// `active`, `suspended` or `retired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ChangeTemplateState)]
pub enum TemplateState {
    Active,
    Suspended,
    Retired,
}

impl TemplateState {
    pub const ALL: [TemplateState; 3] = [
        TemplateState::Active,
        TemplateState::Suspended,
        TemplateState::Retired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TemplateState::Active => "active",
            TemplateState::Suspended => "suspended",
            TemplateState::Retired => "retired",
        }
    }

    pub fn parse(raw: &str) -> Option<TemplateState> {
        TemplateState::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Where a change manager may move a template from here. Retired is final.
    pub fn next(self) -> &'static [TemplateState] {
        match self {
            TemplateState::Active => &[TemplateState::Suspended, TemplateState::Retired],
            TemplateState::Suspended => &[TemplateState::Active, TemplateState::Retired],
            TemplateState::Retired => &[],
        }
    }
}

/// Whether a change failed: it closed `unsuccessful`, or caused incidents. However many
/// incidents it caused, it is one failure.
pub fn failed(close_code: Option<CloseCode>, caused_incidents: u32) -> bool {
    close_code == Some(CloseCode::Unsuccessful) || caused_incidents > 0
}

/// Closing an emergency or unsuccessful change needs a post-implementation review.
pub fn review_required(t: ChangeType, close_code: Option<CloseCode>) -> bool {
    t == ChangeType::Emergency || close_code == Some(CloseCode::Unsuccessful)
}

/// `observation` or `improvement` (an improvement is announced for the improvement register).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Observation,
    Improvement,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub kind: FindingKind,
    pub text: String,
}

/// A post-implementation review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "outcome": "Patched; the payroll run was 10 minutes late.",
    "objectives_met": true,
    "findings": [{"kind": "improvement", "text": "Pre-stage the patch the day before."}]
}))]
pub struct Review {
    pub outcome: String,
    pub objectives_met: bool,
    #[serde(default)]
    pub findings: Vec<Finding>,
}

/// The most findings one review holds.
const MAX_FINDINGS: usize = 50;

impl Review {
    /// Checks every field: an outcome, findings with text, at most [`MAX_FINDINGS`].
    pub fn check(review: Review) -> Result<Review, Vec<FieldError>> {
        let mut v = Validator::new();
        let outcome = v.check(required_text("/outcome", &review.outcome, 5_000));
        if review.findings.len() > MAX_FINDINGS {
            v.push(FieldError::new(
                "/findings",
                "too_many",
                format!("at most {MAX_FINDINGS} findings"),
            ));
        }
        let mut findings = Vec::with_capacity(review.findings.len());
        for (i, f) in review.findings.into_iter().enumerate() {
            if let Some(text) = v.check(required_text(
                &format!("/findings/{i}/text"),
                &f.text,
                2_000,
            )) {
                findings.push(Finding { kind: f.kind, text });
            }
        }
        let parsed = outcome.map(|outcome| Review {
            outcome,
            objectives_met: review.objectives_met,
            findings,
        });
        v.finish_with(parsed)
    }

    /// The improvement findings not in `before` (each announced once).
    pub fn new_improvements<'a>(&'a self, before: Option<&Review>) -> Vec<&'a Finding> {
        self.findings
            .iter()
            .filter(|f| f.kind == FindingKind::Improvement)
            .filter(|f| before.is_none_or(|b| !b.findings.contains(f)))
            .collect()
    }
}

fn required_text(pointer: &str, value: &str, max: usize) -> Result<String, FieldError> {
    let value = multiline(pointer, value.trim(), max)?;
    if value.is_empty() {
        return Err(FieldError::new(pointer, "required", "must not be empty"));
    }
    Ok(value)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_change_counts_once_however_many_incidents_it_caused() {
        assert!(!failed(Some(CloseCode::Successful), 0));
        assert!(failed(Some(CloseCode::Successful), 1));
        assert!(failed(Some(CloseCode::Successful), 3));
        assert!(failed(Some(CloseCode::Unsuccessful), 0));
        assert!(failed(None, 2));
        assert!(review_required(
            ChangeType::Emergency,
            Some(CloseCode::Successful)
        ));
        assert!(review_required(
            ChangeType::Normal,
            Some(CloseCode::Unsuccessful)
        ));
        assert!(!review_required(
            ChangeType::Standard,
            Some(CloseCode::Successful)
        ));
    }

    #[test]
    fn retired_templates_stay_retired() {
        assert!(
            TemplateState::Suspended
                .next()
                .contains(&TemplateState::Active)
        );
        assert!(TemplateState::Retired.next().is_empty());
    }

    #[test]
    fn reviews_need_an_outcome_and_announce_each_improvement_once() {
        let finding = |kind, text: &str| Finding {
            kind,
            text: text.into(),
        };
        let bad = Review {
            outcome: " ".into(),
            objectives_met: false,
            findings: vec![finding(FindingKind::Observation, "")],
        };
        let errors = Review::check(bad).expect_err("invalid");
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/outcome", "/findings/0/text"]);
        let first = Review {
            outcome: "Done".into(),
            objectives_met: true,
            findings: vec![finding(FindingKind::Improvement, "Pre-stage")],
        };
        assert_eq!(first.new_improvements(None).len(), 1);
        let second = Review {
            findings: vec![
                finding(FindingKind::Improvement, "Pre-stage"),
                finding(FindingKind::Improvement, "Automate"),
                finding(FindingKind::Observation, "Late"),
            ],
            ..first.clone()
        };
        let new: Vec<&str> = second
            .new_improvements(Some(&first))
            .iter()
            .map(|f| f.text.as_str())
            .collect();
        assert_eq!(new, ["Automate"]);
    }
}
