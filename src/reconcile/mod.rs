//! The reconcile core: desired (spec + secrets + defaults) × observed (Qualys,
//! normalized) → a [`plan::Plan`], and the executor that applies it. Shared by
//! `plan`/`apply`/`demo` and the controller; everything but [`snapshot`] and
//! [`execute`] is pure.
//!
//! Pipeline: [`object::DesiredObject`] (resolved by the front end) →
//! [`snapshot::Snapshot::observe`] (batched searches) →
//! [`planner::plan_object`] (identity, diff, policies) →
//! [`execute::execute`] (client calls in dependency order).

pub mod absent;
pub mod account;
pub mod build;
pub mod connector;
pub mod desired;
pub mod execute;
pub mod export;
pub mod fields;
pub mod group;
pub mod identity;
pub mod object;
pub mod org;
pub mod plan;
pub mod planner;
pub mod registration;
pub mod report;
pub mod scope;
pub mod snapshot;
