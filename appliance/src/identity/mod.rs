//! Identity: accounts, passwords, sessions and sign-in, API tokens, and the permission check.

pub mod access_pages;
pub mod accounts;
pub mod admin_api;
pub mod admin_pages;
pub mod directory;
pub mod mfa;
pub mod mfa_pages;
pub mod pages;
pub mod password_pages;
pub mod passwords;
pub mod permissions;
pub mod profile_pages;
pub mod project_roles;
pub mod project_roles_api;
pub mod resets;
pub mod roles;
pub mod schemes;
pub mod secrets;
pub mod sessions;
pub mod sso;
pub mod sso_pages;
pub mod teams;
pub mod tokens;
pub mod users;
