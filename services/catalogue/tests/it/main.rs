//! catalogue's integration tests: one binary, one module per area.
mod categories;
mod cmdb;
mod cmdb_import;
mod cmdb_properties;
mod cmdb_sharing;
mod effective;
mod items;
mod knowledge;
mod offerings;
mod portfolio;
mod request_sla;
mod requests;
mod workers;
