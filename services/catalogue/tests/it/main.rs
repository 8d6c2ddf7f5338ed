//! catalogue's integration tests: one binary, one module per area.
mod offerings;
mod portfolio;
