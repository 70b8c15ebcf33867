//! QPS 3.0 (`/qps/rest/...`): connectors, global scan configuration, account facts.

pub mod account_info;
pub mod connector;
pub mod criteria;
pub mod envelope;
mod ops;
pub mod scan;

pub use ops::PAGE_SIZE;
