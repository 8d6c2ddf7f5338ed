//! Knowledge articles: the versions of an article and how they move. An article is a line of
//! versions; at most one is published (what readers see) and at most one is being worked on
//! (`draft` or `review`, always the newest). Editing a published or retired article starts a
//! new draft version that supersedes the published one when it is published itself. Whoever
//! wrote a version may not publish it. No I/O: the store loads the versions and applies the
//! [`Effect`]s decided here.
use sea_orm::{DeriveActiveEnum, EnumIter, sea_query::StringLen};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where a version is in its life. Stored as its name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum ArticleState {
    #[sea_orm(string_value = "draft")]
    Draft,
    #[sea_orm(string_value = "review")]
    Review,
    #[sea_orm(string_value = "published")]
    Published,
    #[sea_orm(string_value = "retired")]
    Retired,
}

impl ArticleState {
    pub const ALL: [ArticleState; 4] = [
        ArticleState::Draft,
        ArticleState::Review,
        ArticleState::Published,
        ArticleState::Retired,
    ];

    /// A version still being written or reviewed.
    pub fn is_working(self) -> bool {
        matches!(self, ArticleState::Draft | ArticleState::Review)
    }
}

/// Who an article is written for: `requesters` see only theirs; agents see both.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Audience {
    #[sea_orm(string_value = "requesters")]
    Requesters,
    #[sea_orm(string_value = "agents")]
    Agents,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Requesters => "requesters",
            Audience::Agents => "agents",
        }
    }
}

/// One version of an article, as far as its lifecycle goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: i32,
    pub state: ArticleState,
    /// Everyone who wrote or edited this version; none of them may publish it.
    pub contributors: Vec<Uuid>,
}

/// What a decision changes, for the store to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `version` moves to `to`.
    Set { version: i32, to: ArticleState },
    /// A new draft `version` is written by `author`, copied from `from` (the newest version).
    NewDraft {
        version: i32,
        from: i32,
        author: Uuid,
    },
    /// `by` edits the draft `version`.
    Edit { version: i32, by: Uuid },
}

/// Why a lifecycle request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such move from where the article is; these are possible.
    NotAllowed { allowed: Vec<ArticleState> },
    /// The version is in review: send it back to draft to edit it.
    InReview,
    /// The publisher wrote or edited the version.
    PublisherIsContributor,
}

/// An article's versions, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versions(pub Vec<Version>);

impl Versions {
    pub fn newest(&self) -> Option<&Version> {
        self.0.last()
    }

    /// The version being written or reviewed, if any (always the newest).
    pub fn working(&self) -> Option<&Version> {
        self.newest().filter(|v| v.state.is_working())
    }

    /// The version readers see, if any.
    pub fn published(&self) -> Option<&Version> {
        self.0.iter().find(|v| v.state == ArticleState::Published)
    }

    /// The states the article may be moved to (`POST …/transitions`).
    pub fn allowed(&self) -> Vec<ArticleState> {
        let mut allowed = Vec::new();
        match self.working().map(|v| v.state) {
            Some(ArticleState::Draft) => allowed.push(ArticleState::Review),
            Some(ArticleState::Review) => {
                allowed.extend([ArticleState::Draft, ArticleState::Published])
            }
            _ => {}
        }
        if self.published().is_some() {
            allowed.push(ArticleState::Retired);
        }
        allowed
    }

    /// `actor` moves the article to `to`: a working version to `review`, back to `draft` or to
    /// `published` (superseding the published one), or the published version to `retired`.
    pub fn transition(&self, to: ArticleState, actor: Uuid) -> Result<Vec<Effect>, Refusal> {
        if !self.allowed().contains(&to) {
            return Err(Refusal::NotAllowed {
                allowed: self.allowed(),
            });
        }
        let set = |v: &Version, to| Effect::Set {
            version: v.version,
            to,
        };
        match (to, self.working(), self.published()) {
            (ArticleState::Retired, _, Some(p)) => Ok(vec![set(p, ArticleState::Retired)]),
            (ArticleState::Published, Some(w), published) => {
                if w.contributors.contains(&actor) {
                    return Err(Refusal::PublisherIsContributor);
                }
                let mut effects: Vec<Effect> = published
                    .map(|p| set(p, ArticleState::Retired))
                    .into_iter()
                    .collect();
                effects.push(set(w, ArticleState::Published));
                Ok(effects)
            }
            (to, Some(w), _) => Ok(vec![set(w, to)]),
            _ => Err(Refusal::NotAllowed {
                allowed: self.allowed(),
            }),
        }
    }

    /// `actor` edits the article: the draft in place, or a new draft version after a published
    /// or retired one. A version in review is not edited.
    pub fn edit(&self, actor: Uuid) -> Result<Effect, Refusal> {
        match self.newest() {
            Some(v) if v.state == ArticleState::Draft => Ok(Effect::Edit {
                version: v.version,
                by: actor,
            }),
            Some(v) if v.state == ArticleState::Review => Err(Refusal::InReview),
            Some(v) => Ok(Effect::NewDraft {
                version: v.version + 1,
                from: v.version,
                author: actor,
            }),
            None => Err(Refusal::NotAllowed { allowed: vec![] }),
        }
    }

    /// The versions after `effects`.
    pub fn apply(&mut self, effects: &[Effect]) {
        for e in effects {
            match *e {
                Effect::Set { version, to } => {
                    if let Some(v) = self.0.iter_mut().find(|v| v.version == version) {
                        v.state = to;
                    }
                }
                Effect::NewDraft {
                    version, author, ..
                } => self.0.push(Version {
                    version,
                    state: ArticleState::Draft,
                    contributors: vec![author],
                }),
                Effect::Edit { version, by } => {
                    if let Some(v) = self.0.iter_mut().find(|v| v.version == version)
                        && !v.contributors.contains(&by)
                    {
                        v.contributors.push(by);
                    }
                }
            }
        }
    }
}

/// The longest title and body (a knowledge base is not a file store).
pub const MAX_TITLE: usize = 200;
pub const MAX_BODY: usize = 100_000;

#[cfg(test)]
#[allow(clippy::expect_used)] // A test fails loudly.
mod tests {
    use proptest::prelude::*;
    use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};

    use super::*;

    fn people() -> [Uuid; 3] {
        [Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)]
    }

    fn first_draft(author: Uuid) -> Versions {
        Versions(vec![Version {
            version: 1,
            state: ArticleState::Draft,
            contributors: vec![author],
        }])
    }

    #[test]
    fn an_author_never_publishes_their_own_version() {
        let [ann, bob, _] = people();
        let mut a = first_draft(ann);
        let review = a.transition(ArticleState::Review, ann).expect("to review");
        a.apply(&review);
        assert_eq!(
            a.transition(ArticleState::Published, ann),
            Err(Refusal::PublisherIsContributor)
        );
        let publish = a.transition(ArticleState::Published, bob).expect("publish");
        a.apply(&publish);
        assert_eq!(a.published().map(|v| v.version), Some(1));
    }

    #[test]
    fn editing_a_published_article_drafts_a_version_that_supersedes_it() {
        let [ann, bob, _] = people();
        let mut a = first_draft(ann);
        for (to, by) in [(ArticleState::Review, ann), (ArticleState::Published, bob)] {
            let e = a.transition(to, by).expect("move");
            a.apply(&e);
        }
        let edit = a.edit(bob).expect("edit");
        assert_eq!(
            edit,
            Effect::NewDraft {
                version: 2,
                from: 1,
                author: bob
            }
        );
        a.apply(&[edit]);
        assert_eq!(a.published().map(|v| v.version), Some(1), "still read");
        let e = a.transition(ArticleState::Review, bob).expect("review");
        a.apply(&e);
        assert_eq!(a.edit(ann), Err(Refusal::InReview));
        assert_eq!(
            a.transition(ArticleState::Published, bob),
            Err(Refusal::PublisherIsContributor)
        );
        let e = a.transition(ArticleState::Published, ann).expect("publish");
        a.apply(&e);
        let states: Vec<_> = a.0.iter().map(|v| v.state).collect();
        assert_eq!(states, vec![ArticleState::Retired, ArticleState::Published]);
    }

    /// What can happen to an article: someone edits it or asks for a state.
    #[derive(Debug, Clone)]
    enum Step {
        Edit(usize),
        Move(ArticleState, usize),
    }

    /// The lifecycle written down a second time, independently of `Versions`: the newest
    /// version's state, the published version (if any), and who wrote the working version.
    #[derive(Debug, Clone)]
    struct Model {
        newest: i32,
        newest_state: ArticleState,
        published: Option<i32>,
        writers: Vec<usize>,
    }

    struct Lifecycle;

    impl ReferenceStateMachine for Lifecycle {
        type State = Model;
        type Transition = Step;

        fn init_state() -> BoxedStrategy<Model> {
            (0usize..3)
                .prop_map(|author| Model {
                    newest: 1,
                    newest_state: ArticleState::Draft,
                    published: None,
                    writers: vec![author],
                })
                .boxed()
        }

        fn transitions(_: &Model) -> BoxedStrategy<Step> {
            prop_oneof![
                (0usize..3).prop_map(Step::Edit),
                (
                    proptest::sample::select(ArticleState::ALL.to_vec()),
                    0usize..3
                )
                    .prop_map(|(to, who)| Step::Move(to, who)),
            ]
            .boxed()
        }

        fn apply(mut m: Model, step: &Step) -> Model {
            use ArticleState::*;
            match (step, m.newest_state) {
                (Step::Edit(who), Draft) if !m.writers.contains(who) => m.writers.push(*who),
                (Step::Edit(_), Draft | Review) => {}
                (Step::Edit(who), Published | Retired) => {
                    m.newest += 1;
                    m.newest_state = Draft;
                    m.writers = vec![*who];
                }
                (Step::Move(Review, _), Draft) | (Step::Move(Draft, _), Review) => {
                    m.newest_state = if m.newest_state == Draft {
                        Review
                    } else {
                        Draft
                    };
                }
                (Step::Move(Published, who), Review) if !m.writers.contains(who) => {
                    m.newest_state = Published;
                    m.published = Some(m.newest);
                }
                (Step::Move(Retired, _), _) if m.published.is_some() => {
                    if m.published == Some(m.newest) {
                        m.newest_state = Retired;
                    }
                    m.published = None;
                }
                _ => {}
            }
            m
        }
    }

    struct Article;

    impl StateMachineTest for Article {
        type SystemUnderTest = Versions;
        type Reference = Lifecycle;

        fn init_test(m: &Model) -> Versions {
            first_draft(people()[m.writers[0]])
        }

        fn apply(mut sut: Versions, _: &Model, step: Step) -> Versions {
            let (result, to) = match step {
                Step::Edit(who) => (sut.edit(people()[who]).map(|e| vec![e]), None),
                Step::Move(to, who) => (sut.transition(to, people()[who]), Some(to)),
            };
            match result {
                Ok(effects) => sut.apply(&effects),
                Err(Refusal::NotAllowed { allowed }) => {
                    if let Some(to) = to {
                        assert!(!allowed.contains(&to), "refused what it allows");
                    }
                }
                Err(_) => {}
            }
            sut
        }

        fn check_invariants(sut: &Versions, m: &Model) {
            let newest = sut.newest().expect("an article has a version");
            assert_eq!(newest.version, m.newest, "the newest version");
            assert_eq!(newest.state, m.newest_state, "the newest version's state");
            assert_eq!(sut.published().map(|v| v.version), m.published);
            let published = sut
                .0
                .iter()
                .filter(|v| v.state == ArticleState::Published)
                .count();
            assert!(published <= 1, "at most one published version");
            let working = sut.0.iter().filter(|v| v.state.is_working()).count();
            assert!(working <= 1, "at most one working version");
            for pair in sut.0.windows(2) {
                assert_eq!(pair[0].version + 1, pair[1].version, "versions follow on");
                assert!(!pair[0].state.is_working(), "only the newest is worked on");
            }
        }
    }

    prop_state_machine! {
        /// Any sequence of edits and state requests by any of three people keeps an article
        /// where the lifecycle model says: one published and one working version at most, a
        /// new draft after publication, never published by one of its writers.
        #[test]
        fn the_article_lifecycle_follows_the_model(sequential 1..60 => Article);
    }
}
