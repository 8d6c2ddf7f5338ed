//! Persistence. Every function takes a transaction already scoped to the tenant and filters by
//! tenant itself too.
pub mod approvals;
pub mod articles;
pub mod categories;
pub mod cmdb;
pub mod cmdb_entities;
pub mod cmdb_import;
pub mod cmdb_sharing;
pub mod entities;
pub mod items;
mod json;
pub mod offerings;
pub mod overrides;
pub mod requests;
pub mod services;
pub mod suggestions;
pub mod tasks;
