pub mod backlog;
pub mod csv;
pub mod definitions;
pub mod figures;
pub mod freshness;
pub mod period;
pub mod sketch;
pub mod summary;
