//! Persistence. Every function takes a transaction already scoped to the tenant and filters by
//! tenant itself too.
pub mod cab;
pub mod changes;
pub mod entities;
pub mod feeds;
pub mod incidents;
pub mod risk;
pub mod templates;
pub mod timers;
pub mod windows;

pub use platform::record::now;
