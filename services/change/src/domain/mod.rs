//! What a change is and may do, free of I/O.
pub mod change;
pub mod conflict;
pub mod impact;
pub mod lifecycle;
pub mod window;
