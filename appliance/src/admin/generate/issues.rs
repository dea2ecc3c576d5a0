//! The COPY passes of generated issues: the issues, their labels and watchers, their comments;
//! and then their history (`history.rs`).

use chrono::Duration;
use diesel::prelude::*;
use rand::Rng;

use super::history;
use super::layout::{rng_for, Layout, Stage, ISSUE_ACTIVITY, ISSUE_TEXT};
use super::sink::{copy_csv, id, text};
use super::words::Words;
use crate::errors::AppError;
use crate::schema::{comments, issue_labels, issue_watchers, issues};
use crate::work::ranking;

/// Rows written per table.
#[derive(Default)]
pub struct Written {
    pub issues: u64,
    pub labels: u64,
    pub watchers: u64,
    pub comments: u64,
    pub history: u64,
}

pub fn write_all(conn: &mut PgConnection, layout: &Layout, words: &Words) -> Result<Written, AppError> {
    Ok(Written {
        issues: write_issues(conn, layout, words)?,
        labels: write_labels(conn, layout)?,
        watchers: write_watchers(conn, layout)?,
        comments: write_comments(conn, layout, words)?,
        history: history::write(conn, layout)?,
    })
}

fn title_and_description(layout: &Layout, words: &Words, index: u64) -> (String, String) {
    let mut rng = rng_for(layout.seed, ISSUE_TEXT, index);
    let length = rng.gen_range(3..12);
    let title = words.text(&mut rng, length);
    let mut title = title.replace('.', "");
    if let Some(first) = title.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    // A fifth have no description; the rest from a sentence to a page.
    let description = if rng.gen_bool(0.2) {
        String::new()
    } else {
        let length = (rng.gen_range(1.5f64..6.0).exp() as usize).min(600);
        let mut description = words.text(&mut rng, length);
        if rng.gen_bool(0.3) {
            description.push_str("\n\n- [ ] reproduce it\n- [ ] add a test");
        }
        description
    };
    (title, description)
}

fn write_issues(conn: &mut PgConnection, layout: &Layout, words: &Words) -> Result<u64, AppError> {
    Ok(copy_csv!(
        conn,
        issues::table,
        (
            issues::id,
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
            issues::sprint_id,
            issues::parent_id,
            issues::story_points,
        ),
        ("issues", layout.issues),
        |sink| {
            for index in 0..layout.issues {
                let issue = layout.issue(index);
                let statuses = issue.project.statuses;
                let status = match issue.stage {
                    Stage::Todo => statuses.todo,
                    Stage::InProgress => statuses.in_progress,
                    Stage::InReview => statuses.in_review,
                    Stage::Done => statuses.done,
                };
                let (title, description) = title_and_description(layout, words, index);
                sink.row(format_args!(
                    "{},{},{},{},{status},{},{},{},{},{},{},{},{},{},{},{}",
                    issue.id,
                    issue.project.id,
                    issue.number,
                    issue.issue_type,
                    issue.priority,
                    text(&title),
                    text(&description),
                    id(issue.assignee),
                    issue.reporter,
                    issue.created.to_rfc3339(),
                    issue.updated.to_rfc3339(),
                    issue.number * ranking::GAP,
                    id(issue.sprint),
                    id(issue.parent),
                    issue.story_points.map(|p| p.to_string()).unwrap_or_default(),
                ))?;
                sink.advance();
            }
        }
    ))
}

fn write_labels(conn: &mut PgConnection, layout: &Layout) -> Result<u64, AppError> {
    Ok(copy_csv!(
        conn,
        issue_labels::table,
        (issue_labels::issue_id, issue_labels::label),
        ("labels", layout.issues),
        |sink| {
            for index in 0..layout.issues {
                let issue = layout.issue(index);
                for label in &issue.labels {
                    sink.row(format_args!("{},{label}", issue.id))?;
                }
                sink.advance();
            }
        }
    ))
}

fn write_watchers(conn: &mut PgConnection, layout: &Layout) -> Result<u64, AppError> {
    Ok(copy_csv!(
        conn,
        issue_watchers::table,
        (issue_watchers::issue_id, issue_watchers::user_id),
        ("watchers", layout.issues),
        |sink| {
            for index in 0..layout.issues {
                let issue = layout.issue(index);
                for watcher in &issue.watchers {
                    sink.row(format_args!("{},{watcher}", issue.id))?;
                }
                sink.advance();
            }
        }
    ))
}

fn write_comments(conn: &mut PgConnection, layout: &Layout, words: &Words) -> Result<u64, AppError> {
    Ok(copy_csv!(
        conn,
        comments::table,
        (comments::issue_id, comments::author_id, comments::body, comments::created_at, comments::updated_at),
        ("comments", layout.issues),
        |sink| {
            for index in 0..layout.issues {
                let issue = layout.issue(index);
                let mut rng = rng_for(layout.seed, ISSUE_ACTIVITY, index);
                let span = (issue.updated - issue.created).num_minutes().max(1);
                let mut at = issue.created;
                for n in 0..issue.comments {
                    // Spread over the issue's life, in order.
                    at += Duration::minutes(rng.gen_range(0..=span / i64::from(issue.comments - n).max(1)));
                    let author = issue.project.member(&layout.people, &mut rng);
                    let length = (rng.gen_range(1.0f64..4.5).exp() as usize).max(2);
                    let body = words.text(&mut rng, length);
                    let at = at.to_rfc3339();
                    sink.row(format_args!("{},{author},{},{at},{at}", issue.id, text(&body)))?;
                }
                sink.advance();
            }
        }
    ))
}
