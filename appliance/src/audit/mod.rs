//! The audit trail: who changed what, when, from where, with the state before and after.
//!
//! `record` is the write-path rule of DESIGN.md in one call: domain code calls it inside the
//! transaction that makes a change, and it writes the audit row and the outbox event beside it.
//! Each node's `sealer` seals committed rows into a hash chain; `chain` checks it.

pub mod chain;
pub mod log;
pub mod pages;
pub mod sealer;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text};
use serde_json::{json, Value};

/// Who is acting, and from where. `user_id` is `None` for anonymous acts (a failed sign-in).
#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub ip: Option<String>,
    /// Set when an automation rule acts on its owner's behalf.
    pub via_rule: Option<RuleCause>,
}

/// The automation rule behind a change, and how deep in a chain of rules it ran: a human's
/// change is depth 0, a rule it sets off runs at 1, a rule that one's change sets off at 2.
/// Events carry it, so the loop guard can stop a chain however it loops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleCause {
    pub rule_id: i64,
    pub depth: i32,
}

impl Actor {
    pub fn user(user_id: i64, ip: Option<String>) -> Self {
        Self { user_id: Some(user_id), ip, via_rule: None }
    }

    /// Someone without an account: a CI system calling a hook, a failed sign-in.
    pub fn anonymous(ip: Option<String>) -> Self {
        Self { user_id: None, ip, via_rule: None }
    }

    /// For changes made from the command line on the host itself.
    pub fn system() -> Self {
        Self::anonymous(Some("local".to_owned()))
    }

    /// A rule acting for its owner.
    pub fn rule(owner_id: i64, cause: RuleCause) -> Self {
        Self { user_id: Some(owner_id), ip: None, via_rule: Some(cause) }
    }
}

/// One state change: `action` is `<entity>.<verb>`, e.g. `issue.created`.
pub struct Change<'a> {
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: i64,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Writes the audit row and the outbox event for `change`. Call it inside the change's
/// transaction so that all three commit or none does.
pub fn record(conn: &mut PgConnection, actor: &Actor, change: Change<'_>) -> QueryResult<()> {
    let mut payload = json!({ "actor_id": actor.user_id, "before": change.before, "after": change.after });
    if let Some(cause) = actor.via_rule {
        payload["automation"] = json!({ "rule_id": cause.rule_id, "depth": cause.depth });
    }
    // Both rows in one statement of fixed text, planned once per connection: every change
    // writes them, and as two statements each was planned on every call. It returns the event's
    // id only so that it stays prepared (`Prepared::rows_returned`).
    crate::db::Prepared(
        diesel::sql_query(
            "WITH recorded AS (INSERT INTO audit_log (actor_id, actor_ip, action, entity_type, entity_id, \
                                                  before_state, after_state, via_rule_id) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)) \
         INSERT INTO outbox (topic, entity_type, entity_id, payload) VALUES ($3, $4, $5, $9) RETURNING id",
        )
        .bind::<Nullable<BigInt>, _>(actor.user_id)
        .bind::<Nullable<Text>, _>(actor.ip.as_deref())
        .bind::<Text, _>(change.action)
        .bind::<Text, _>(change.entity_type)
        .bind::<BigInt, _>(change.entity_id)
        .bind::<Nullable<Jsonb>, _>(change.before.as_ref())
        .bind::<Nullable<Jsonb>, _>(change.after.as_ref())
        .bind::<Nullable<BigInt>, _>(actor.via_rule.map(|cause| cause.rule_id))
        .bind::<Jsonb, _>(&payload),
    )
    .rows_returned(conn)
    .map(drop)
}
