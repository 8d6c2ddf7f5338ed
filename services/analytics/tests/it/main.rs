//! analytics' integration tests: one binary, one module per area.
mod capacity;
mod charts;
mod export;
mod figures;
mod improvements;
mod migration;
mod rebuild;
mod store;
mod volumes;
