//! The administrators' view of the job queue: counts by state, the jobs in one state with
//! their errors, and retry / discard for the ones that failed.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use super::queue::{self, Job};
use crate::audit::{self, Change};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{redirect, render, Nav};
use crate::web::AppState;

/// The states the page can show; "retrying" is queued with an error from a failed attempt.
const STATES: [&str; 6] = ["dead", "retrying", "queued", "running", "succeeded", "discarded"];

#[derive(Template)]
#[template(path = "admin/jobs.html")]
struct JobsPage {
    nav: Nav,
    state: String,
    states: [&'static str; 6],
    counts: Vec<(String, i64)>,
    jobs: Vec<Job>,
}

impl JobsPage {
    fn is_current(&self, state: &str) -> bool {
        self.state == state
    }

    /// "retrying" is a view over queued jobs, not a state with its own count.
    fn has_count(&self, state: &str) -> bool {
        state != "retrying"
    }

    fn count(&self, state: &str) -> i64 {
        self.counts.iter().filter(|(s, _)| s == state).map(|(_, n)| n).sum()
    }
}

#[derive(Deserialize)]
pub struct JobsQuery {
    state: Option<String>,
}

pub async fn list(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<JobsQuery>,
) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::Administer)?;
    let shown = query.state.clone().unwrap_or_else(|| "dead".to_owned());
    if !STATES.contains(&shown.as_str()) {
        return Err(AppError::invalid(
            "state",
            format!("\"{shown}\" is not a job state; choose one of {}.", STATES.join(", ")),
        )
        .into());
    }
    let wanted = shown.clone();
    let (counts, jobs) =
        db::run(&state.pool, move |conn| Ok((queue::counts(conn)?, queue::list(conn, &wanted, 100)?))).await?;
    Ok(render(&JobsPage { nav: Nav::for_user(&signed_in, "admin"), state: shown, states: STATES, counts, jobs })?)
}

/// Retry or discard one job, with its audit row, in one transaction.
pub async fn act(
    form: CsrfForm<std::collections::HashMap<String, String>>,
    state: web::Data<AppState>,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, PageError> {
    let signed_in = form.signed_in;
    authorize(signed_in.user(), Action::Administer)?;
    let (job_id, action) = path.into_inner();
    let actor = signed_in.actor.clone();
    let back = db::run(&state.pool, move |conn| {
        use diesel::Connection;
        conn.transaction(|conn| {
            let job =
                queue::find(conn, job_id)?.ok_or_else(|| AppError::not_found(format!("There is no job {job_id}.")))?;
            let changed = match action.as_str() {
                "retry" => queue::retry(conn, job_id)?,
                "discard" => queue::discard(conn, job_id)?,
                other => {
                    return Err(AppError::not_found(format!("Jobs cannot be \"{other}\"; retry or discard them.")))
                }
            };
            if !changed {
                return Err(AppError::conflict(
                    "state",
                    format!(
                        "Job {job_id} is {}, so it cannot be {}.",
                        job.state,
                        if action == "retry" { "retried" } else { "discarded" }
                    ),
                ));
            }
            audit::record(
                conn,
                &actor,
                Change {
                    action: if action == "retry" { "job.retried" } else { "job.discarded" },
                    entity_type: "job",
                    entity_id: job_id,
                    before: Some(json!({ "kind": job.kind, "state": job.state, "last_error": job.last_error })),
                    after: None,
                },
            )?;
            Ok(if job.state == "dead" { "dead" } else { "queued" })
        })
    })
    .await?;
    Ok(redirect(&format!("/admin/jobs?state={back}")))
}
