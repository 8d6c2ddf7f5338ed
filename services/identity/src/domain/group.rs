//! An assignment group as a request describes one.

/// A group to create in a tenant: every value already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    /// Trimmed, 1–200 characters; unique in the tenant (the store enforces it).
    pub name: String,
    /// Trimmed, at most 2,000 characters, possibly empty; may span lines.
    pub description: String,
}
