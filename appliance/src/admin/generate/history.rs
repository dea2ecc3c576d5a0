//! Generated issues' history: the audit records the issue page reads it from, written
//! already sealed into the audit hash chain. Sealing them one by one, as the seal trigger
//! before migration 29 did, took 200 µs a row, eight minutes for a million issues' history;
//! here the chain is extended with the same digest `outpost audit verify` checks, while the
//! sealers' lock keeps every sealer waiting until commit.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Nullable};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::Value;

use super::layout::{rng_for, IssueFacts, Layout, Stage, ISSUE_ACTIVITY};
use super::sink::{copy_csv, text};
use super::{reserve, reserve_sequence};
use crate::audit::chain::digest;
use crate::errors::AppError;
use crate::schema::audit_log;

const HISTORY: u64 = ISSUE_ACTIVITY + 100;

struct Record {
    actor: i64,
    action: &'static str,
    before: Option<String>,
    after: String,
}

/// A JSON object as PostgreSQL prints a jsonb value — keys by length, then bytes; ", " and
/// ": " between — since the chain hashes that text.
fn jsonb_text(mut fields: Vec<(&str, Value)>) -> String {
    fields.sort_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then(a.cmp(b)));
    let parts: Vec<String> =
        fields.iter().map(|(key, value)| format!("{}: {}", Value::String((*key).to_owned()), value)).collect();
    format!("{{{}}}", parts.join(", "))
}

/// What an issue's life leaves in the history: created, now and then a change of assignee,
/// then each status change to where it is now. Decided without writing any JSON, so that the
/// records can be counted (for the ids and chain positions they take) before they are written.
struct Life {
    assignee_changed: bool,
    steps: &'static [(&'static str, &'static str)],
}

impl Life {
    fn of(issue: &IssueFacts<'_>, rng: &mut StdRng) -> Life {
        let assignee_changed = issue.assignee.is_some() && rng.gen_bool(0.2);
        let steps: &'static [(&'static str, &'static str)] = match issue.stage {
            Stage::Todo => &[],
            Stage::InProgress => &[("To do", "In progress")],
            Stage::InReview => &[("To do", "In progress"), ("In progress", "In review")],
            Stage::Done => &[("To do", "In progress"), ("In progress", "Done")],
        };
        Life { assignee_changed, steps }
    }

    fn records(&self) -> usize {
        1 + usize::from(self.assignee_changed) + self.steps.len()
    }
}

fn records(layout: &Layout, issue: &IssueFacts<'_>, life: &Life) -> Vec<Record> {
    let key = Value::String(format!("{}-{}", issue.project.key, issue.number));
    let mut rows = vec![Record {
        actor: issue.reporter,
        action: "issue.created",
        before: None,
        after: jsonb_text(vec![
            ("key", key.clone()),
            ("issue_type", Value::from(issue.issue_type)),
            ("status", Value::from("To do")),
            ("priority", Value::from(issue.priority)),
        ]),
    }];
    let actor = issue.assignee.unwrap_or(issue.reporter);
    if life.assignee_changed {
        let assignee = layout.usernames.get(&actor).map_or(Value::Null, |name| Value::from(name.as_str()));
        rows.push(Record {
            actor: issue.reporter,
            action: "issue.updated",
            before: Some(jsonb_text(vec![("key", key.clone()), ("assignee", Value::Null)])),
            after: jsonb_text(vec![("key", key.clone()), ("assignee", assignee)]),
        });
    }
    for (from, to) in life.steps {
        rows.push(Record {
            actor,
            action: "issue.updated",
            before: Some(jsonb_text(vec![("key", key.clone()), ("status", Value::from(*from))])),
            after: jsonb_text(vec![("key", key.clone()), ("status", Value::from(*to))]),
        });
    }
    rows
}

/// When the `n`th of `count` records happened: spread over the issue's life, whole seconds.
fn when(issue: &IssueFacts<'_>, n: usize, count: usize) -> DateTime<Utc> {
    let step = (issue.updated - issue.created).num_seconds().max(1) / count as i64;
    issue.created + Duration::seconds(step * n as i64)
}

#[derive(QueryableByName)]
struct Head {
    #[diesel(sql_type = Nullable<Bytea>)]
    row_hash: Option<Vec<u8>>,
}

pub fn write(conn: &mut PgConnection, layout: &Layout) -> Result<u64, AppError> {
    let each = |index: u64| {
        let issue = layout.issue(index);
        let life = Life::of(&issue, &mut rng_for(layout.seed, HISTORY, index));
        (issue, life)
    };
    let total: u64 = (0..layout.issues).map(|index| each(index).1.records() as u64).sum();
    if total == 0 {
        return Ok(0);
    }
    // Sealing what is waiting, the projects' records written earlier in this transaction
    // among them, takes the sealers' lock until commit: no other row joins the chain between
    // the head read here and the rows written after it.
    crate::audit::sealer::seal_all(conn)?;
    let first_id = reserve(conn, "audit_log", total)?;
    let first_position = reserve_sequence(conn, "'audit_log_chain'", total)?;
    let head: Option<Head> = diesel::sql_query(
        "SELECT row_hash FROM audit_log WHERE chain_position IS NOT NULL ORDER BY chain_position DESC LIMIT 1",
    )
    .get_result(conn)
    .optional()?;
    let head = head.and_then(|head| head.row_hash);
    let written = copy_csv!(
        conn,
        audit_log::table,
        (
            audit_log::id,
            audit_log::occurred_at,
            audit_log::actor_id,
            audit_log::action,
            audit_log::entity_type,
            audit_log::entity_id,
            audit_log::before_state,
            audit_log::after_state,
            audit_log::chain_position,
            audit_log::previous_hash,
            audit_log::row_hash,
        ),
        ("history", layout.issues),
        |sink| {
            let mut previous = head.clone();
            let mut offset = 0;
            for index in 0..layout.issues {
                let (issue, life) = each(index);
                let records = records(layout, &issue, &life);
                let count = records.len();
                for (n, record) in records.into_iter().enumerate() {
                    let (id, position) = (first_id + offset, first_position + offset);
                    offset += 1;
                    let at = when(&issue, n, count);
                    // The fields in the order and form the seal hashes them.
                    let fields = [
                        id.to_string(),
                        (at.timestamp() * 1_000_000).to_string(),
                        record.actor.to_string(),
                        String::new(),
                        record.action.to_owned(),
                        "issue".to_owned(),
                        issue.id.to_string(),
                        record.before.clone().unwrap_or_default(),
                        record.after.clone(),
                        String::new(),
                    ];
                    let hash = digest(&fields, previous.as_deref());
                    sink.row(format_args!(
                        "{id},{},{},{},issue,{},{},{},{position},{},\\x{}",
                        at.to_rfc3339(),
                        record.actor,
                        record.action,
                        issue.id,
                        record.before.as_deref().map(text).unwrap_or_default(),
                        text(&record.after),
                        previous.as_deref().map(|p| format!("\\x{}", hex::encode(p))).unwrap_or_default(),
                        hex::encode(&hash),
                    ))?;
                    previous = Some(hash);
                }
                sink.advance();
            }
        }
    );
    Ok(written)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    #[test]
    fn objects_print_as_postgresql_prints_jsonb() {
        let text = super::jsonb_text(vec![
            ("status", Value::from("To do")),
            ("key", Value::from("GEN1-5")),
            ("priority", Value::from(3)),
            ("assignee", Value::Null),
            ("issue_type", Value::from("a \"quoted\" type")),
        ]);
        assert_eq!(
            text,
            r#"{"key": "GEN1-5", "status": "To do", "assignee": null, "priority": 3, "issue_type": "a \"quoted\" type"}"#
        );
    }
}
