//! analytics' integration tests: one binary, one module per area.
mod figures;
mod rebuild;
mod store;
