//! The analytics tables.
pub mod events;
