pub mod capacity;
pub mod events;
pub mod figures;
pub mod improvements;
pub mod zones;
