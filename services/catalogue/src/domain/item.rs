//! Catalogue items: what a requester orders. Their lifecycle, prices, who may see them, how
//! they are approved and fulfilled, and the quorum rule an approval step follows. No I/O: the
//! routes look up groups and tenants and hand the answers in.
use std::collections::HashMap;

use platform::FieldError;
use sea_orm::{DeriveActiveEnum, EnumIter, sea_query::StringLen};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::form::{self, Form};

/// An item's lifecycle. Only `published` items are orderable.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum ItemState {
    #[sea_orm(string_value = "draft")]
    Draft,
    #[sea_orm(string_value = "published")]
    Published,
    #[sea_orm(string_value = "retired")]
    Retired,
}

impl ItemState {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Draft => "draft",
            ItemState::Published => "published",
            ItemState::Retired => "retired",
        }
    }

    /// Draft → published → retired; a retired item goes back to draft to be reworked.
    pub fn allowed_moves(self) -> &'static [ItemState] {
        match self {
            ItemState::Draft => &[ItemState::Published],
            ItemState::Published => &[ItemState::Retired],
            ItemState::Retired => &[ItemState::Draft],
        }
    }
}

/// An amount of money as a decimal string with at most two decimals (`"1200.00"`), kept as text
/// so no float ever rounds a price; normalized to two decimals.
pub fn parse_amount(pointer: &str, raw: &str) -> Result<String, FieldError> {
    let bad = || {
        FieldError::new(
            pointer,
            "invalid_amount",
            "an amount is a decimal string such as \"1200.00\": up to 12 digits, 2 decimals",
        )
    };
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > 12
        || !digits(whole)
        || fraction.len() > 2
        || !digits(fraction)
        || (raw.contains('.') && fraction.is_empty())
    {
        return Err(bad());
    }
    let whole = whole.trim_start_matches('0');
    Ok(format!(
        "{}.{:0<2}",
        if whole.is_empty() { "0" } else { whole },
        fraction
    ))
}

/// An ISO 4217 currency code: three capital letters.
pub fn parse_currency(pointer: &str, raw: &str) -> Result<String, FieldError> {
    if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(raw.to_string())
    } else {
        Err(FieldError::new(
            pointer,
            "invalid_currency",
            "a currency is an ISO 4217 code such as \"EUR\"",
        ))
    }
}

/// An item's key: what integrations and the demo data name it by (`new-laptop`).
pub fn parse_key(pointer: &str, raw: &str) -> Result<String, FieldError> {
    let ok = (1..=64).contains(&raw.len())
        && raw.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(FieldError::new(
            pointer,
            "invalid_key",
            "a key is 1–64 lowercase letters, digits and dashes, starting with a letter or digit",
        ))
    }
}

/// Who may order an item beyond its own tenant's people: empty lists mean everyone the item
/// reaches (its tenant and, for a provider's item, every tenant below it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    /// Only these tenants (the item's own or ones below it).
    #[serde(default)]
    pub tenant_ids: Vec<Uuid>,
    /// Only members of these groups.
    #[serde(default)]
    pub group_ids: Vec<Uuid>,
}

/// Who approves one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Approver {
    /// The requester's line manager (identity's `manager_id`).
    Manager,
    /// Any member of a group of the item's tenant.
    Group { group_id: Uuid },
    /// One user of the item's tenant.
    User { user_id: Uuid },
}

/// How many of a step's M eligible approvers must approve: one, all, or N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Any,
    All,
    NOf(u32),
}

impl Rule {
    /// N for M eligible approvers.
    pub fn needed(self, m: u32) -> u32 {
        match self {
            Rule::Any => 1.min(m),
            Rule::All => m,
            Rule::NOf(n) => n,
        }
    }
}

/// Where a step's vote stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quorum {
    Pending,
    Approved,
    Rejected,
}

/// A step with `m` eligible approvers under `rule`: approved once approvals reach N, rejected
/// once rejections exceed M − N (N can no longer be reached), else pending. The vote that
/// fixes the outcome decides the step; the votes not cast turn `not_required`.
pub fn quorum(rule: Rule, m: u32, approvals: u32, rejections: u32) -> Quorum {
    let n = rule.needed(m);
    if approvals >= n {
        Quorum::Approved
    } else if rejections > m.saturating_sub(n) {
        Quorum::Rejected
    } else {
        Quorum::Pending
    }
}

platform::named_schema!(
    /// A JSON Schema 2020-12 document (documentation only): a request form, or a condition
    /// over a request's variables.
    FormSchema,
    platform::schema::free_form(
        "A JSON Schema 2020-12 document: an object whose `properties` are the form's variables.",
        serde_json::json!({
            "type": "object",
            "properties": {"model": {"type": "string", "enum": ["standard-14", "performance-16"]}},
            "required": ["model"]
        }),
    )
);

/// One approval step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    #[schema(value_type = Vec<ApproverDoc>)]
    pub approvers: Vec<Approver>,
    #[schema(value_type = ApprovalRuleDoc, example = json!("any"))]
    pub rule: Rule,
}

/// What kind of approver: the requester's line manager, a group's members, or one user.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Documentation of [`Approver`]'s wire shape.
enum ApproverKind {
    Manager,
    Group,
    User,
}

/// An approver of a step: `{"type": "manager"}`, `{"type": "group", "group_id"}` or
/// `{"type": "user", "user_id"}`.
// The documented wire shape of `Approver`: one object rather than a `oneOf`, so every SDK
// generator names it the same.
#[derive(Deserialize, ToSchema)]
#[schema(as = Approver)]
#[allow(dead_code)]
struct ApproverDoc {
    #[serde(rename = "type")]
    kind: ApproverKind,
    /// With `type: group`.
    group_id: Option<Uuid>,
    /// With `type: user`.
    user_id: Option<Uuid>,
}

/// `any` or `all` of a step's approvers.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum ApprovalRuleName {
    Any,
    All,
}

/// N of a step's M approvers (1 ≤ N ≤ M).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
struct ApprovalNOf {
    #[schema(minimum = 1)]
    n_of: u32,
}

/// The documented shape of [`Rule`]: `"any"`, `"all"` or `{"n_of": N}`, each a named schema.
pub enum ApprovalRuleDoc {}

impl utoipa::PartialSchema for ApprovalRuleDoc {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{Ref, schema::OneOfBuilder};
        OneOfBuilder::new()
            .item(Ref::from_schema_name("ApprovalRuleName"))
            .item(Ref::from_schema_name("ApprovalNOf"))
            .description(Some(
                "How many of a step's M eligible approvers must approve: `any`, `all` or \
                 `{\"n_of\": N}`.",
            ))
            .into()
    }
}

impl ToSchema for ApprovalRuleDoc {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("ApprovalRule")
    }
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push(("ApprovalRuleName".into(), ApprovalRuleName::schema()));
        schemas.push(("ApprovalNOf".into(), ApprovalNOf::schema()));
    }
}

fn default_remind() -> u32 {
    24
}

fn default_expire() -> u32 {
    120
}

/// How an item's requests are approved: its steps in order; none is needed when the request's
/// variables match `auto_approve_when` (a JSON Schema over them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    pub steps: Vec<Step>,
    #[schema(value_type = Option<FormSchema>)]
    pub auto_approve_when: Option<Value>,
    /// Hours before a pending approver is reminded (default 24).
    #[serde(default = "default_remind")]
    pub remind_after_hours: u32,
    /// Hours before a pending approval expires and the request item is rejected (default 120).
    #[serde(default = "default_expire")]
    pub expire_after_hours: u32,
}

/// A fulfilment task: worked by a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedTask {
    pub name: String,
    pub group_id: Uuid,
}

/// A fulfilment stage: its tasks run in parallel; the next stage starts when they are done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedStage {
    pub name: String,
    pub tasks: Vec<PlannedTask>,
}

/// How an approved request item is fulfilled: stages in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfilmentPlan {
    pub stages: Vec<PlannedStage>,
}

impl FulfilmentPlan {
    /// The groups its tasks name, for the caller to look up.
    pub fn groups(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.stages
            .iter()
            .flat_map(|s| s.tasks.iter().map(|t| t.group_id))
    }
}

impl ApprovalPolicy {
    /// The groups its approvers name, for the caller to look up.
    pub fn groups(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.steps
            .iter()
            .flat_map(|s| s.approvers.iter())
            .filter_map(|a| match a {
                Approver::Group { group_id } => Some(*group_id),
                _ => None,
            })
    }

    /// The users its approvers name.
    pub fn users(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.steps
            .iter()
            .flat_map(|s| s.approvers.iter())
            .filter_map(|a| match a {
                Approver::User { user_id } => Some(*user_id),
                _ => None,
            })
    }
}

/// Checks a policy at `pointer`, given each named group's member count (absent: unknown group).
/// M of a step counts the manager and each user as one, a group as its members.
pub fn check_policy(
    pointer: &str,
    policy: &ApprovalPolicy,
    group_sizes: &HashMap<Uuid, u32>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if policy.steps.is_empty() || policy.steps.len() > 10 {
        errors.push(FieldError::new(
            format!("{pointer}/steps"),
            "invalid_steps",
            "a policy has 1–10 steps",
        ));
    }
    for (i, step) in policy.steps.iter().enumerate() {
        let at = format!("{pointer}/steps/{i}");
        if step.name.trim().is_empty() || step.name.chars().count() > 200 {
            errors.push(FieldError::new(
                format!("{at}/name"),
                "invalid_length",
                "a step's name is 1–200 characters",
            ));
        }
        if step.approvers.is_empty() {
            errors.push(FieldError::new(
                format!("{at}/approvers"),
                "required",
                "a step needs at least one approver",
            ));
        }
        let mut m = 0;
        for (j, approver) in step.approvers.iter().enumerate() {
            m += match approver {
                Approver::Group { group_id } => match group_sizes.get(group_id) {
                    Some(size) => *size,
                    None => {
                        errors.push(FieldError::new(
                            format!("{at}/approvers/{j}/group_id"),
                            "unknown_reference",
                            "no such group in this tenant",
                        ));
                        0
                    }
                },
                Approver::Manager | Approver::User { .. } => 1,
            };
        }
        if m == 0 && !step.approvers.is_empty() {
            errors.push(FieldError::new(
                format!("{at}/approvers"),
                "no_eligible_approvers",
                "the step's groups have no members",
            ));
        } else if let Rule::NOf(n) = step.rule
            && (n == 0 || n > m)
        {
            errors.push(FieldError::new(
                format!("{at}/rule/n_of"),
                "out_of_range",
                format!("n_of is between 1 and the step's {m} eligible approvers"),
            ));
        }
    }
    if policy.remind_after_hours == 0 || policy.expire_after_hours <= policy.remind_after_hours {
        errors.push(FieldError::new(
            format!("{pointer}/expire_after_hours"),
            "out_of_range",
            "approvals are reminded after at least an hour and expire after the reminder",
        ));
    }
    if let Some(when) = &policy.auto_approve_when
        && let Err(more) =
            form::parse_condition(&format!("{pointer}/auto_approve_when"), when.clone())
    {
        errors.extend(more);
    }
    errors
}

/// Checks a fulfilment plan at `pointer`, given which of its groups exist.
pub fn check_plan(
    pointer: &str,
    plan: &FulfilmentPlan,
    known_group: impl Fn(Uuid) -> bool,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if plan.stages.is_empty() || plan.stages.len() > 20 {
        errors.push(FieldError::new(
            format!("{pointer}/stages"),
            "invalid_stages",
            "a plan has 1–20 stages",
        ));
    }
    for (i, stage) in plan.stages.iter().enumerate() {
        let at = format!("{pointer}/stages/{i}");
        if stage.tasks.is_empty() || stage.tasks.len() > 20 {
            errors.push(FieldError::new(
                format!("{at}/tasks"),
                "invalid_tasks",
                "a stage has 1–20 tasks",
            ));
        }
        for (j, task) in stage.tasks.iter().enumerate() {
            if task.name.trim().is_empty() || task.name.chars().count() > 200 {
                errors.push(FieldError::new(
                    format!("{at}/tasks/{j}/name"),
                    "invalid_length",
                    "a task's name is 1–200 characters",
                ));
            }
            if !known_group(task.group_id) {
                errors.push(FieldError::new(
                    format!("{at}/tasks/{j}/group_id"),
                    "unknown_reference",
                    "no such group in this tenant",
                ));
            }
        }
    }
    errors
}

/// A new item, checked (references still to be looked up by the caller).
#[derive(Debug)]
pub struct NewItem {
    pub key: String,
    pub name: String,
    pub description: String,
    pub service_id: Uuid,
    pub offering_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
    pub form: Form,
    pub price_amount: Option<String>,
    pub currency: Option<String>,
    pub cost_amount: Option<String>,
    pub max_quantity: i32,
    pub availability: Availability,
    pub approval_policy: Option<ApprovalPolicy>,
    pub fulfilment_plan: FulfilmentPlan,
}

/// A change to an item, checked; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ItemChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub category_id: Option<Option<Uuid>>,
    pub form: Option<Form>,
    pub price_amount: Option<Option<String>>,
    pub currency: Option<Option<String>>,
    pub cost_amount: Option<Option<String>>,
    pub max_quantity: Option<i32>,
    pub availability: Option<Availability>,
    pub approval_policy: Option<Option<ApprovalPolicy>>,
    pub fulfilment_plan: Option<FulfilmentPlan>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn amounts_are_normalized_decimal_strings() {
        assert_eq!(parse_amount("/p", "1200").expect("ok"), "1200.00");
        assert_eq!(parse_amount("/p", "1150.5").expect("ok"), "1150.50");
        assert_eq!(parse_amount("/p", "0.99").expect("ok"), "0.99");
        assert_eq!(parse_amount("/p", "007.10").expect("ok"), "7.10");
        for bad in [
            "",
            "-1",
            "1.234",
            "1,00",
            "1e3",
            "1.",
            ".5",
            "1 000",
            "9999999999999",
        ] {
            assert!(parse_amount("/p", bad).is_err(), "{bad:?} is not an amount");
        }
    }

    #[test]
    fn rules_deserialize_from_their_documented_shapes() {
        let any: Rule = serde_json::from_str("\"any\"").expect("any");
        let n: Rule = serde_json::from_str("{\"n_of\": 2}").expect("n_of");
        assert_eq!((any, n), (Rule::Any, Rule::NOf(2)));
    }

    #[test]
    fn n_of_must_lie_within_the_eligible_approvers() {
        let group = Uuid::from_u128(7);
        let policy = ApprovalPolicy {
            steps: vec![Step {
                name: "CAB".into(),
                approvers: vec![Approver::Manager, Approver::Group { group_id: group }],
                rule: Rule::NOf(4),
            }],
            auto_approve_when: None,
            remind_after_hours: 24,
            expire_after_hours: 120,
        };
        let sizes = HashMap::from([(group, 2)]);
        let errors = check_policy("/approval_policy", &policy, &sizes);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].pointer, "/approval_policy/steps/0/rule/n_of");
        let sizes = HashMap::from([(group, 3)]);
        assert!(check_policy("/approval_policy", &policy, &sizes).is_empty());
    }

    /// Replays `votes` (true = approve) one at a time: the outcome is fixed at the first vote
    /// that makes it certain and never changes after.
    fn replay(rule: Rule, m: u32, votes: &[bool]) -> (Quorum, Option<usize>) {
        let (mut yes, mut no) = (0, 0);
        for (i, v) in votes.iter().enumerate() {
            if *v {
                yes += 1
            } else {
                no += 1
            }
            let q = quorum(rule, m, yes, no);
            if q != Quorum::Pending {
                return (q, Some(i));
            }
        }
        (Quorum::Pending, None)
    }

    proptest! {
        /// Approved iff at least N approve; decided at the vote that makes it certain.
        #[test]
        fn quorum_is_approved_iff_n_approve_and_decided_at_the_deciding_vote(
            m in 1u32..12,
            n_seed in 0u32..12,
            kind in 0u8..3,
            votes in proptest::collection::vec(any::<bool>(), 0..12),
        ) {
            let rule = match kind { 0 => Rule::Any, 1 => Rule::All, _ => Rule::NOf(1 + n_seed % m) };
            let n = rule.needed(m);
            let votes: Vec<bool> = votes.into_iter().take(m as usize).collect();
            let (outcome, at) = replay(rule, m, &votes);
            let approvals = votes.iter().filter(|v| **v).count() as u32;
            let rejections = votes.len() as u32 - approvals;
            if votes.len() as u32 == m {
                // Everyone voted: approved exactly when N approved.
                prop_assert_eq!(outcome == Quorum::Approved, approvals >= n);
                prop_assert_ne!(outcome, Quorum::Pending);
            }
            if let Some(i) = at {
                let before = &votes[..i];
                let yes_before = before.iter().filter(|v| **v).count() as u32;
                let no_before = before.len() as u32 - yes_before;
                // Still open one vote earlier, and every way the rest could vote agrees.
                prop_assert_eq!(quorum(rule, m, yes_before, no_before), Quorum::Pending);
                let yes_at = yes_before + u32::from(votes[i]);
                let no_at = no_before + u32::from(!votes[i]);
                let left = m - yes_at - no_at;
                for extra_yes in 0..=left {
                    let final_yes = yes_at + extra_yes;
                    prop_assert_eq!(final_yes >= n, outcome == Quorum::Approved);
                }
            } else {
                prop_assert!(approvals < n && rejections <= m - n);
            }
        }
    }
}
