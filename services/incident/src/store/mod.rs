//! Persistence. Every function takes a transaction already scoped to the tenant and filters by
//! tenant itself too.
pub mod entities;
pub mod incidents;
pub mod people;
pub mod problems;
pub mod sla;

use chrono::{DateTime, SubsecRound, Utc};

/// Now at the microsecond precision PostgreSQL keeps.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
