//! `outpost dev generate`: a realistic installation written straight into PostgreSQL with
//! COPY, for benchmarks and for trying Outpost at scale — users; projects of Zipf-skewed
//! sizes, each with its workflow, team, sprints and documentation space; issues with labels,
//! watchers, comments and history; pages with earlier versions. All of it is one
//! transaction: it lands whole or not at all. The search index follows through one
//! `project.generated` event per project and one `space.generated` per space.

mod history;
mod issues;
mod layout;
mod pages;
pub mod progress;
mod sink;
pub mod words;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{Duration as Span, NaiveDate, SubsecRound as _, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use rand::Rng;
use serde_json::json;

use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::identity::passwords;
use crate::schema::{projects, sprints, users};
use crate::work::kinds::StatusCategory;
use crate::work::projects::{self as work_projects, NewProject};
use crate::work::workflows::Workflow;
use layout::{rng_for, zipf_split, Layout, ProjectPlan, Sprints, Statuses, SPRINT_DAYS};
use progress::thousands;

/// Every generated account's password, so that benchmarks can sign in as any of them.
pub const PASSWORD: &str = "generated-password";

/// The generated projects' keys: GEN1 (the largest), GEN2, …
pub const KEY_PREFIX: &str = "GEN";

pub struct Plan {
    pub issues: u64,
    pub pages: u64,
    pub users: u64,
    pub projects: u64,
    pub seed: u64,
}

impl Plan {
    fn check(&self) -> Result<(), AppError> {
        if !(1..=9999).contains(&self.projects) {
            return Err(AppError::invalid("projects", "--projects must be between 1 and 9,999."));
        }
        if !(1..=1_000_000).contains(&self.users) {
            return Err(AppError::invalid("users", "--users must be between 1 and 1,000,000."));
        }
        if self.issues > 100_000_000 || self.pages > 10_000_000 {
            return Err(AppError::invalid(
                "issues",
                "At most 100,000,000 issues and 10,000,000 pages are generated at once.",
            ));
        }
        Ok(())
    }
}

pub struct Summary {
    /// The projects by size, largest first: key and issue count.
    pub projects: Vec<(String, u64)>,
    pub users: u64,
    pub issues: u64,
    pub labels: u64,
    pub watchers: u64,
    pub comments: u64,
    pub history: u64,
    pub sprints: u64,
    pub pages: u64,
    pub page_versions: u64,
    pub took: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seconds = self.took.as_secs_f64().max(0.001);
        let rows =
            self.issues + self.labels + self.watchers + self.comments + self.history + self.pages + self.page_versions;
        writeln!(
            f,
            "Generated {} projects, {} users, {} issues ({} comments, {} history records, {} watchers, {} labels, \
             {} sprints) and {} pages ({} versions) in {seconds:.1} s: {} issues/s, {} rows/s.",
            self.projects.len(),
            thousands(self.users),
            thousands(self.issues),
            thousands(self.comments),
            thousands(self.history),
            thousands(self.watchers),
            thousands(self.labels),
            thousands(self.sprints),
            thousands(self.pages),
            thousands(self.page_versions),
            thousands((self.issues as f64 / seconds) as u64),
            thousands((rows as f64 / seconds) as u64),
        )?;
        let largest: Vec<String> =
            self.projects.iter().take(3).map(|(key, count)| format!("{key} ({})", thousands(*count))).collect();
        write!(f, "Largest projects: {}. Every user's password is \"{PASSWORD}\".", largest.join(", "))
    }
}

pub fn run(conn: &mut PgConnection, plan: &Plan) -> Result<Summary, AppError> {
    plan.check()?;
    let started = Instant::now();
    let first_key = format!("{KEY_PREFIX}1");
    let taken: i64 = projects::table.filter(projects::key.eq(&first_key)).count().get_result(conn)?;
    if taken > 0 {
        return Err(AppError::conflict(
            "projects",
            format!("This installation already has generated projects ({first_key} …); generate into a fresh one."),
        ));
    }
    let mut rng = rng_for(plan.seed, 0, 0);
    let words = words::Words::new(60_000, &mut rng);
    let password_hash = passwords::hash(PASSWORD)?;
    let mut summary = conn.transaction(|conn| {
        let (people, usernames) = create_users(conn, plan, &password_hash)?;
        let mut layout = plan_projects(conn, plan, people, usernames)?;
        let sprint_count = create_sprints(conn, &mut layout)?;
        reserve_ids(conn, &mut layout)?;
        let issues = issues::write_all(conn, &layout, &words)?;
        let pages = pages::write_all(conn, &layout, &words)?;
        announce(conn, &layout)?;
        eprintln!("  committing …");
        Ok::<_, AppError>(Summary {
            projects: layout.projects.iter().map(|p| (p.key.clone(), p.count)).collect(),
            users: plan.users,
            issues: issues.issues,
            labels: issues.labels,
            watchers: issues.watchers,
            comments: issues.comments,
            history: issues.history,
            sprints: sprint_count,
            pages: pages.pages,
            page_versions: pages.versions,
            took: Duration::ZERO,
        })
    })?;
    // Fresh statistics, so the planner uses the indexes on the new rows straight away.
    diesel::sql_query("ANALYZE").execute(conn)?;
    summary.took = started.elapsed();
    Ok(summary)
}

const FIRST_NAMES: &[&str] = &[
    "Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Alan", "Radia", "Edsger", "Hedy",
    "Donald", "Sophie", "Niklaus", "Karen", "Tim", "Shafi", "Leslie", "Anita", "Bjarne", "Lynn", "Guido", "Joan",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Turing",
    "Perlman",
    "Dijkstra",
    "Lamarr",
    "Knuth",
    "Wilson",
    "Wirth",
    "Jones",
    "Lee",
    "Goldwasser",
    "Lamport",
    "Borg",
    "Stroustrup",
    "Conway",
    "Rossum",
    "Clarke",
];

/// Creates user00001 … (keeping any that exist) and returns their ids and user names.
fn create_users(
    conn: &mut PgConnection,
    plan: &Plan,
    password_hash: &str,
) -> Result<(Vec<i64>, HashMap<i64, String>), AppError> {
    let mut progress = progress::Progress::new("users", plan.users);
    let names: Vec<String> = (1..=plan.users).map(|n| format!("user{n:05}")).collect();
    for (c, chunk) in names.chunks(2000).enumerate() {
        let rows: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(n, username)| {
                let n = c * 2000 + n;
                let first = FIRST_NAMES[n % FIRST_NAMES.len()];
                let last = LAST_NAMES[(n / FIRST_NAMES.len()) % LAST_NAMES.len()];
                (
                    users::username.eq(username),
                    users::display_name.eq(format!("{first} {last} ({})", &username[4..])),
                    users::email.eq(format!("{username}@example.test")),
                    users::password_hash.eq(password_hash),
                )
            })
            .collect();
        diesel::insert_into(users::table).values(&rows).on_conflict_do_nothing().execute(conn)?;
        progress.advance(chunk.len() as u64);
    }
    progress.finish();
    let found: Vec<(i64, String)> = users::table
        .filter(users::username.eq_any(&names))
        .select((users::id, users::username))
        .order(users::id)
        .load(conn)?;
    let people = found.iter().map(|(id, _)| *id).collect();
    Ok((people, found.into_iter().collect()))
}

/// Creates the projects (through the same code as the projects page: workflow, role grants,
/// documentation space, audit record) and decides their sizes, teams and ages.
fn plan_projects(
    conn: &mut PgConnection,
    plan: &Plan,
    people: Vec<i64>,
    usernames: HashMap<i64, String>,
) -> Result<Layout, AppError> {
    // Whole seconds: the audit chain hashes times to the microsecond, as PostgreSQL keeps them.
    let now = Utc::now().trunc_subsecs(0);
    let sizes = zipf_split(plan.issues, plan.projects as usize);
    let page_counts = zipf_split(plan.pages, plan.projects as usize);
    let mut rng = rng_for(plan.seed, 0, 1);
    let mut progress = progress::Progress::new("projects", plan.projects);
    let (mut first, mut first_page) = (0, 0);
    let mut projects = Vec::with_capacity(sizes.len());
    for (n, (count, pages)) in sizes.into_iter().zip(page_counts).enumerate() {
        let key = format!("{KEY_PREFIX}{}", n + 1);
        let team_size = ((count / 40) as usize).clamp(3, 400).min(people.len());
        let team_offset = rng.gen_range(0..people.len());
        let lead = people[team_offset];
        let actor = Actor::user(lead, None);
        let name = format!("Generated project {} ({} issues)", n + 1, thousands(count));
        let project = work_projects::create(
            conn,
            &actor,
            lead,
            NewProject { key: key.clone(), name, description: String::new() },
        )?;
        let space_id: i64 = crate::schema::spaces::table
            .filter(crate::schema::spaces::project_id.eq(project.id))
            .select(crate::schema::spaces::id)
            .first(conn)?;
        let workflow = Workflow::load(conn, project.id)?;
        let status = |category: StatusCategory, nth: usize| {
            workflow.statuses.iter().filter(|s| s.category == category).nth(nth).map(|s| s.id).ok_or_else(|| {
                AppError::internal(format!("the default workflow of {key} lacks a status of category {category:?}"))
            })
        };
        let statuses = Statuses {
            todo: status(StatusCategory::Todo, 0)?,
            in_progress: status(StatusCategory::InProgress, 0)?,
            in_review: status(StatusCategory::InProgress, 1)?,
            done: status(StatusCategory::Done, 0)?,
        };
        // Larger projects are older: the largest started about two years ago.
        let age_days = (730.0 / (n as f64 + 1.0).powf(0.3)) as i64 + rng.gen_range(0..30);
        projects.push(ProjectPlan {
            id: project.id,
            key,
            space_id,
            first,
            count,
            statuses,
            team_offset,
            team_size,
            started: now - Span::days(age_days),
            sprints: Sprints::default(),
            first_page,
            pages,
        });
        first += count;
        first_page += pages;
        progress.advance(1);
    }
    progress.finish();
    Ok(Layout {
        seed: plan.seed,
        now,
        people,
        usernames,
        projects,
        first_issue_id: 0,
        issues: plan.issues,
        first_page_id: 0,
        pages: plan.pages,
    })
}

/// Closed two-week sprints since each scrum project started, the active one, two planned.
fn create_sprints(conn: &mut PgConnection, layout: &mut Layout) -> Result<u64, AppError> {
    let now = layout.now;
    let mut created = 0;
    for project in &mut layout.projects {
        if !ProjectPlan::plans_sprints(project.count) {
            continue;
        }
        let closed = ProjectPlan::closed_sprints(project.count, project.started, now);
        let day = |n: i64| -> NaiveDate { (project.started + Span::days(n * SPRINT_DAYS)).date_naive() };
        let mut rows = Vec::with_capacity(closed + 3);
        for n in 0..closed + 3 {
            let state = match n.cmp(&closed) {
                std::cmp::Ordering::Less => "closed",
                std::cmp::Ordering::Equal => "active",
                std::cmp::Ordering::Greater => "planned",
            };
            let (starts_on, ends_on) = (day(n as i64), day(n as i64 + 1));
            let started_at =
                (state != "planned").then(|| starts_on.and_hms_opt(9, 0, 0).map(|t| t.and_utc())).flatten();
            let completed_at =
                (state == "closed").then(|| ends_on.and_hms_opt(17, 0, 0).map(|t| t.and_utc())).flatten();
            rows.push((
                sprints::project_id.eq(project.id),
                sprints::name.eq(format!("{} Sprint {}", project.key, n + 1)),
                sprints::goal.eq(""),
                sprints::starts_on.eq(Some(starts_on)),
                sprints::ends_on.eq(Some(ends_on)),
                sprints::state.eq(state),
                sprints::started_at.eq(started_at),
                sprints::completed_at.eq(completed_at),
            ));
        }
        let ids: Vec<i64> =
            diesel::insert_into(sprints::table).values(&rows).returning(sprints::id).get_results(conn)?;
        created += ids.len() as u64;
        project.sprints = Sprints {
            closed: ids[..closed].to_vec(),
            active: ids.get(closed).copied(),
            planned: ids[closed + 1..].to_vec(),
        };
    }
    Ok(created)
}

#[derive(QueryableByName)]
struct First {
    #[diesel(sql_type = BigInt)]
    first: i64,
}

/// Takes a block of `count` ids of `table` for the COPY to use. The table is locked until
/// commit, so nobody else's insert takes an id from the block meanwhile.
fn reserve(conn: &mut PgConnection, table: &str, count: u64) -> QueryResult<i64> {
    diesel::sql_query(format!("LOCK TABLE {table} IN EXCLUSIVE MODE")).execute(conn)?;
    reserve_sequence(conn, &format!("pg_get_serial_sequence('{table}', 'id')"), count)
}

/// Takes the next `count` values of `sequence` (an SQL expression naming it) at once and
/// returns the first; the caller holds whatever keeps others from drawing meanwhile.
fn reserve_sequence(conn: &mut PgConnection, sequence: &str, count: u64) -> QueryResult<i64> {
    let first: First =
        diesel::sql_query(format!("SELECT setval({sequence}, nextval({sequence}) + $1 - 1) - $1 + 1 AS first"))
            .bind::<BigInt, _>(count.max(1) as i64)
            .get_result(conn)?;
    Ok(first.first)
}

fn reserve_ids(conn: &mut PgConnection, layout: &mut Layout) -> QueryResult<()> {
    layout.first_issue_id = reserve(conn, "issues", layout.issues)?;
    layout.first_page_id = reserve(conn, "pages", layout.pages)?;
    for project in &layout.projects {
        diesel::update(projects::table.find(project.id))
            .set(projects::next_issue_number.eq(project.count as i64 + 1))
            .execute(conn)?;
    }
    Ok(())
}

/// One audit record per project and per space with pages: what was generated, and the
/// event that has the search index take it in.
fn announce(conn: &mut PgConnection, layout: &Layout) -> QueryResult<()> {
    for project in &layout.projects {
        audit::record(
            conn,
            &Actor::system(),
            Change {
                action: "project.generated",
                entity_type: "project",
                entity_id: project.id,
                before: None,
                after: Some(
                    json!({ "key": project.key, "issues": project.count, "first_issue_id": layout.first_issue_id + project.first as i64 }),
                ),
            },
        )?;
        if project.pages > 0 {
            audit::record(
                conn,
                &Actor::system(),
                Change {
                    action: "space.generated",
                    entity_type: "space",
                    entity_id: project.space_id,
                    before: None,
                    after: Some(json!({ "key": project.key, "pages": project.pages })),
                },
            )?;
        }
    }
    Ok(())
}
