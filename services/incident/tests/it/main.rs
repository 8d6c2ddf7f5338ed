//! incident's integration tests: one binary, one module per area.
mod api;
mod capacity;
mod common;
mod idempotency;
mod lifecycle_properties;
mod portfolio;
mod problems;
mod queue;
mod sla;
mod sla_properties;
mod suspension;
