//! qualys-operator: Qualys cloud connectors as Kubernetes objects.
//!
//! * [`crd`]: the Kubernetes API (types, generated CRDs, offline validation).
//! * [`qualys`]: the Qualys API client (no Kubernetes types).
//! * [`simulator`]: a local Qualys for the demo, the tests and the benchmarks.
//! * [`cli`]: the command-line front ends.

pub mod cli;
pub mod controller;
pub mod crd;
pub mod manifest;
pub mod metrics;
pub mod qualys;
pub mod reconcile;
pub mod simulator;
pub mod telemetry;
