//! Running the installation: the health of each of its parts (`health`), shown to
//! administrators on the system page and through the API (`pages`), and the metrics a
//! monitoring system scrapes (`metrics`).

pub mod health;
pub mod metrics;
pub mod pages;
pub mod usage;
pub mod usage_pages;
