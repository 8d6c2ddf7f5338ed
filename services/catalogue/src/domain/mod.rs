//! The catalogue's rules, free of I/O.
pub mod category;
pub mod offering;
pub mod portfolio;
