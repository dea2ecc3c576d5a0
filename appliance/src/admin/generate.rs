//! `outpost dev generate`: fills a database with realistic users, a project and many issues,
//! through COPY, for benchmarks and for trying Outpost at scale.

use std::io::Write;

use chrono::{Duration, Utc};
use diesel::pg::CopyFormat;
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::identity::{passwords, project_roles};
use crate::schema::{issues, projects, users};
use crate::work::kinds::StatusCategory;
use crate::work::ranking;
use crate::work::workflows::{self, Workflow};

/// Every generated account's password, so that benchmarks can sign in as any of them.
pub const PASSWORD: &str = "generated-password";

pub struct Plan {
    pub issues: u64,
    pub users: u64,
    pub project_key: String,
    pub seed: u64,
}

pub struct Summary {
    pub project_key: String,
    pub first_number: i64,
    pub issues: u64,
    pub users: u64,
}

const VERBS: &[&str] = &[
    "Fix",
    "Add",
    "Remove",
    "Speed up",
    "Refactor",
    "Document",
    "Investigate",
    "Migrate",
    "Harden",
    "Retry",
    "Validate",
    "Log",
];
const THINGS: &[&str] = &[
    "the billing export",
    "LDAP group sync",
    "the sprint burndown",
    "webhook delivery",
    "the login page",
    "CSV import",
    "search indexing",
    "the audit log viewer",
    "attachment upload",
    "email digests",
    "the backup job",
    "API token expiry",
    "the board drag and drop",
    "permission checks",
    "the release report",
    "page history diff",
    "the asset inventory",
    "contract renewal reminders",
    "the dashboard charts",
    "the issue list filters",
];
const CONDITIONS: &[&str] = &[
    "when the queue is full",
    "for users without an email",
    "after a failover",
    "on slow disks",
    "under heavy load",
    "for archived projects",
    "with non-ASCII names",
    "after an upgrade",
    "in Firefox",
    "when the session expires",
    "for large attachments",
    "at month end",
    "behind a proxy",
    "with more than 10k rows",
    "on a fresh install",
];
const SENTENCES: &[&str] = &[
    "Customers on the on-prem cluster reported this twice this week.",
    "Steps to reproduce are in the linked support ticket.",
    "The log shows a timeout after 30 seconds.",
    "This blocks the quarterly audit.",
    "We should add a regression test before fixing it.",
    "It only happens on the second attempt.",
    "The workaround is to restart the service, which nobody likes.",
    "See the design notes from the last planning meeting.",
];

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

/// Chooses from `(value, weight)` pairs.
fn weighted<'a>(rng: &mut StdRng, items: &[(&'a str, u32)]) -> &'a str {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.gen_range(0..total);
    for (value, weight) in items {
        if roll < *weight {
            return value;
        }
        roll -= weight;
    }
    items[0].0
}

fn csv(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

pub fn run(conn: &mut PgConnection, plan: &Plan) -> Result<Summary, AppError> {
    let password_hash = passwords::hash(PASSWORD)?;
    conn.transaction(|conn| {
        let rows: Vec<_> = (1..=plan.users)
            .map(|n| {
                (
                    users::username.eq(format!("user{n:04}")),
                    users::display_name.eq(format!("Generated User {n}")),
                    users::email.eq(format!("user{n:04}@example.test")),
                    users::password_hash.eq(password_hash.clone()),
                )
            })
            .collect();
        diesel::insert_into(users::table).values(&rows).on_conflict_do_nothing().execute(conn)?;
        let people: Vec<i64> = users::table.filter(users::username.like("user%")).select(users::id).load(conn)?;
        let Some(&lead) = people.first() else {
            return Err(AppError::invalid("users", "At least one user is needed to own the generated issues."));
        };

        let key = plan.project_key.to_uppercase();
        let project_id: i64 =
            match projects::table.filter(projects::key.eq(&key)).select(projects::id).first(conn).optional()? {
                Some(id) => id,
                None => diesel::insert_into(projects::table)
                    .values((
                        projects::key.eq(&key),
                        projects::name.eq(format!("{key} (generated)")),
                        projects::lead_id.eq(lead),
                    ))
                    .returning(projects::id)
                    .get_result(conn)
                    .and_then(|id| workflows::create_default(conn, id).map(|()| id))
                    .and_then(|id| project_roles::grant_defaults(conn, id).map(|()| id))?,
            };
        // Statuses in the proportions of a living project: a third done, a third not started.
        let statuses: Vec<(String, u32)> = Workflow::load(conn, project_id)?
            .statuses
            .iter()
            .map(|s| {
                let weight = match s.category {
                    StatusCategory::Todo => 35,
                    StatusCategory::InProgress => 15,
                    StatusCategory::Done => 35,
                };
                (s.id.to_string(), weight)
            })
            .collect();
        let statuses: Vec<(&str, u32)> = statuses.iter().map(|(id, weight)| (id.as_str(), *weight)).collect();
        let count = plan.issues as i64;
        let next: i64 = diesel::update(projects::table.find(project_id))
            .set(projects::next_issue_number.eq(projects::next_issue_number + count))
            .returning(projects::next_issue_number)
            .get_result(conn)?;
        let first_number = next - count;

        let seed = plan.seed;
        let now = Utc::now();
        diesel::copy_from(issues::table)
            .from_raw_data(
                (
                    issues::project_id,
                    issues::number,
                    issues::issue_type,
                    issues::status_id,
                    issues::priority,
                    issues::title,
                    issues::description,
                    issues::assignee_id,
                    issues::reporter_id,
                    issues::created_at,
                    issues::updated_at,
                    issues::rank,
                ),
                |out: &mut dyn Write| -> Result<(), AppError> {
                    let io = |e: std::io::Error| AppError::internal(format!("writing COPY data: {e}"));
                    let mut rng = StdRng::seed_from_u64(seed);
                    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
                    for offset in 0..count {
                        let issue_type = weighted(
                            &mut rng,
                            &[("story", 35), ("task", 35), ("bug", 20), ("epic", 3), ("subtask", 7)],
                        );
                        let status = weighted(&mut rng, &statuses);
                        let priority = rng.gen_range(1..=5);
                        let title = format!(
                            "{} {} {}",
                            pick(&mut rng, VERBS),
                            pick(&mut rng, THINGS),
                            pick(&mut rng, CONDITIONS)
                        );
                        let description = format!(
                            "{}\n\n{}\n\n- [ ] {}\n- [ ] add a test",
                            pick(&mut rng, SENTENCES),
                            pick(&mut rng, SENTENCES),
                            pick(&mut rng, VERBS).to_lowercase()
                        );
                        let assignee = if rng.gen_bool(0.85) {
                            people[rng.gen_range(0..people.len())].to_string()
                        } else {
                            String::new()
                        };
                        let reporter = people[rng.gen_range(0..people.len())];
                        let created = now - Duration::minutes(rng.gen_range(60..2 * 365 * 24 * 60));
                        let updated = created + Duration::minutes(rng.gen_range(0..=(now - created).num_minutes()));
                        writeln!(
                            out,
                            "{project_id},{},{issue_type},{status},{priority},{},{},{assignee},{reporter},{},{},{}",
                            first_number + offset,
                            csv(&title),
                            csv(&description),
                            created.to_rfc3339(),
                            updated.to_rfc3339(),
                            (first_number + offset) * ranking::GAP
                        )
                        .map_err(io)?;
                    }
                    out.flush().map_err(io)
                },
            )
            .with_format(CopyFormat::Csv)
            .execute(conn)?;

        audit::record(
            conn,
            &Actor::system(),
            Change {
                action: "project.generated",
                entity_type: "project",
                entity_id: project_id,
                before: None,
                after: Some(json!({ "issues": plan.issues, "first_number": first_number, "users": plan.users })),
            },
        )?;
        Ok(Summary { project_key: key, first_number, issues: plan.issues, users: plan.users })
    })
    .and_then(|summary| {
        // Fresh statistics, so the planner uses the indexes on the new rows straight away.
        diesel::sql_query("ANALYZE issues").execute(conn)?;
        Ok(summary)
    })
}
