//! The service portfolio: a service's lifecycle stage, the gates a move forward must pass, and
//! what a valid new service or change is. No I/O: the store gathers the facts a gate reads.
use sea_orm::{DeriveActiveEnum, EnumIter, sea_query::StringLen};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where a service is in its life (ITIL's service pipeline, catalogue and retired services).
/// Stored as its name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Stage {
    #[sea_orm(string_value = "strategy")]
    Strategy,
    #[sea_orm(string_value = "design")]
    Design,
    #[sea_orm(string_value = "transition")]
    Transition,
    #[sea_orm(string_value = "live")]
    Live,
    #[sea_orm(string_value = "retired")]
    Retired,
}

impl Stage {
    /// Every stage, in lifecycle order.
    pub const ORDER: [Stage; 5] = [
        Stage::Strategy,
        Stage::Design,
        Stage::Transition,
        Stage::Live,
        Stage::Retired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Strategy => "strategy",
            Stage::Design => "design",
            Stage::Transition => "transition",
            Stage::Live => "live",
            Stage::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ORDER.into_iter().find(|st| st.as_str() == s)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The stages one move away: the next one and the previous one.
    pub fn allowed_moves(self) -> Vec<Stage> {
        let i = self.index();
        [i.checked_sub(1), Some(i + 1)]
            .into_iter()
            .flatten()
            .filter_map(|j| Stage::ORDER.get(j).copied())
            .rev()
            .collect()
    }
}

/// What the gates of the stages read about a service and what refers to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readiness {
    pub owner: bool,
    pub manager: bool,
    pub support_group: bool,
    /// Offerings of the service.
    pub offerings: u64,
    /// Published catalogue items of its offerings.
    pub published_items: u64,
    /// Request items of its items that are not closed.
    pub open_request_items: u64,
}

/// Why a stage move is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageRefusal {
    /// Not one move away (409 `stage_not_allowed`, with the stages that are).
    NotAllowed { allowed: Vec<Stage> },
    /// A gate of the target stage is not met (409 `stage_blocked`, with every unmet gate).
    Blocked { blockers: Vec<&'static str> },
}

/// The unmet gates of being at `stage`: `design` and later need an owner and a manager,
/// `transition` an offering, `live` a support group and a published item; `retired` no open
/// request items.
pub fn blockers(stage: Stage, r: &Readiness) -> Vec<&'static str> {
    let mut out = Vec::new();
    if stage == Stage::Retired {
        if r.open_request_items > 0 {
            out.push("open_request_items");
        }
        return out;
    }
    if stage >= Stage::Design {
        if !r.owner {
            out.push("owner_required");
        }
        if !r.manager {
            out.push("manager_required");
        }
    }
    if stage >= Stage::Transition && r.offerings == 0 {
        out.push("offering_required");
    }
    if stage >= Stage::Live {
        if !r.support_group {
            out.push("support_group_required");
        }
        if r.published_items == 0 {
            out.push("published_item_required");
        }
    }
    out
}

/// Whether a service at `from` may move to `to`: one stage forward through the target's gates,
/// or one back (always).
pub fn check_move(from: Stage, to: Stage, r: &Readiness) -> Result<(), StageRefusal> {
    if !from.allowed_moves().contains(&to) {
        return Err(StageRefusal::NotAllowed {
            allowed: from.allowed_moves(),
        });
    }
    if to < from {
        return Ok(());
    }
    let blockers = blockers(to, r);
    if blockers.is_empty() {
        Ok(())
    } else {
        Err(StageRefusal::Blocked { blockers })
    }
}

/// A new service, checked: it starts in `strategy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewService {
    pub name: String,
    pub description: String,
    pub owner_id: Option<Uuid>,
    pub manager_id: Option<Uuid>,
    pub support_group_id: Option<Uuid>,
}

/// A change to a service's details, checked; `None` leaves a field as it is, `Some(None)`
/// clears a reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub owner_id: Option<Option<Uuid>>,
    pub manager_id: Option<Option<Uuid>>,
    pub support_group_id: Option<Option<Uuid>>,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};

    use super::*;

    fn ready() -> Readiness {
        Readiness {
            owner: true,
            manager: true,
            support_group: true,
            offerings: 1,
            published_items: 1,
            open_request_items: 0,
        }
    }

    #[test]
    fn moves_are_one_stage_forward_or_back() {
        assert_eq!(Stage::Strategy.allowed_moves(), vec![Stage::Design]);
        assert_eq!(
            Stage::Live.allowed_moves(),
            vec![Stage::Retired, Stage::Transition]
        );
        assert_eq!(Stage::Retired.allowed_moves(), vec![Stage::Live]);
        assert_eq!(
            check_move(Stage::Strategy, Stage::Live, &ready()),
            Err(StageRefusal::NotAllowed {
                allowed: vec![Stage::Design]
            })
        );
        assert_eq!(
            check_move(Stage::Design, Stage::Design, &ready()),
            Err(StageRefusal::NotAllowed {
                allowed: vec![Stage::Transition, Stage::Strategy]
            })
        );
    }

    #[test]
    fn each_gate_names_what_is_missing() {
        let none = Readiness::default();
        assert_eq!(
            check_move(Stage::Strategy, Stage::Design, &none),
            Err(StageRefusal::Blocked {
                blockers: vec!["owner_required", "manager_required"]
            })
        );
        let people = Readiness {
            owner: true,
            manager: true,
            ..Readiness::default()
        };
        assert_eq!(check_move(Stage::Strategy, Stage::Design, &people), Ok(()));
        assert_eq!(
            check_move(Stage::Design, Stage::Transition, &people),
            Err(StageRefusal::Blocked {
                blockers: vec!["offering_required"]
            })
        );
        assert_eq!(
            check_move(Stage::Transition, Stage::Live, &people),
            Err(StageRefusal::Blocked {
                blockers: vec![
                    "offering_required",
                    "support_group_required",
                    "published_item_required"
                ]
            })
        );
        let busy = Readiness {
            open_request_items: 2,
            ..ready()
        };
        assert_eq!(
            check_move(Stage::Live, Stage::Retired, &busy),
            Err(StageRefusal::Blocked {
                blockers: vec!["open_request_items"]
            })
        );
        assert_eq!(check_move(Stage::Live, Stage::Retired, &ready()), Ok(()));
    }

    #[test]
    fn going_back_needs_no_gate() {
        let none = Readiness::default();
        for (from, to) in [
            (Stage::Design, Stage::Strategy),
            (Stage::Live, Stage::Transition),
            (Stage::Retired, Stage::Live),
        ] {
            assert_eq!(check_move(from, to, &none), Ok(()), "{from:?} → {to:?}");
        }
    }

    #[test]
    fn stored_names_round_trip() {
        for s in Stage::ORDER {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
        }
        assert_eq!(Stage::parse("pipeline"), None);
    }

    fn readiness() -> impl Strategy<Value = Readiness> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            0u64..3,
            0u64..3,
            0u64..3,
        )
            .prop_map(|(owner, manager, support_group, o, p, r)| Readiness {
                owner,
                manager,
                support_group,
                offerings: o,
                published_items: p,
                open_request_items: r,
            })
    }

    /// What can happen to a service: the facts its gates read change, or someone asks for a
    /// stage.
    #[derive(Debug, Clone)]
    enum Step {
        Facts(Readiness),
        Move(usize),
    }

    /// The lifecycle written down a second time, as a table, independently of `check_move`:
    /// one stage at a time, back freely, forward only through the target's gates.
    struct Lifecycle;

    fn gates_hold(target: usize, r: &Readiness) -> bool {
        let people = r.owner && r.manager;
        match target {
            0 => true,
            1 => people,
            2 => people && r.offerings > 0,
            3 => people && r.offerings > 0 && r.support_group && r.published_items > 0,
            _ => r.open_request_items == 0,
        }
    }

    impl ReferenceStateMachine for Lifecycle {
        type State = (usize, Readiness);
        type Transition = Step;

        fn init_state() -> BoxedStrategy<Self::State> {
            readiness().prop_map(|r| (0, r)).boxed()
        }

        fn transitions(_: &Self::State) -> BoxedStrategy<Step> {
            prop_oneof![
                readiness().prop_map(Step::Facts),
                (0usize..5).prop_map(Step::Move),
            ]
            .boxed()
        }

        fn apply((at, facts): Self::State, step: &Step) -> Self::State {
            match step {
                Step::Facts(r) => (at, r.clone()),
                Step::Move(to) if *to + 1 == at => (*to, facts),
                Step::Move(to) if *to == at + 1 && gates_hold(*to, &facts) => (*to, facts),
                Step::Move(_) => (at, facts),
            }
        }
    }

    /// The system under test: a service's stage moved by `check_move`.
    struct Service;

    impl StateMachineTest for Service {
        type SystemUnderTest = (Stage, Readiness);
        type Reference = Lifecycle;

        fn init_test(reference: &(usize, Readiness)) -> Self::SystemUnderTest {
            (Stage::ORDER[reference.0], reference.1.clone())
        }

        fn apply(
            (at, facts): Self::SystemUnderTest,
            _: &(usize, Readiness),
            step: Step,
        ) -> Self::SystemUnderTest {
            match step {
                Step::Facts(r) => (at, r),
                Step::Move(to) => {
                    let to = Stage::ORDER[to];
                    match check_move(at, to, &facts) {
                        Ok(()) => (to, facts),
                        Err(StageRefusal::Blocked { blockers: b }) => {
                            assert!(!b.is_empty(), "a refusal names what is missing");
                            (at, facts)
                        }
                        Err(StageRefusal::NotAllowed { allowed }) => {
                            assert!(!allowed.contains(&to));
                            (at, facts)
                        }
                    }
                }
            }
        }

        fn check_invariants(sut: &Self::SystemUnderTest, reference: &(usize, Readiness)) {
            assert_eq!(
                sut.0,
                Stage::ORDER[reference.0],
                "the stage the model reached"
            );
        }
    }

    prop_state_machine! {
        /// Any sequence of fact changes and stage requests leaves a service where the lifecycle
        /// table says: one stage at a time, back freely, forward only through closed gates.
        #[test]
        fn the_stage_machine_follows_the_lifecycle_table(sequential 1..60 => Service);
    }
}
