//! Identity: accounts, passwords, sessions and sign-in, API tokens, and the permission check.

pub mod pages;
pub mod passwords;
pub mod permissions;
pub mod secrets;
pub mod sessions;
pub mod tokens;
pub mod users;
