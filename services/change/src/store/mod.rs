//! Persistence. Every function takes a transaction already scoped to the tenant and filters by
//! tenant itself too.
pub mod changes;
pub mod entities;
pub mod windows;

pub use platform::record::now;
