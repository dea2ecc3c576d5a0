//! Outpost: a self-hosted, air-gap-ready work platform in one server-rendered application.
//!
//! Domains, each with its models/queries, rules and handlers: `identity` (accounts, sessions,
//! tokens, permissions), `work` (projects, issues, comments), `audit` (the audit trail),
//! `jobs` (outbox, queue, workers, scheduler), `notify` (notifications and mail), `integrations` (webhooks), `admin`
//! (host-side commands). Plumbing beside them: `config`, `db`,
//! `errors`, `pgcluster`, `server`, `telemetry`, `tls`, `web`.

pub mod admin;
pub mod attachments;
pub mod audit;
pub mod automation;
pub mod backups;
pub mod changes;
pub mod config;
pub mod db;
pub mod docs;
pub mod errors;
pub mod identity;
pub mod integrations;
pub mod jobs;
pub mod keys;
pub mod license;
pub mod manuals;
pub mod notify;
pub mod operations;
pub mod pgcluster;
pub mod privileges;
pub mod schema;
pub mod search;
pub mod server;
pub mod service_manager;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod web;
pub mod work;
