//! Incident rules, free of I/O.
pub mod calendar;
pub mod capacity;
pub mod incident;
pub mod lifecycle;
pub mod priority;
pub mod queue;
pub mod sla;
