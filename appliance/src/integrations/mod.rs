//! Integrations with other systems: outgoing webhooks (signed, retried, logged, and kept away
//! from addresses they must not reach).

pub mod delivery;
pub mod networks;
pub mod pages;
pub mod webhooks;
