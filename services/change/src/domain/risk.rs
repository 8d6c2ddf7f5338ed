//! A change's risk, explained: ordered rules over facts of the change, and a questionnaire
//! whose answers score it. Every rule that matches and the questionnaire's band each name a
//! risk; the highest wins, and each contributes a line to the explanation. Nothing matching
//! leaves the type's default (`Risk::baseline`).
//!
//! Pure: the facts and answers are passed in.
use std::collections::{BTreeMap, HashSet};

use platform::{
    FieldError,
    validate::{Validator, text},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::lifecycle::ChangeType;

/// `low` < `moderate` < `high` < `very_high`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Moderate,
    High,
    VeryHigh,
}

impl Risk {
    pub const ALL: [Risk; 4] = [Risk::Low, Risk::Moderate, Risk::High, Risk::VeryHigh];

    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Moderate => "moderate",
            Risk::High => "high",
            Risk::VeryHigh => "very_high",
        }
    }

    pub fn parse(raw: &str) -> Option<Risk> {
        Risk::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// A type's risk when no rule or answer weighs the change (ADR 36).
    pub fn baseline(t: ChangeType) -> Risk {
        match t {
            ChangeType::Standard => Risk::Low,
            ChangeType::Normal => Risk::Moderate,
            ChangeType::Emergency => Risk::High,
        }
    }
}

/// What a rule may look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    /// How many CIs the change names.
    CiCount,
    /// Hours from now to `planned_start` (negative once started; absent without a window).
    LeadTimeHours,
    /// Whether the window falls outside every maintenance window that applies.
    OutsideMaintenanceWindow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RiskOp)]
pub enum Op {
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
}

/// `{fact, op, value}`: a number for `ci_count` and `lead_time_hours`, `true`/`false` (with
/// `eq`) for `outside_maintenance_window`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RiskCondition)]
pub struct Condition {
    pub fact: Fact,
    pub op: Op,
    /// A number, or `true`/`false`.
    pub value: Value,
}

/// One rule: when `condition` holds, the change is at least `risk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Rules are listed and explained in this order; unique.
    pub order: u32,
    pub name: String,
    pub condition: Condition,
    pub risk: Risk,
}

/// The most rules a tenant may have.
pub const MAX_RULES: usize = 100;

/// Rules as given, checked: unique orders, a named rule, a value of the fact's kind.
pub fn rules(v: &mut Validator, mut given: Vec<Rule>) -> Option<Vec<Rule>> {
    if given.len() > MAX_RULES {
        v.push(FieldError::new(
            "/rules",
            "too_many",
            format!("at most {MAX_RULES} rules"),
        ));
        return None;
    }
    let mut orders = HashSet::new();
    let mut ok = true;
    for (i, rule) in given.iter_mut().enumerate() {
        match v.check(text(&format!("/rules/{i}/name"), &rule.name, 200)) {
            Some(name) => rule.name = name,
            None => ok = false,
        }
        if !orders.insert(rule.order) {
            v.push(FieldError::new(
                format!("/rules/{i}/order"),
                "duplicate",
                "another rule has this order",
            ));
            ok = false;
        }
        if let Err(detail) = condition_kind(&rule.condition) {
            v.push(FieldError::new(
                format!("/rules/{i}/condition/value"),
                "invalid_value",
                detail,
            ));
            ok = false;
        }
    }
    given.sort_by_key(|r| r.order);
    ok.then_some(given)
}

fn condition_kind(c: &Condition) -> Result<(), &'static str> {
    match c.fact {
        Fact::CiCount | Fact::LeadTimeHours if c.value.is_number() => Ok(()),
        Fact::CiCount | Fact::LeadTimeHours => Err("a number for this fact"),
        Fact::OutsideMaintenanceWindow if c.value.is_boolean() && c.op == Op::Eq => Ok(()),
        Fact::OutsideMaintenanceWindow => Err("`eq` with true or false for this fact"),
    }
}

/// The facts of one change that rules look at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Facts {
    pub ci_count: usize,
    pub lead_time_hours: Option<f64>,
    pub outside_maintenance_window: bool,
}

impl Condition {
    pub fn holds(&self, facts: &Facts) -> bool {
        let compare = |x: f64, y: f64| match self.op {
            Op::Lt => x < y,
            Op::Lte => x <= y,
            Op::Gt => x > y,
            Op::Gte => x >= y,
            Op::Eq => x == y,
        };
        match self.fact {
            Fact::CiCount => self
                .value
                .as_f64()
                .is_some_and(|y| compare(facts.ci_count as f64, y)),
            Fact::LeadTimeHours => match (facts.lead_time_hours, self.value.as_f64()) {
                (Some(x), Some(y)) => compare(x, y),
                _ => false,
            },
            Fact::OutsideMaintenanceWindow => {
                self.value.as_bool() == Some(facts.outside_maintenance_window)
            }
        }
    }
}

/// One answer a question offers, and what it scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub score: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The key its answer is given under.
    pub key: String,
    pub text: String,
    pub choices: Vec<Choice>,
}

/// Scores `min_score..=max_score` mean `risk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub min_score: u32,
    pub max_score: u32,
    pub risk: Risk,
}

/// Questions whose answers add up to a score, and the bands that turn a score into a risk:
/// they cover every score from 0 to the highest possible, with no gap and no overlap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "questions": [
        {"key": "outage", "text": "Does it need an outage?", "choices": [
            {"value": "no", "label": "No", "score": 0}, {"value": "yes", "label": "Yes", "score": 3}]},
        {"key": "tested", "text": "Was it tested?", "choices": [
            {"value": "yes", "label": "Yes", "score": 0}, {"value": "no", "label": "No", "score": 2}]}
    ],
    "thresholds": [
        {"min_score": 0, "max_score": 1, "risk": "low"},
        {"min_score": 2, "max_score": 3, "risk": "moderate"},
        {"min_score": 4, "max_score": 5, "risk": "very_high"}
    ]
}))]
pub struct Questionnaire {
    pub questions: Vec<Question>,
    pub thresholds: Vec<Threshold>,
}

/// The most questions, and choices per question.
const MAX_QUESTIONS: usize = 50;
const MAX_CHOICES: usize = 20;

impl Questionnaire {
    /// The highest score the answers can add up to.
    pub fn max_score(&self) -> u32 {
        self.questions
            .iter()
            .map(|q| q.choices.iter().map(|c| c.score).max().unwrap_or(0))
            .sum()
    }

    /// Checks the questions and that the thresholds cover `0..=max_score` exactly.
    pub fn check(v: &mut Validator, q: Questionnaire) -> Option<Questionnaire> {
        let mut errors = Vec::new();
        if q.questions.is_empty() || q.questions.len() > MAX_QUESTIONS {
            errors.push(FieldError::new(
                "/questions",
                "invalid_length",
                format!("1 to {MAX_QUESTIONS} questions"),
            ));
        }
        let mut keys = HashSet::new();
        for (i, question) in q.questions.iter().enumerate() {
            errors.extend(text(&format!("/questions/{i}/key"), &question.key, 64).err());
            errors.extend(text(&format!("/questions/{i}/text"), &question.text, 500).err());
            if !keys.insert(question.key.as_str()) {
                errors.push(FieldError::new(
                    format!("/questions/{i}/key"),
                    "duplicate",
                    "another question has this key",
                ));
            }
            if question.choices.is_empty() || question.choices.len() > MAX_CHOICES {
                errors.push(FieldError::new(
                    format!("/questions/{i}/choices"),
                    "invalid_length",
                    format!("1 to {MAX_CHOICES} choices"),
                ));
            }
            let mut values = HashSet::new();
            for (j, choice) in question.choices.iter().enumerate() {
                if !values.insert(choice.value.as_str()) {
                    errors.push(FieldError::new(
                        format!("/questions/{i}/choices/{j}/value"),
                        "duplicate",
                        "another choice of this question has this value",
                    ));
                }
            }
        }
        errors.extend(threshold_gaps(&q.thresholds, q.max_score()));
        let ok = errors.is_empty();
        for e in errors {
            v.push(e);
        }
        ok.then_some(q)
    }

    /// The score of complete `answers` (every question answered with one of its choices).
    pub fn score(&self, answers: &Answers) -> Option<u32> {
        self.questions
            .iter()
            .map(|q| {
                let given = answers.get(&q.key)?;
                q.choices
                    .iter()
                    .find(|c| &c.value == given)
                    .map(|c| c.score)
            })
            .sum()
    }

    pub fn band(&self, score: u32) -> Option<Risk> {
        self.thresholds
            .iter()
            .find(|t| (t.min_score..=t.max_score).contains(&score))
            .map(|t| t.risk)
    }

    /// Answers checked against the questions: each question once, with one of its choices.
    pub fn check_answers(&self, answers: &Answers) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for key in answers.keys() {
            if !self.questions.iter().any(|q| &q.key == key) {
                errors.push(FieldError::new(
                    format!("/answers/{key}"),
                    "unknown_question",
                    "the questionnaire has no question with this key",
                ));
            }
        }
        for q in &self.questions {
            match answers.get(&q.key) {
                None => errors.push(FieldError::new(
                    format!("/answers/{}", q.key),
                    "required",
                    "answer every question",
                )),
                Some(given) if !q.choices.iter().any(|c| &c.value == given) => {
                    errors.push(FieldError::new(
                        format!("/answers/{}", q.key),
                        "invalid_choice",
                        format!(
                            "one of: {}",
                            q.choices
                                .iter()
                                .map(|c| c.value.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        errors
    }
}

/// Where `thresholds` leave a score of `0..=max` without a band, or give it two.
pub fn threshold_gaps(thresholds: &[Threshold], max: u32) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut order: Vec<(usize, &Threshold)> = thresholds.iter().enumerate().collect();
    order.sort_by_key(|(_, t)| (t.min_score, t.max_score));
    // The next score no band covers yet.
    let mut next: u64 = 0;
    for (i, t) in order {
        let at = |field: &str| format!("/thresholds/{i}/{field}");
        if t.max_score < t.min_score {
            errors.push(FieldError::new(
                at("max_score"),
                "before_min",
                "max_score must not be below min_score",
            ));
            continue;
        }
        let min = u64::from(t.min_score);
        if min > next {
            errors.push(FieldError::new(
                at("min_score"),
                "threshold_gap",
                format!("no threshold covers the scores {next} to {}", min - 1),
            ));
        } else if min < next {
            errors.push(FieldError::new(
                at("min_score"),
                "threshold_overlap",
                format!("the score {min} already has a threshold"),
            ));
        }
        next = next.max(u64::from(t.max_score) + 1);
    }
    if next <= u64::from(max) {
        errors.push(FieldError::new(
            "/thresholds",
            "threshold_gap",
            format!("no threshold covers the scores {next} to {max}"),
        ));
    }
    errors
}

/// Answers by question key.
pub type Answers = BTreeMap<String, String>;

/// Where a line of the explanation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The type's default: nothing else matched.
    Default,
    Rule,
    Questionnaire,
}

/// One reason for the risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reason {
    pub source: Source,
    pub name: String,
    /// The rule's order (absent for the questionnaire and the default).
    pub order: Option<u32>,
    pub risk: Risk,
}

/// A risk and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub risk: Risk,
    pub explanation: Vec<Reason>,
}

/// The risk of a change of type `t` with `facts`: the highest of the matching rules and the
/// questionnaire's band for `answers` (when complete); the type's default if none applies.
pub fn assess(
    t: ChangeType,
    facts: &Facts,
    rules: &[Rule],
    questionnaire: Option<&Questionnaire>,
    answers: Option<&Answers>,
) -> Assessment {
    let mut explanation: Vec<Reason> = rules
        .iter()
        .filter(|r| r.condition.holds(facts))
        .map(|r| Reason {
            source: Source::Rule,
            name: r.name.clone(),
            order: Some(r.order),
            risk: r.risk,
        })
        .collect();
    if let (Some(q), Some(a)) = (questionnaire, answers)
        && let Some(score) = q.score(a)
        && let Some(risk) = q.band(score)
    {
        explanation.push(Reason {
            source: Source::Questionnaire,
            name: format!("questionnaire score {score}"),
            order: None,
            risk,
        });
    }
    if explanation.is_empty() {
        explanation.push(Reason {
            source: Source::Default,
            name: format!("{} change", t.as_str()),
            order: None,
            risk: Risk::baseline(t),
        });
    }
    let risk = explanation
        .iter()
        .map(|r| r.risk)
        .max()
        .unwrap_or(Risk::baseline(t));
    Assessment { risk, explanation }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(order: u32, fact: Fact, op: Op, value: Value, risk: Risk) -> Rule {
        Rule {
            order,
            name: format!("rule {order}"),
            condition: Condition { fact, op, value },
            risk,
        }
    }

    fn standard_rules() -> Vec<Rule> {
        vec![
            rule(1, Fact::CiCount, Op::Gte, json!(10), Risk::High),
            rule(2, Fact::LeadTimeHours, Op::Lt, json!(24), Risk::High),
            rule(
                3,
                Fact::OutsideMaintenanceWindow,
                Op::Eq,
                json!(true),
                Risk::Moderate,
            ),
            rule(4, Fact::CiCount, Op::Gte, json!(50), Risk::VeryHigh),
        ]
    }

    fn facts(ci_count: usize, lead: Option<f64>, outside: bool) -> Facts {
        Facts {
            ci_count,
            lead_time_hours: lead,
            outside_maintenance_window: outside,
        }
    }

    #[test]
    fn the_highest_matching_risk_wins_and_every_match_explains_it() {
        // (facts, expected risk, the orders of the rules that matched)
        let table: &[(Facts, Risk, &[u32])] = &[
            (facts(1, Some(72.0), false), Risk::Moderate, &[]),
            (facts(1, Some(72.0), true), Risk::Moderate, &[3]),
            (facts(10, Some(72.0), false), Risk::High, &[1]),
            (facts(1, Some(2.0), true), Risk::High, &[2, 3]),
            (facts(60, Some(2.0), true), Risk::VeryHigh, &[1, 2, 3, 4]),
            // No window: lead-time rules do not match.
            (facts(1, None, false), Risk::Moderate, &[]),
        ];
        for (f, risk, orders) in table {
            let a = assess(ChangeType::Normal, f, &standard_rules(), None, None);
            assert_eq!(a.risk, *risk, "{f:?}");
            let matched: Vec<u32> = a.explanation.iter().filter_map(|r| r.order).collect();
            assert_eq!(matched, *orders, "{f:?}");
            if orders.is_empty() {
                assert_eq!(a.explanation[0].source, Source::Default);
            }
        }
    }

    #[test]
    fn a_rule_may_lower_a_type_below_its_default() {
        let rules = vec![rule(1, Fact::CiCount, Op::Eq, json!(1), Risk::Low)];
        let a = assess(
            ChangeType::Emergency,
            &facts(1, None, false),
            &rules,
            None,
            None,
        );
        assert_eq!(a.risk, Risk::Low);
    }

    fn questionnaire(thresholds: Vec<(u32, u32, Risk)>) -> Questionnaire {
        let choice = |value: &str, score| Choice {
            value: value.into(),
            label: value.into(),
            score,
        };
        Questionnaire {
            questions: vec![
                Question {
                    key: "outage".into(),
                    text: "Does it need an outage?".into(),
                    choices: vec![choice("no", 0), choice("yes", 3)],
                },
                Question {
                    key: "tested".into(),
                    text: "Was it tested?".into(),
                    choices: vec![choice("yes", 0), choice("no", 2)],
                },
            ],
            thresholds: thresholds
                .into_iter()
                .map(|(min_score, max_score, risk)| Threshold {
                    min_score,
                    max_score,
                    risk,
                })
                .collect(),
        }
    }

    #[test]
    fn thresholds_cover_every_score_once() {
        // Scores run 0..=5.
        type Bands = Vec<(u32, u32, Risk)>;
        let table: &[(Bands, &[(&str, &str)])] = &[
            (
                vec![
                    (0, 1, Risk::Low),
                    (2, 3, Risk::Moderate),
                    (4, 5, Risk::High),
                ],
                &[],
            ),
            // Unordered is fine.
            (vec![(2, 5, Risk::High), (0, 1, Risk::Low)], &[]),
            // A band may run past the highest score.
            (vec![(0, 9, Risk::Low)], &[]),
            (
                vec![(0, 1, Risk::Low), (3, 5, Risk::High)],
                &[("/thresholds/1/min_score", "threshold_gap")],
            ),
            (
                vec![(1, 5, Risk::Low)],
                &[("/thresholds/0/min_score", "threshold_gap")],
            ),
            (vec![(0, 3, Risk::Low)], &[("/thresholds", "threshold_gap")]),
            (
                vec![(0, 3, Risk::Low), (3, 5, Risk::High)],
                &[("/thresholds/1/min_score", "threshold_overlap")],
            ),
            (
                vec![(0, 5, Risk::Low), (4, 2, Risk::High)],
                &[("/thresholds/1/max_score", "before_min")],
            ),
            (vec![], &[("/thresholds", "threshold_gap")]),
        ];
        for (bands, expected) in table {
            let q = questionnaire(bands.clone());
            assert_eq!(q.max_score(), 5);
            let found: Vec<(String, String)> = threshold_gaps(&q.thresholds, q.max_score())
                .into_iter()
                .map(|e| (e.pointer, e.code))
                .collect();
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(p, c)| (p.to_string(), c.to_string()))
                .collect();
            assert_eq!(found, expected, "{bands:?}");
        }
    }

    #[test]
    fn answers_score_into_a_band_and_the_highest_of_band_and_rules_wins() {
        let q = questionnaire(vec![
            (0, 1, Risk::Low),
            (2, 3, Risk::Moderate),
            (4, 5, Risk::VeryHigh),
        ]);
        let answers = |outage: &str, tested: &str| -> Answers {
            [("outage", outage), ("tested", tested)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let table = [
            (answers("no", "yes"), Risk::High),
            (answers("yes", "no"), Risk::VeryHigh),
            (answers("no", "no"), Risk::High),
        ];
        let rules = vec![rule(1, Fact::CiCount, Op::Gte, json!(1), Risk::High)];
        for (a, risk) in table {
            let got = assess(
                ChangeType::Normal,
                &facts(1, None, false),
                &rules,
                Some(&q),
                Some(&a),
            );
            assert_eq!(got.risk, risk, "{a:?}");
            assert_eq!(got.explanation.len(), 2);
            assert_eq!(got.explanation[1].source, Source::Questionnaire);
        }
        let partial: Answers = [("outage".to_string(), "yes".to_string())].into();
        let errors = q.check_answers(&partial);
        assert_eq!(errors[0].pointer, "/answers/tested");
        assert_eq!(q.score(&partial), None);
        let wrong = answers("maybe", "yes");
        assert_eq!(q.check_answers(&wrong)[0].code, "invalid_choice");
    }

    #[test]
    fn rules_are_checked_field_by_field() {
        let mut v = Validator::new();
        let bad = vec![
            rule(1, Fact::CiCount, Op::Gte, json!("ten"), Risk::High),
            rule(
                1,
                Fact::OutsideMaintenanceWindow,
                Op::Gt,
                json!(true),
                Risk::High,
            ),
        ];
        assert_eq!(rules(&mut v, bad), None);
        let errors = v.finish_with(Some(())).expect_err("errors");
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/rules/0/condition/value",
                "/rules/1/order",
                "/rules/1/condition/value"
            ]
        );
    }
}
