//! Connectors gateway (JWT auth): Azure organization connectors (`/connectors/v1.0/...`) and
//! snapshot-based scan registration (`/conn/snapshot/v1.0/...`).

mod ops;
pub mod org;
pub mod snapshot;
