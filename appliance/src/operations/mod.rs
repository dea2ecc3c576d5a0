//! Running the installation: the health of each of its parts (`health`), shown to
//! administrators on the system page and through the API (`pages`).

pub mod health;
pub mod pages;
