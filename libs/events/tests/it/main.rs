//! events's integration tests: one binary, one module per area.
mod envelope;
mod schemas;
