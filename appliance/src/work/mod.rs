//! Work management: projects, issues and comments, with their pages and API.

pub mod api;
pub mod comments;
pub mod issue_list;
pub mod issue_pages;
pub mod issues;
pub mod kinds;
pub mod project_pages;
pub mod projects;
