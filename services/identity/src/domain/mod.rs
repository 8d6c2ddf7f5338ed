//! Identity's rules, free of I/O: passwords, lockout, opaque tokens, the audit hash chain,
//! the tenant tree and per-tenant settings, and the checked values requests parse into (new
//! users, groups, API clients and onboarded tenants).
pub mod api_client;
pub mod audit_chain;
pub mod group;
pub mod key_wrap;
pub mod lockout;
pub mod password;
pub mod settings;
pub mod tenant;
pub mod token;
pub mod user;
