//! Incident rules, free of I/O.
pub mod lifecycle;
pub mod priority;
pub mod calendar;
pub mod sla;
