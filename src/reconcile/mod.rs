//! The reconcile core: desired (spec + secrets + defaults) × observed (Qualys,
//! normalized) → a [`plan::Plan`], and the executor that applies it. Shared by
//! `plan`/`apply`/`demo` and the controller; the pure parts have no I/O.

pub mod desired;
pub mod fields;
pub mod identity;
pub mod plan;
