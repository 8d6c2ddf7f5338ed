//! Persistence. Every function takes a transaction already scoped to the tenant and filters by
//! tenant itself too.
pub mod cab;
pub mod changes;
pub mod entities;
pub mod feeds;
pub mod risk;
pub mod windows;

pub use platform::record::now;
