//! change's integration tests: one binary, one module per area.
mod cab;
mod calendar;
mod changes;
mod conflicts;
mod isolation;
mod refresh;
mod templates;
