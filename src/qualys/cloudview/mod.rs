//! CloudView v1 (`/cloudview-api/rest/v1/...`): connector groups and v1 connectors.

pub mod groups;
pub mod reports;
pub mod scope;
