//! Automation rules: a project's managers say "when this happens (trigger), to issues like
//! these (an OQL condition), do that (actions)", and the job queue does it as the rule's owner,
//! keeping an execution log. `rules` holds the definitions and their checks, `actions` what a
//! rule can do, `engine` the jobs that run rules (and the loop guard), `pages` and `api` the
//! two ways to manage them.

pub mod actions;
pub mod api;
pub mod engine;
pub mod pages;
pub mod rules;
