//! Identity: accounts, passwords, sessions and sign-in, API tokens, and the permission check.

pub mod pages;
pub mod passwords;
pub mod permissions;
pub mod project_roles;
pub mod project_roles_api;
pub mod roles;
pub mod secrets;
pub mod sessions;
pub mod tokens;
pub mod users;
