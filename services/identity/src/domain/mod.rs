//! Identity's rules, free of I/O: passwords, lockout, opaque tokens, the audit hash chain,
//! the tenant tree and per-tenant settings.
pub mod audit_chain;
pub mod key_wrap;
pub mod lockout;
pub mod password;
pub mod settings;
pub mod tenant;
pub mod token;
