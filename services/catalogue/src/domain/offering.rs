//! What a valid offering is.
use uuid::Uuid;

/// A new offering of a service, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOffering {
    pub service_id: Uuid,
    pub name: String,
    pub description: String,
    pub support_group_id: Option<Uuid>,
}

/// A change to an offering, checked; `None` leaves a field as it is, `Some(None)` clears the
/// support group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferingChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub support_group_id: Option<Option<Uuid>>,
}
