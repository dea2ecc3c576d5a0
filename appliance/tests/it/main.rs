//! Outpost's integration tests: one binary, so one PostgreSQL cluster serves the whole run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod api_conventions;
mod attachments;
mod auth;
mod automation;
mod browser;
mod cli;
mod concurrency;
mod contract;
mod csv;
mod deployments;
mod docs;
mod issue_fields;
mod jobs;
mod migrations;
mod notifications;
mod oql;
mod pages;
mod planning;
mod quickstart;
mod storage;
mod support;
mod tls;
mod webhooks;
mod workflows;
