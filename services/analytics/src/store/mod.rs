pub mod events;
pub mod figures;
pub mod zones;
