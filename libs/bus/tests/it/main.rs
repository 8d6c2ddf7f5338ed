//! bus's integration tests: one binary, one module per area.
mod common;
mod delivery;
mod operator;
mod origin;
mod projection;
mod trace;
