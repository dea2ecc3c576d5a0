//! The audit trail: who changed what, when, from where, with the state before and after.
//!
//! `record` is the write-path rule of DESIGN.md in one call: domain code calls it inside the
//! transaction that makes a change, and it writes the audit row and the outbox event beside it.

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::jobs::outbox;
use crate::schema::audit_log;

/// Who is acting, and from where. `user_id` is `None` for anonymous acts (a failed sign-in).
#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub ip: Option<String>,
}

impl Actor {
    pub fn user(user_id: i64, ip: Option<String>) -> Self {
        Self { user_id: Some(user_id), ip }
    }

    /// For changes made from the command line on the host itself.
    pub fn system() -> Self {
        Self { user_id: None, ip: Some("local".to_owned()) }
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

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewAuditRow<'a> {
    actor_id: Option<i64>,
    actor_ip: Option<&'a str>,
    action: &'a str,
    entity_type: &'a str,
    entity_id: i64,
    before_state: Option<&'a Value>,
    after_state: Option<&'a Value>,
}

/// Writes the audit row and the outbox event for `change`. Call it inside the change's
/// transaction so that all three commit or none does.
pub fn record(conn: &mut PgConnection, actor: &Actor, change: Change<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values(NewAuditRow {
            actor_id: actor.user_id,
            actor_ip: actor.ip.as_deref(),
            action: change.action,
            entity_type: change.entity_type,
            entity_id: change.entity_id,
            before_state: change.before.as_ref(),
            after_state: change.after.as_ref(),
        })
        .execute(conn)?;
    let payload = json!({ "actor_id": actor.user_id, "before": change.before, "after": change.after });
    outbox::enqueue(conn, change.action, change.entity_type, change.entity_id, &payload)
}
