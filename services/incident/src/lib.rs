//! Incidents, problems and the SLA engine.
//!
//! This crate starts with its domain: the incident lifecycle (ITIL states and hold reasons) and
//! the priority matrix, plain Rust without I/O. Storage, routes, events and the SLA engine build
//! on it.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod domain;
