//! The change advisory board: an approval policy's stages, each a group voting under a rule,
//! and how votes decide a stage and a round.
//!
//! A stage's quorum is `need` approvals; it is approved once they are in and rejected once
//! they no longer can be (the approvals so far plus the voters yet to vote fall short). An
//! abstention takes its voter out of `all`'s count. A round is approved when every stage is,
//! and rejected as soon as one stage is.
//!
//! Pure: the members and votes are passed in.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use platform::FieldError;

/// How a stage's votes decide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuorumRule {
    /// One approval.
    Any,
    /// Every member who does not abstain (at least one).
    All,
    /// `required` approvals.
    NOfM,
}

/// What a voter decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = VoteDecision)]
pub enum Decision {
    Approve,
    Reject,
    Abstain,
}

impl Decision {
    pub const ALL: [Decision; 3] = [Decision::Approve, Decision::Reject, Decision::Abstain];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
            Decision::Abstain => "abstain",
        }
    }

    pub fn parse(raw: &str) -> Option<Decision> {
        Decision::ALL.into_iter().find(|d| d.as_str() == raw)
    }
}

/// Where a stage, or a round, stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ApprovalOutcome)]
pub enum Outcome {
    Pending,
    Approved,
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Approved => "approved",
            Outcome::Rejected => "rejected",
        }
    }
}

/// The votes of one stage in one round, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Who may vote: the group's members, less the change's requester.
    pub eligible: u32,
    pub approve: u32,
    pub reject: u32,
    pub abstain: u32,
}

impl Tally {
    pub fn count(eligible: u32, votes: impl IntoIterator<Item = Decision>) -> Tally {
        let mut t = Tally {
            eligible,
            ..Tally::default()
        };
        for d in votes {
            match d {
                Decision::Approve => t.approve += 1,
                Decision::Reject => t.reject += 1,
                Decision::Abstain => t.abstain += 1,
            }
        }
        t
    }

    fn outstanding(&self) -> u32 {
        self.eligible
            .saturating_sub(self.approve + self.reject + self.abstain)
    }
}

/// The approvals a stage needs under `rule` (`required` counts for `n_of_m` only).
pub fn need(rule: QuorumRule, required: u32, t: &Tally) -> u32 {
    match rule {
        QuorumRule::Any => 1,
        QuorumRule::All => t.eligible.saturating_sub(t.abstain).max(1),
        QuorumRule::NOfM => required.max(1),
    }
}

/// Where a stage stands after tally `t`.
pub fn stage_outcome(rule: QuorumRule, required: u32, t: &Tally) -> Outcome {
    let need = need(rule, required, t);
    if t.approve >= need {
        Outcome::Approved
    } else if t.approve + t.outstanding() < need {
        Outcome::Rejected
    } else {
        Outcome::Pending
    }
}

/// Where a round stands, given its stages'.
pub fn round_outcome(stages: &[Outcome]) -> Outcome {
    if stages.contains(&Outcome::Rejected) {
        Outcome::Rejected
    } else if stages.iter().all(|s| *s == Outcome::Approved) {
        Outcome::Approved
    } else {
        Outcome::Pending
    }
}

/// A stage of a policy, as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ApprovalStage)]
pub struct Stage {
    pub name: String,
    /// The group whose members vote (the tenant's own or a provider's).
    pub group_id: uuid::Uuid,
    pub rule: QuorumRule,
    /// Approvals needed under `n_of_m`; 1 under `any`; the members under `all`.
    #[serde(default = "one")]
    pub required: u32,
}

fn one() -> u32 {
    1
}

/// The most stages a policy may have.
pub const MAX_STAGES: usize = 10;

/// Checks stages against the size of each one's group (`None`: no such group): names are
/// unique and `required` is between 1 and the number of approvers.
pub fn check_stages(stages: &[Stage], members: &[Option<usize>]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if stages.is_empty() || stages.len() > MAX_STAGES {
        errors.push(FieldError::new(
            "/stages",
            "invalid_length",
            format!("1 to {MAX_STAGES} stages"),
        ));
    }
    for (i, (stage, size)) in stages.iter().zip(members).enumerate() {
        if let Err(e) = platform::validate::text(&format!("/stages/{i}/name"), &stage.name, 100) {
            errors.push(e);
        }
        if stages[..i].iter().any(|s| s.name == stage.name) {
            errors.push(FieldError::new(
                format!("/stages/{i}/name"),
                "duplicate",
                "another stage has this name",
            ));
        }
        let Some(size) = size else {
            errors.push(FieldError::new(
                format!("/stages/{i}/group_id"),
                "unknown_reference",
                "no such group in this tenant or its providers",
            ));
            continue;
        };
        let size = u32::try_from(*size).unwrap_or(u32::MAX);
        let required = match stage.rule {
            QuorumRule::NOfM => stage.required,
            QuorumRule::Any => 1,
            QuorumRule::All => size.max(1),
        };
        if stage.required == 0 {
            errors.push(FieldError::new(
                format!("/stages/{i}/required"),
                "out_of_range",
                "at least 1",
            ));
        } else if required > size {
            errors.push(FieldError::new(
                format!("/stages/{i}/required"),
                "exceeds_approvers",
                format!("the group has {size} approvers; this stage needs {required}"),
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;
    use Outcome::*;

    #[test]
    fn quorum_rules_decide_a_stage_once_reached_or_out_of_reach() {
        // (rule, required, eligible, votes, outcome)
        let table: &[(QuorumRule, u32, u32, &[Decision], Outcome)] = &[
            (QuorumRule::Any, 1, 3, &[], Pending),
            (QuorumRule::Any, 1, 3, &[Approve], Approved),
            (QuorumRule::Any, 1, 3, &[Reject], Pending),
            (QuorumRule::Any, 1, 3, &[Reject, Abstain], Pending),
            (QuorumRule::Any, 1, 3, &[Reject, Abstain, Reject], Rejected),
            (QuorumRule::Any, 1, 2, &[Reject, Approve], Approved),
            (QuorumRule::All, 1, 3, &[Approve, Approve], Pending),
            (
                QuorumRule::All,
                1,
                3,
                &[Approve, Approve, Approve],
                Approved,
            ),
            (QuorumRule::All, 1, 3, &[Approve, Reject], Rejected),
            // An abstention leaves the others to decide.
            (
                QuorumRule::All,
                1,
                3,
                &[Approve, Abstain, Approve],
                Approved,
            ),
            // No one left to approve.
            (QuorumRule::All, 1, 2, &[Abstain, Abstain], Rejected),
            (QuorumRule::NOfM, 2, 4, &[Approve], Pending),
            (QuorumRule::NOfM, 2, 4, &[Approve, Approve], Approved),
            (QuorumRule::NOfM, 2, 4, &[Reject, Reject], Pending),
            (QuorumRule::NOfM, 2, 4, &[Reject, Reject, Abstain], Rejected),
            (QuorumRule::NOfM, 3, 4, &[Approve, Reject, Approve], Pending),
            (QuorumRule::NOfM, 3, 4, &[Approve, Reject, Reject], Rejected),
            // A group that lost members since the policy was written.
            (QuorumRule::NOfM, 3, 2, &[], Rejected),
            (QuorumRule::Any, 1, 0, &[], Rejected),
        ];
        for (rule, required, eligible, votes, outcome) in table {
            let t = Tally::count(*eligible, votes.iter().copied());
            assert_eq!(
                stage_outcome(*rule, *required, &t),
                *outcome,
                "{rule:?} {required} of {eligible}: {votes:?}"
            );
        }
    }

    #[test]
    fn a_round_needs_every_stage_and_falls_with_one() {
        assert_eq!(round_outcome(&[Approved, Approved]), Approved);
        assert_eq!(round_outcome(&[Approved, Pending]), Pending);
        assert_eq!(round_outcome(&[Pending, Rejected]), Rejected);
    }

    #[test]
    fn required_never_exceeds_the_approvers() {
        let stage = |rule, required| Stage {
            name: "CAB".into(),
            group_id: uuid::Uuid::nil(),
            rule,
            required,
        };
        let codes = |stages: &[Stage], sizes: &[Option<usize>]| -> Vec<(String, String)> {
            check_stages(stages, sizes)
                .into_iter()
                .map(|e| (e.pointer, e.code))
                .collect()
        };
        assert!(codes(&[stage(QuorumRule::NOfM, 2)], &[Some(2)]).is_empty());
        assert!(codes(&[stage(QuorumRule::Any, 1)], &[Some(1)]).is_empty());
        assert_eq!(
            codes(&[stage(QuorumRule::NOfM, 3)], &[Some(2)]),
            [("/stages/0/required".into(), "exceeds_approvers".into())]
        );
        assert_eq!(
            codes(&[stage(QuorumRule::All, 1)], &[Some(0)]),
            [("/stages/0/required".into(), "exceeds_approvers".into())]
        );
        assert_eq!(
            codes(&[stage(QuorumRule::Any, 1)], &[None]),
            [("/stages/0/group_id".into(), "unknown_reference".into())]
        );
        assert_eq!(codes(&[], &[])[0].1, "invalid_length");
    }
}
