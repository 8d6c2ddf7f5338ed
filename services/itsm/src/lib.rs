//! The `itsm` binary's library: the load-test data generator behind `itsm seed --tenants`,
//! the CMDB import and the analytics rebuild from the command line.
//! Which services run, and how, is `suite::SERVICES` run by `host`.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod analytics;
pub mod cmdb;
pub mod load;
