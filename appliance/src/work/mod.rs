//! Work management: projects, workflows, issues and comments, the OQL query language, with
//! their pages and API.

pub mod api;
pub mod comments;
pub mod issue_list;
pub mod issue_pages;
pub mod issues;
pub mod kinds;
pub mod oql;
pub mod project_pages;
pub mod projects;
pub mod workflow_pages;
pub mod workflows;
