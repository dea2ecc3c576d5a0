//! Integrations with other systems: outgoing webhooks (signed, retried, logged, and kept away
//! from addresses they must not reach), and deployments that CI reports to incoming hooks.

pub mod api;
pub mod delivery;
pub mod deployment_pages;
pub mod deployments;
pub mod networks;
pub mod pages;
pub mod releases;
pub mod webhooks;
