//! Work management: projects, workflows, issues and comments, the OQL query language, with
//! their pages and API.

pub mod api;
pub mod backlog_pages;
pub mod board_pages;
pub mod boards;
pub mod bulk;
pub mod comments;
pub mod csv_api;
pub mod csv_io;
pub mod fields;
pub mod history;
pub mod import_pages;
pub mod issue_actions_api;
pub mod issue_fields;
pub mod issue_form;
pub mod issue_list;
pub mod issue_pages;
pub mod issues;
pub mod kinds;
pub mod links;
pub mod list_columns;
pub mod list_cursor;
pub mod list_pages;
pub mod oql;
pub mod planning_api;
pub mod project_pages;
pub mod projects;
pub mod ranking;
pub mod saved_filters;
pub mod settings_api;
pub mod settings_pages;
pub mod sprints;
pub mod time_tracking;
pub mod watchers;
pub mod workflow_pages;
pub mod workflows;
