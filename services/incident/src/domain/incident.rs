//! An incident as it is opened and changed: checked values only. The HTTP types parse into
//! these (`TryFrom`, every bad field reported at once); the store writes them.
use platform::{
    FieldError,
    validate::{Validator, multiline, text},
};
use sea_orm::{DeriveActiveEnum, EnumIter, sea_query::StringLen};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::priority::{Level, Matrix, Priority};

/// An incident's id: a uuid that cannot be passed where a tenant's or user's is meant. Stored
/// and serialized as the plain uuid.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    sea_orm::DeriveValueType,
)]
#[serde(transparent)]
pub struct IncidentId(pub Uuid);

impl IncidentId {
    pub fn as_uuid(self) -> Uuid {
        self.0
    }
}

impl std::fmt::Display for IncidentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Uuid> for IncidentId {
    fn from(id: Uuid) -> Self {
        IncidentId(id)
    }
}

impl From<IncidentId> for Uuid {
    fn from(id: IncidentId) -> Self {
        id.0
    }
}

/// A new incident, every field checked.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub title: String,
    pub description: String,
    pub impact: Level,
    pub urgency: Level,
    /// An agent's priority instead of the matrix's.
    pub priority_override: Option<Priority>,
    pub caller_id: Option<Uuid>,
    pub assignment_group_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub category: Option<String>,
    pub subcategory: Option<String>,
    pub service_id: Option<Uuid>,
    pub configuration_item_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    pub major: bool,
    /// `None`: the creator's default (`Channel::default_for`).
    pub channel: Option<Channel>,
}

impl NewIncident {
    pub fn matrix_priority(&self) -> Priority {
        Matrix::default().priority(self.impact, self.urgency)
    }

    pub fn priority(&self) -> Priority {
        self.priority_override
            .unwrap_or_else(|| self.matrix_priority())
    }

    /// Whether the incident names anything that must exist in its tenant.
    pub fn references_others(&self) -> bool {
        self.caller_id.is_some()
            || self.assignment_group_id.is_some()
            || self.assignee_id.is_some()
            || self.parent_id.is_some()
            || self.service_id.is_some()
            || self.configuration_item_id.is_some()
    }
}

/// A change of an incident's details: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct IncidentChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub impact: Option<Level>,
    pub urgency: Option<Level>,
    pub category: Option<String>,
    pub subcategory: Option<String>,
    pub service_id: Option<Uuid>,
    pub configuration_item_id: Option<Uuid>,
}

impl IncidentChanges {
    /// The fields this change sets, as `incident.updated` names them.
    pub fn named(&self) -> Vec<String> {
        [
            ("title", self.title.is_some()),
            ("description", self.description.is_some()),
            ("impact", self.impact.is_some()),
            ("urgency", self.urgency.is_some()),
            ("category", self.category.is_some()),
            ("subcategory", self.subcategory.is_some()),
            ("service_id", self.service_id.is_some()),
            (
                "configuration_item_id",
                self.configuration_item_id.is_some(),
            ),
        ]
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(name, _)| name.to_string())
        .collect()
    }
}

// Who reads a comment: `public`, the caller and the agents; `internal`, a work note for the
// tenant's agents only. (Plain comments: the published schema has no description here.)
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Visibility {
    #[sea_orm(string_value = "public")]
    Public,
    #[sea_orm(string_value = "internal")]
    Internal,
}

impl Visibility {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
        }
    }
}

/// How an incident reached the service desk (ServiceNow's contact type; ADR 44).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[schema(as = IncidentChannel)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Channel {
    #[sea_orm(string_value = "portal")]
    Portal,
    #[sea_orm(string_value = "email")]
    Email,
    #[sea_orm(string_value = "phone")]
    Phone,
    #[sea_orm(string_value = "chat")]
    Chat,
    #[sea_orm(string_value = "walk_in")]
    WalkIn,
    #[sea_orm(string_value = "api")]
    Api,
    #[sea_orm(string_value = "monitoring")]
    Monitoring,
}

impl Channel {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Portal => "portal",
            Channel::Email => "email",
            Channel::Phone => "phone",
            Channel::Chat => "chat",
            Channel::WalkIn => "walk_in",
            Channel::Api => "api",
            Channel::Monitoring => "monitoring",
        }
    }

    /// Where an incident whose creator named no channel came from: an API client's through
    /// the API, a requester's (who may raise only their own) through the portal, an agent's by
    /// phone (agents log calls).
    pub fn default_for(is_client: bool, works_the_queue: bool) -> Channel {
        match (is_client, works_the_queue) {
            (true, _) => Channel::Api,
            (false, false) => Channel::Portal,
            (false, true) => Channel::Phone,
        }
    }
}

/// The checks the fields of an incident share, recording each error in `v`.
pub struct Fields<'a> {
    pub v: &'a mut Validator,
}

impl Fields<'_> {
    pub fn title(&mut self, raw: &str) -> Option<String> {
        self.v.check(text("/title", raw, 200))
    }

    pub fn description(&mut self, raw: &str) -> Option<String> {
        self.v.check(multiline("/description", raw, 20_000))
    }

    /// Impact or urgency: 1, 2 or 3.
    pub fn level(&mut self, pointer: &str, raw: i64) -> Option<Level> {
        let level = u8::try_from(raw).ok().and_then(Level::new);
        if level.is_none() {
            self.v.push(FieldError::new(
                pointer,
                "out_of_range",
                "must be 1, 2 or 3",
            ));
        }
        level
    }

    /// A category or subcategory code.
    pub fn classification(&mut self, pointer: &str, raw: &Option<String>) -> Option<String> {
        let value = raw.as_deref()?;
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !ok {
            self.v.push(FieldError::new(
                pointer,
                "invalid_code",
                "use 1-64 of a-z, 0-9, '_' and '-'",
            ));
        }
        Some(value.to_string())
    }

    pub fn priority(&mut self, raw: Option<i64>) -> Option<Priority> {
        let raw = raw?;
        let parsed = u8::try_from(raw).ok().and_then(Priority::new);
        if parsed.is_none() {
            self.v.push(FieldError::new(
                "/priority",
                "out_of_range",
                "must be between 1 and 5",
            ));
        }
        parsed
    }

    pub fn subcategory_needs_category(&mut self, sub: &Option<String>, category: &Option<String>) {
        if sub.is_some() && category.is_none() {
            self.v.push(FieldError::new(
                "/subcategory",
                "category_required",
                "a subcategory needs a category",
            ));
        }
    }
}
