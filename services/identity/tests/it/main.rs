//! identity's integration tests: one binary, one module per area.
mod auth;
mod disclosure;
mod isolation;
mod key_sealing;
mod key_sets;
mod login_abuse;
mod privilege;
mod provider_settings;
mod rate_limits;
mod single_use;
mod suspension;
mod tenants;
mod users_groups_clients;
