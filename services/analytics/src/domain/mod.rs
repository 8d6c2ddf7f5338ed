//! What analytics computes from what it keeps (no I/O).
pub mod freshness;
