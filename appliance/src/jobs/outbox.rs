//! The transactional outbox: events written in the same transaction as the change they
//! describe, so that whatever is derived from them can never miss one or see a rolled-back one.
//!
//! The dispatcher turns committed events into jobs, one per interested consumer, in event
//! order. Each job's idempotency key is its event, so dispatching an event twice (a crash
//! between queuing and marking) queues nothing new, and each job's ordering key is its
//! object, so a consumer sees one object's events in the order they happened.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};

use super::queue::{self, NewJob};
use crate::automation::engine as automation;
use crate::db;
use crate::integrations::webhooks;
use crate::notify;
use crate::schema::webhooks as webhooks_table;
use crate::schema::{automation_rules, outbox};

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = outbox)]
struct Event {
    id: i64,
    created_at: DateTime<Utc>,
    topic: String,
    entity_type: String,
    entity_id: i64,
    payload: Value,
}

/// Events handed to the queue per transaction.
pub const BATCH: i64 = 500;

/// Which optional consumers have anything to do: most installations have few webhooks and
/// rules or none, and then their fan-out jobs are skipped.
#[derive(Clone, Copy, Debug)]
pub struct Listeners {
    pub webhooks: bool,
    pub rules: bool,
}

impl Listeners {
    fn load(conn: &mut PgConnection) -> QueryResult<Listeners> {
        let webhooks =
            diesel::select(diesel::dsl::exists(webhooks_table::table.filter(webhooks_table::active.eq(true))))
                .get_result(conn)?;
        let rules = diesel::select(diesel::dsl::exists(
            automation_rules::table
                .filter(automation_rules::enabled.eq(true))
                .filter(automation_rules::trigger_kind.ne_all(["scheduled", "incoming_webhook"])),
        ))
        .get_result(conn)?;
        Ok(Listeners { webhooks, rules })
    }
}

/// The job kinds fed by an event of `topic` carrying `payload`.
pub fn consumers(topic: &str, payload: &Value, listeners: Listeners) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    let notifies = matches!(
        topic,
        "issue.created"
            | "issue.updated"
            | "comment.created"
            | "issue.linked"
            | "sprint.started"
            | "sprint.completed"
            | "automation.notified"
            | "page.created"
            | "page.updated"
    );
    if notifies && notify::events::may_notify(topic, payload) {
        kinds.push("notify");
    }
    if listeners.webhooks && (webhooks::is_webhook_event(topic) || topic == webhooks::CALLED_BY_RULE) {
        kinds.push("webhooks");
    }
    if listeners.rules && automation::listens_to(topic) {
        kinds.push("automation.event");
    }
    kinds
}

/// Queues jobs for up to `limit` undispatched events and marks them dispatched, in one
/// transaction. Returns how many events it took (0 when another node is dispatching: only one
/// dispatcher runs at a time, whichever node it is on, as two would race on event order).
pub fn dispatch(conn: &mut PgConnection, limit: i64) -> QueryResult<usize> {
    conn.transaction(|conn| {
        if !db::try_transaction_lock(conn, db::lock_key("outpost.outbox.dispatch"))? {
            return Ok(0);
        }
        let events: Vec<Event> = outbox::table
            .filter(outbox::processed_at.is_null())
            .order(outbox::id)
            .limit(limit)
            .select(Event::as_select())
            .load(conn)?;
        // The dispatcher polls: an empty poll asks nothing more of the database.
        if events.is_empty() {
            return Ok(0);
        }
        let listeners = Listeners::load(conn)?;
        for event in &events {
            for kind in consumers(&event.topic, &event.payload, listeners) {
                let job = NewJob::new(
                    kind,
                    json!({
                        "event_id": event.id,
                        "topic": event.topic,
                        "entity_type": event.entity_type,
                        "entity_id": event.entity_id,
                        "occurred_at": event.created_at,
                        "data": event.payload,
                    }),
                )
                .with_idempotency_key(format!("outbox:{}", event.id))
                .with_ordering_key(format!("{kind}:{}:{}", event.entity_type, event.entity_id));
                queue::enqueue(conn, &job)?;
            }
        }
        let ids: Vec<i64> = events.iter().map(|event| event.id).collect();
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set(outbox::processed_at.eq(diesel::dsl::now))
            .execute(conn)?;
        Ok(events.len())
    })
}
