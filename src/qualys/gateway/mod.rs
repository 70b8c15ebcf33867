//! Connectors gateway (`/connectors/v1.0/...`, JWT auth): Azure organization connectors.

mod ops;
pub mod org;
