//! Reading the audit log for auditors: filters (actor, action, object, time, address),
//! newest first with a cursor, and whole exports as CSV or JSON.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::errors::AppError;
use crate::schema::{audit_log, users};
use crate::web::extract::{date_param, present};

/// Rows on one page of the log.
pub const PAGE: i64 = 100;
/// The most rows one export holds; narrow the filters for more.
pub const EXPORT_MAX: i64 = 100_000;

/// The filters as the page's form and the API take them.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// A user name; `system` for acts without an account (the command line, hooks, failed sign-ins).
    pub actor: Option<String>,
    /// An action (`issue.created`), or the start of one ending in `.` (`user.`).
    pub action: Option<String>,
    /// What was changed: `issue`, `project`, `user`…, optionally `:ID` (`issue:42`).
    pub object: Option<String>,
    /// From this day (YYYY-MM-DD, UTC); empty is no limit, as the page's form sends it.
    #[param(value_type = Option<String>, pattern = "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$", example = "2026-12-05")]
    pub from: Option<String>,
    /// Up to and including this day (YYYY-MM-DD, UTC); empty is no limit.
    #[param(value_type = Option<String>, pattern = "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$", example = "2026-12-05")]
    pub to: Option<String>,
    /// The client address, exactly.
    pub ip: Option<String>,
    /// Rows older than this id (the `next_cursor` of the page before).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub cursor: Option<String>,
    /// csv or json (exports only).
    pub format: Option<String>,
    /// Only what belongs to this project (its audit trail page); set by the route, never
    /// read from the query string.
    #[serde(skip)]
    #[param(ignore)]
    pub project: Option<i64>,
}

/// One row of the log.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    /// The acting user's name; empty for acts without an account.
    pub actor: String,
    pub actor_ip: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: i64,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// The automation rule that acted for the user, if one did.
    pub via_rule_id: Option<i64>,
    /// The row's place in the hash chain and its hash (hex); see `outpost audit verify`.
    pub chain_position: Option<i64>,
    pub row_hash: Option<String>,
}

/// A filter's text, refusing control characters (which no actor, object or address holds).
fn text<'a>(field: &str, value: &'a Option<String>) -> Result<Option<&'a str>, AppError> {
    match present(value) {
        Some(text) if text.chars().any(char::is_control) => Err(AppError::invalid(
            field,
            format!("The {field} filter holds a control character; nothing can match it."),
        )),
        other => Ok(other),
    }
}

fn at_midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// A row as read, before the actor's name and the hash are put as people read them.
#[derive(Queryable)]
struct Row {
    id: i64,
    occurred_at: DateTime<Utc>,
    actor: Option<String>,
    actor_ip: Option<String>,
    action: String,
    entity_type: String,
    entity_id: i64,
    before: Option<Value>,
    after: Option<Value>,
    via_rule_id: Option<i64>,
    chain_position: Option<i64>,
    row_hash: Option<Vec<u8>>,
}

impl From<Row> for AuditEntry {
    fn from(row: Row) -> AuditEntry {
        AuditEntry {
            id: row.id,
            occurred_at: row.occurred_at,
            actor: row.actor.unwrap_or_default(),
            actor_ip: row.actor_ip,
            action: row.action,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            before: row.before,
            after: row.after,
            via_rule_id: row.via_rule_id,
            chain_position: row.chain_position,
            row_hash: row.row_hash.map(hex::encode),
        }
    }
}

/// Rows matching `query`, newest first, at most `limit`, older than the cursor if there is one.
pub fn find(conn: &mut PgConnection, query: &AuditQuery, limit: i64) -> Result<Vec<AuditEntry>, AppError> {
    let mut rows = audit_log::table
        .left_join(users::table.on(audit_log::actor_id.eq(users::id.nullable())))
        .select((
            audit_log::id,
            audit_log::occurred_at,
            users::username.nullable(),
            audit_log::actor_ip,
            audit_log::action,
            audit_log::entity_type,
            audit_log::entity_id,
            audit_log::before_state,
            audit_log::after_state,
            audit_log::via_rule_id,
            audit_log::chain_position,
            audit_log::row_hash,
        ))
        .order(audit_log::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(actor) = text("actor", &query.actor)? {
        rows = match actor {
            "system" => rows.filter(audit_log::actor_id.is_null()),
            name => {
                let name = name.trim_start_matches('@').to_lowercase();
                let id: Option<i64> =
                    users::table.filter(users::username.eq(&name)).select(users::id).first(conn).optional()?;
                let id = id.ok_or_else(|| AppError::invalid("actor", format!("There is no user named {name}.")))?;
                rows.filter(audit_log::actor_id.eq(id))
            }
        };
    }
    if let Some(action) = text("action", &query.action)? {
        if !action.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_') {
            return Err(AppError::invalid(
                "action",
                format!("“{action}” is not an action; they look like issue.created, or user. for every user action."),
            ));
        }
        rows = match action.ends_with('.') {
            true => rows.filter(audit_log::action.like(format!("{action}%"))),
            false => rows.filter(audit_log::action.eq(action.to_owned())),
        };
    }
    if let Some(object) = text("object", &query.object)? {
        let (kind, id) = match object.split_once(':') {
            Some((kind, id)) => {
                let id = id.parse::<i64>().map_err(|_| {
                    AppError::invalid(
                        "object",
                        format!("“{object}” is not an object; write a type, or type:id like issue:42."),
                    )
                })?;
                (kind, Some(id))
            }
            None => (object, None),
        };
        rows = rows.filter(audit_log::entity_type.eq(kind.to_owned()));
        if let Some(id) = id {
            rows = rows.filter(audit_log::entity_id.eq(id));
        }
    }
    if let Some(project) = query.project {
        let belongs = diesel::dsl::sql::<diesel::sql_types::Bool>(
            "(audit_log.entity_type, audit_log.entity_id) IN (SELECT * FROM audit_project_entities(",
        )
        .bind::<diesel::sql_types::BigInt, _>(project)
        .sql("))");
        rows = rows.filter(belongs);
    }
    let (from, to) = (date_param("from", &query.from)?, date_param("to", &query.to)?);
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            return Err(AppError::invalid("to", format!("{to} is before from ({from}).")));
        }
    }
    if let Some(from) = from {
        rows = rows.filter(audit_log::occurred_at.ge(at_midnight(from)));
    }
    if let Some(to) = to.and_then(|to| to.succ_opt()) {
        rows = rows.filter(audit_log::occurred_at.lt(at_midnight(to)));
    }
    if let Some(ip) = text("ip", &query.ip)? {
        rows = rows.filter(audit_log::actor_ip.eq(ip.to_owned()));
    }
    // A cursor is never empty: only a next_cursor the log gave is one.
    if let Some(cursor) = query.cursor.as_deref() {
        let before = cursor
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| AppError::invalid("cursor", "The cursor must be a next_cursor this log gave."))?;
        rows = rows.filter(audit_log::id.lt(before));
    }
    let found: Vec<Row> = rows.load(conn)?;
    Ok(found.into_iter().map(AuditEntry::from).collect())
}

/// Every row matching `query`, as `format` (csv or json): the body and its content type.
pub fn export(conn: &mut PgConnection, query: &AuditQuery) -> Result<(Vec<u8>, &'static str), AppError> {
    let format = present(&query.format).unwrap_or("csv");
    if format != "csv" && format != "json" {
        return Err(AppError::invalid("format", format!("“{format}” is not an export format; use csv or json.")));
    }
    let rows = find(conn, query, EXPORT_MAX + 1)?;
    if rows.len() as i64 > EXPORT_MAX {
        return Err(AppError::invalid(
            "from",
            format!("More than {EXPORT_MAX} rows match; narrow the filters (a shorter time range)."),
        ));
    }
    if format == "json" {
        let body = serde_json::to_vec(&rows).map_err(AppError::internal)?;
        return Ok((body, "application/json"));
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = [
        "id",
        "occurred_at",
        "actor",
        "actor_ip",
        "action",
        "entity_type",
        "entity_id",
        "before",
        "after",
        "via_rule_id",
        "chain_position",
        "row_hash",
    ];
    writer.write_record(header).map_err(AppError::internal)?;
    let text = |value: &Option<Value>| value.as_ref().map(Value::to_string).unwrap_or_default();
    for row in &rows {
        writer
            .write_record([
                row.id.to_string(),
                row.occurred_at.to_rfc3339(),
                row.actor.clone(),
                row.actor_ip.clone().unwrap_or_default(),
                row.action.clone(),
                row.entity_type.clone(),
                row.entity_id.to_string(),
                text(&row.before),
                text(&row.after),
                row.via_rule_id.map(|id| id.to_string()).unwrap_or_default(),
                row.chain_position.map(|p| p.to_string()).unwrap_or_default(),
                row.row_hash.clone().unwrap_or_default(),
            ])
            .map_err(AppError::internal)?;
    }
    Ok((writer.into_inner().map_err(AppError::internal)?, "text/csv; charset=utf-8"))
}
