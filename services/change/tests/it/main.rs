//! change's integration tests: one binary, one module per area.
mod changes;
mod conflicts;
