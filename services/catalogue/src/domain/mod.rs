//! The catalogue's rules, free of I/O.
pub mod article;
pub mod category;
pub mod cmdb;
pub mod cmdb_graph;
pub mod cmdb_import;
pub mod cmdb_reconcile;
pub mod deflection;
pub mod effective;
pub mod form;
pub mod item;
pub mod offering;
pub mod portfolio;
pub mod request;
