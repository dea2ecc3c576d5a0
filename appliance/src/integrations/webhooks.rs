//! Outgoing webhooks: who manages them (a project's managers for its hooks, administrators for
//! global ones), and the `webhooks` job that turns one outbox event into one delivery per
//! interested hook.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::identity::secrets;
use crate::jobs::queue::{self, Failure, Job, NewJob};
use crate::jobs::worker::Context;
use crate::keys::{sealed_text, Keyring};
use crate::schema::{comments, issues, projects, sprints, users, webhook_deliveries, webhooks};

/// The events a hook can choose, as the outbox names them.
pub const EVENTS: &[&str] = &[
    "issue.created",
    "issue.updated",
    "issue.linked",
    "issue.unlinked",
    "issue.sprint_changed",
    "issue.work_logged",
    "comment.created",
    "sprint.created",
    "sprint.started",
    "sprint.completed",
];

/// The event an automation rule's "call webhook" action writes: delivered to the hook the
/// rule names, whatever events that hook chose.
pub const CALLED_BY_RULE: &str = "automation.webhook_called";

pub fn is_webhook_event(topic: &str) -> bool {
    EVENTS.contains(&topic)
}

#[derive(Queryable, Selectable, Serialize, Clone, Debug, utoipa::ToSchema)]
#[diesel(table_name = webhooks)]
pub struct Webhook {
    pub id: i64,
    #[serde(skip)]
    pub project_id: Option<i64>,
    pub name: String,
    pub url: String,
    /// As stored: sealed with the customer-managed key (`sealed:…`, see `signing_secret`);
    /// in the clear only in the hook `create` returns, to be shown once.
    #[serde(skip)]
    pub secret: String,
    pub events: Vec<String>,
    pub active: bool,
    #[serde(skip)]
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Serialize, Clone, Debug, utoipa::ToSchema)]
#[diesel(table_name = webhook_deliveries)]
pub struct Delivery {
    pub id: i64,
    #[serde(skip)]
    pub webhook_id: i64,
    pub event_id: i64,
    pub topic: String,
    pub payload: Value,
    pub state: String,
    pub attempts: i32,
    pub response_status: Option<i32>,
    pub response_excerpt: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

pub struct NewWebhook {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
}

impl NewWebhook {
    /// Refuses with a sentence naming the field; the target's addresses are checked again at
    /// every delivery, since names can change what they point to.
    fn validate(&self) -> Result<(), AppError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(AppError::invalid("name", "Give the webhook a name of 1 to 80 characters."));
        }
        let url = self.url.trim();
        let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else {
            return Err(AppError::invalid("url", "The URL must start with https:// or http://."));
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || host.contains('@') || url.len() > 2000 || url.chars().any(char::is_whitespace) {
            return Err(AppError::invalid(
                "url",
                "The URL needs a host, and no user name, password or spaces in it (put secrets in the signature, not the URL).",
            ));
        }
        if self.events.is_empty() {
            return Err(AppError::invalid("events", "Choose at least one event."));
        }
        if let Some(unknown) = self.events.iter().find(|e| e.as_str() != "*" && !is_webhook_event(e)) {
            return Err(AppError::invalid(
                "events",
                format!("\"{unknown}\" is not an event; choose from {}, or * for all.", EVENTS.join(", ")),
            ));
        }
        Ok(())
    }
}

pub fn list(conn: &mut PgConnection, project_id: Option<i64>) -> QueryResult<Vec<Webhook>> {
    let query = webhooks::table.select(Webhook::as_select()).order(webhooks::id).into_boxed();
    match project_id {
        Some(id) => query.filter(webhooks::project_id.eq(id)).load(conn),
        None => query.filter(webhooks::project_id.is_null()).load(conn),
    }
}

/// The hook `id` in `project_id`'s scope (or the global scope): another scope's hook is
/// "not found", not "forbidden".
pub fn find(conn: &mut PgConnection, project_id: Option<i64>, id: i64) -> Result<Webhook, AppError> {
    let found: Option<Webhook> = webhooks::table.find(id).select(Webhook::as_select()).first(conn).optional()?;
    found
        .filter(|hook| hook.project_id == project_id)
        .ok_or_else(|| AppError::not_found(format!("There is no webhook {id} here.")))
}

fn audit_state(hook: &Webhook) -> Value {
    json!({ "name": hook.name, "url": hook.url, "events": hook.events, "active": hook.active, "project_id": hook.project_id })
}

pub fn create(
    conn: &mut PgConnection,
    keys: &Keyring,
    actor: &Actor,
    project_id: Option<i64>,
    new: NewWebhook,
) -> Result<Webhook, AppError> {
    new.validate()?;
    let created_by = actor.user_id.ok_or_else(|| AppError::internal("a webhook needs a creator"))?;
    crate::license::require(conn, crate::license::Feature::Webhooks)?;
    let secret = format!("whsec_{}", secrets::random_hex(24));
    conn.transaction(|conn| {
        let mut hook: Webhook = diesel::insert_into(webhooks::table)
            .values((
                webhooks::project_id.eq(project_id),
                webhooks::name.eq(new.name.trim()),
                webhooks::url.eq(new.url.trim()),
                // Sealed below, once the row has the id the sealed secret is bound to.
                webhooks::secret.eq(&secret),
                webhooks::events.eq(&new.events),
                webhooks::created_by.eq(created_by),
            ))
            .returning(Webhook::as_returning())
            .get_result(conn)?;
        seal_secret(conn, keys, hook.id, &secret)?;
        hook.secret = secret.clone();
        audit::record(
            conn,
            actor,
            Change {
                action: "webhook.created",
                entity_type: "webhook",
                entity_id: hook.id,
                before: None,
                after: Some(audit_state(&hook)),
            },
        )?;
        Ok(hook)
    })
}

fn secret_identity(hook_id: i64) -> String {
    format!("webhook:{hook_id}:secret")
}

/// Stores `secret` sealed by a data key of its own, bound to the hook.
fn seal_secret(conn: &mut PgConnection, keys: &Keyring, hook_id: i64, secret: &str) -> Result<(), AppError> {
    let stored = sealed_text::seal(conn, keys, &secret_identity(hook_id), secret)?;
    diesel::update(webhooks::table.find(hook_id)).set(webhooks::secret.eq(stored)).execute(conn)?;
    Ok(())
}

/// The secret that signs `hook`'s deliveries, opened with the customer-managed key (a hook
/// made before the key was configured holds it in the clear until start-up seals it).
pub fn signing_secret(conn: &mut PgConnection, keys: &Keyring, hook: &Webhook) -> Result<String, AppError> {
    sealed_text::open(conn, keys, &secret_identity(hook.id), &hook.secret)
}

/// Seals the secrets of hooks made before customer-managed keys; start-up calls it.
pub fn seal_plain_secrets(conn: &mut PgConnection, keys: &Keyring) -> Result<usize, AppError> {
    let plain: Vec<(i64, String)> = webhooks::table
        .filter(webhooks::secret.not_like(format!("{}%", sealed_text::PREFIX)))
        .select((webhooks::id, webhooks::secret))
        .load(conn)?;
    for (id, secret) in &plain {
        conn.transaction(|conn| seal_secret(conn, keys, *id, secret))?;
    }
    Ok(plain.len())
}

/// Turns a hook on or off, or removes it with its delivery log.
pub fn change(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: Option<i64>,
    id: i64,
    action: &str,
) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let hook = find(conn, project_id, id)?;
        let after = match action {
            "enable" | "disable" => {
                let updated: Webhook = diesel::update(webhooks::table.find(id))
                    .set((webhooks::active.eq(action == "enable"), webhooks::updated_at.eq(Utc::now())))
                    .returning(Webhook::as_returning())
                    .get_result(conn)?;
                Some(audit_state(&updated))
            }
            "delete" => {
                diesel::delete(webhooks::table.find(id)).execute(conn)?;
                None
            }
            other => return Err(AppError::not_found(format!("Webhooks cannot be \"{other}\"d."))),
        };
        audit::record(
            conn,
            actor,
            Change {
                action: match action {
                    "enable" => "webhook.enabled",
                    "disable" => "webhook.disabled",
                    _ => "webhook.deleted",
                },
                entity_type: "webhook",
                entity_id: id,
                before: Some(audit_state(&hook)),
                after,
            },
        )?;
        Ok(())
    })
}

/// The newest deliveries of a hook.
pub fn deliveries(conn: &mut PgConnection, webhook_id: i64, limit: i64) -> QueryResult<Vec<Delivery>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .select(Delivery::as_select())
        .load(conn)
}

/// Sends delivery `delivery_id` of `hook` again, whatever happened to it before.
pub fn redeliver(conn: &mut PgConnection, actor: &Actor, hook: &Webhook, delivery_id: i64) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let updated = diesel::update(
            webhook_deliveries::table
                .filter(webhook_deliveries::id.eq(delivery_id))
                .filter(webhook_deliveries::webhook_id.eq(hook.id)),
        )
        .set(webhook_deliveries::state.eq("pending"))
        .execute(conn)?;
        if updated == 0 {
            return Err(AppError::not_found(format!("There is no delivery {delivery_id} of this webhook.")));
        }
        // A new idempotency key per request: a redelivery is a new job on purpose.
        let job = deliver_job(delivery_id)
            .with_idempotency_key(format!("redeliver:{delivery_id}:{}", secrets::random_hex(8)));
        queue::enqueue(conn, &job)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "webhook.redelivered",
                entity_type: "webhook",
                entity_id: hook.id,
                before: None,
                after: Some(json!({ "delivery_id": delivery_id })),
            },
        )?;
        Ok(())
    })
}

fn deliver_job(delivery_id: i64) -> NewJob {
    NewJob::new("webhook.deliver", json!({ "delivery_id": delivery_id })).with_max_attempts(8)
}

/// The project an event belongs to, if any.
fn project_of(
    conn: &mut PgConnection,
    entity_type: &str,
    entity_id: i64,
    after: &Value,
) -> QueryResult<Option<(i64, String)>> {
    let project_id: Option<i64> = match entity_type {
        "issue" => issues::table.find(entity_id).select(issues::project_id).first(conn).optional()?,
        "comment" => match after.get("issue_id").and_then(Value::as_i64) {
            Some(issue) => issues::table.find(issue).select(issues::project_id).first(conn).optional()?,
            None => comments::table
                .inner_join(issues::table)
                .filter(comments::id.eq(entity_id))
                .select(issues::project_id)
                .first(conn)
                .optional()?,
        },
        "sprint" => sprints::table.find(entity_id).select(sprints::project_id).first(conn).optional()?,
        "project" => Some(entity_id),
        _ => None,
    };
    match project_id {
        Some(id) => Ok(projects::table.find(id).select((projects::id, projects::key)).first(conn).optional()?),
        None => Ok(None),
    }
}

/// The `webhooks` job: one delivery (and its job) per active hook that wants this event, in
/// the event's project or global. Deliveries are unique per (hook, event), so a retried fan-out
/// adds none.
pub fn fan_out(context: &Context, job: &Job) -> Result<(), Failure> {
    let event = &job.payload;
    let field = |name: &str| event.get(name).cloned().unwrap_or(Value::Null);
    let (Some(event_id), Some(topic), Some(entity_type), Some(entity_id)) = (
        field("event_id").as_i64(),
        field("topic").as_str().map(str::to_owned),
        field("entity_type").as_str().map(str::to_owned),
        field("entity_id").as_i64(),
    ) else {
        return Err(Failure::permanent("not an outbox event payload"));
    };
    let data = field("data");
    let mut conn = context.conn()?;
    let after = data.get("after").cloned().unwrap_or(Value::Null);
    let project = project_of(&mut conn, &entity_type, entity_id, &after)?;
    let actor: Option<String> = match data.get("actor_id").and_then(Value::as_i64) {
        Some(id) => users::table.find(id).select(users::username).first(&mut conn).optional()?,
        None => None,
    };
    let chosen_by_rule = (topic == CALLED_BY_RULE).then(|| after.get("webhook_id").and_then(Value::as_i64));
    let hooks: Vec<Webhook> = webhooks::table
        .filter(webhooks::active.eq(true))
        .filter(webhooks::project_id.is_null().or(webhooks::project_id.nullable().eq(project.as_ref().map(|p| p.0))))
        .select(Webhook::as_select())
        .load(&mut conn)?
        .into_iter()
        .filter(|hook| match chosen_by_rule {
            Some(chosen) => chosen == Some(hook.id),
            None => hook.events.iter().any(|e| e == "*" || *e == topic),
        })
        .collect();
    if hooks.is_empty() {
        return Ok(());
    }
    let payload = json!({
        "schema": "outpost.webhook.v1",
        "id": format!("evt_{event_id}"),
        "event": topic,
        "occurred_at": field("occurred_at"),
        "project": project.as_ref().map(|p| p.1.clone()),
        "actor": actor,
        "entity": { "type": entity_type, "id": entity_id },
        "before": data.get("before").cloned().unwrap_or(Value::Null),
        "after": after,
    });
    conn.transaction::<_, Failure, _>(|conn| {
        for hook in &hooks {
            let created: Option<i64> = diesel::insert_into(webhook_deliveries::table)
                .values((
                    webhook_deliveries::webhook_id.eq(hook.id),
                    webhook_deliveries::event_id.eq(event_id),
                    webhook_deliveries::topic.eq(&topic),
                    webhook_deliveries::payload.eq(&payload),
                ))
                .on_conflict_do_nothing()
                .returning(webhook_deliveries::id)
                .get_result(conn)
                .optional()?;
            if let Some(delivery_id) = created {
                // A receiver sees one object's events in the order they happened.
                let job = deliver_job(delivery_id)
                    .with_idempotency_key(format!("delivery:{delivery_id}"))
                    .with_ordering_key(format!("webhook:{}:{entity_type}:{entity_id}", hook.id));
                queue::enqueue(conn, &job)?;
            }
        }
        Ok(())
    })
}
