//! What a change is and may do, free of I/O.
pub mod cab;
pub mod change;
pub mod conflict;
pub mod ics;
pub mod impact;
pub mod lifecycle;
pub mod risk;
pub mod template;
pub mod window;
