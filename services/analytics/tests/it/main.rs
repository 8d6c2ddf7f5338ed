//! analytics' integration tests: one binary, one module per area.
mod export;
mod figures;
mod rebuild;
mod store;
