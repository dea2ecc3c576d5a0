//! Identity: who someone is and what they may do.
//!
//! - Accounts: `users` (the row and what it holds), `accounts` (administrators' changes,
//!   profiles), `teams`.
//! - Signing in: `passwords` (policy), `sessions`, `mfa` (TOTP), `directory` (LDAP),
//!   `sso` (OpenID Connect), `resets` (forgotten and changed passwords), `tokens` (API
//!   tokens with scopes, service accounts).
//! - Access: `roles`, `schemes`, `project_roles`, and `permissions::authorize`, the one
//!   decision every page and API route asks.
//! - `*_pages` and `*_api` are their pages and REST API.

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
