//! Deployments that CI systems report through an incoming webhook: a secret URL per hook
//! (`POST /hooks/deployments/{token}`), one deployment per (project, environment, version)
//! whose status later reports update, and the issues its commit messages or release notes
//! mention.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::identity::secrets;
use crate::schema::{deployment_issues, deployments, incoming_hooks, issues, projects};
use crate::work::projects::Project;

#[derive(Queryable, Selectable, Serialize, Clone, Debug)]
#[diesel(table_name = incoming_hooks)]
pub struct IncomingHook {
    pub id: i64,
    #[serde(skip)]
    pub project_id: i64,
    pub name: String,
    #[serde(skip)]
    pub token_hash: Vec<u8>,
    pub token_prefix: String,
    #[serde(skip)]
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Serialize, Clone, Debug, utoipa::ToSchema)]
#[diesel(table_name = deployments)]
pub struct Deployment {
    pub id: i64,
    #[serde(skip)]
    pub project_id: i64,
    pub environment: String,
    pub version: String,
    #[serde(rename = "commit")]
    pub commit_sha: Option<String>,
    pub status: String,
    pub url: Option<String>,
    pub notes: String,
    #[serde(skip)]
    pub hook_id: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const STATUSES: [&str; 4] = ["started", "succeeded", "failed", "rolled_back"];

/// Creates an incoming hook for `project`; returns it and the secret token, shown once.
pub fn create_hook(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    name: &str,
) -> Result<(IncomingHook, String), AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(AppError::invalid("name", "Give the incoming hook a name of 1 to 80 characters."));
    }
    let created_by = actor.user_id.ok_or_else(|| AppError::internal("an incoming hook needs a creator"))?;
    let token = format!("oph_{}", secrets::random_hex(24));
    conn.transaction(|conn| {
        let hook: IncomingHook = diesel::insert_into(incoming_hooks::table)
            .values((
                incoming_hooks::project_id.eq(project.id),
                incoming_hooks::name.eq(name),
                incoming_hooks::token_hash.eq(secrets::digest(&token)),
                incoming_hooks::token_prefix.eq(&token[..10]),
                incoming_hooks::created_by.eq(created_by),
            ))
            .returning(IncomingHook::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "incoming_hook.created",
                entity_type: "incoming_hook",
                entity_id: hook.id,
                before: None,
                after: Some(json!({ "project": project.key, "name": hook.name, "token_prefix": hook.token_prefix })),
            },
        )?;
        Ok((hook, token))
    })
}

pub fn hooks_of(conn: &mut PgConnection, project_id: i64) -> QueryResult<Vec<IncomingHook>> {
    incoming_hooks::table
        .filter(incoming_hooks::project_id.eq(project_id))
        .order(incoming_hooks::id)
        .select(IncomingHook::as_select())
        .load(conn)
}

pub fn revoke_hook(conn: &mut PgConnection, actor: &Actor, project: &Project, hook_id: i64) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let revoked = diesel::update(
            incoming_hooks::table
                .filter(incoming_hooks::id.eq(hook_id))
                .filter(incoming_hooks::project_id.eq(project.id))
                .filter(incoming_hooks::revoked_at.is_null()),
        )
        .set(incoming_hooks::revoked_at.eq(Utc::now()))
        .execute(conn)?;
        if revoked == 0 {
            return Err(AppError::not_found(format!("There is no active incoming hook {hook_id} in {}.", project.key)));
        }
        audit::record(
            conn,
            actor,
            Change {
                action: "incoming_hook.revoked",
                entity_type: "incoming_hook",
                entity_id: hook_id,
                before: None,
                after: None,
            },
        )?;
        Ok(())
    })
}

/// What a CI system sends.
#[derive(Deserialize, Debug, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    #[schema(example = "production")]
    pub environment: String,
    #[schema(example = "v1.4.2")]
    pub version: String,
    /// started, succeeded, failed or rolled_back.
    #[schema(example = "succeeded")]
    pub status: String,
    #[serde(default)]
    pub commit: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// Release notes and commit messages: issue keys in them link the issues.
    #[serde(default)]
    pub release_notes: Option<String>,
    #[serde(default)]
    pub commits: Vec<CommitMessage>,
}

#[derive(Deserialize, Debug, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitMessage {
    #[serde(default)]
    pub id: Option<String>,
    pub message: String,
}

impl Report {
    fn validate(&self) -> Result<(), AppError> {
        let env = self.environment.as_str();
        let env_ok = !env.is_empty()
            && env.len() <= 40
            && env.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && env.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if !env_ok {
            return Err(AppError::invalid(
                "environment",
                "The environment must be 1 to 40 lower-case letters, digits, dots, dashes or underscores, such as production.",
            ));
        }
        if self.version.trim().is_empty() || self.version.len() > 100 {
            return Err(AppError::invalid("version", "The version must be 1 to 100 characters, such as v1.4.2."));
        }
        if !STATUSES.contains(&self.status.as_str()) {
            return Err(AppError::invalid(
                "status",
                format!("\"{}\" is not a deployment status; use one of {}.", self.status, STATUSES.join(", ")),
            ));
        }
        if let Some(commit) = &self.commit {
            if !(7..=64).contains(&commit.len())
                || !commit.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            {
                return Err(AppError::invalid(
                    "commit",
                    "The commit must be a lower-case hex hash of 7 to 64 characters.",
                ));
            }
        }
        if let Some(url) = &self.url {
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 {
                return Err(AppError::invalid("url", "The URL must start with https:// or http://."));
            }
        }
        let notes = self.notes();
        if notes.len() > 65_536 {
            return Err(AppError::invalid(
                "release_notes",
                "Release notes and commit messages must total at most 64 KiB.",
            ));
        }
        Ok(())
    }

    fn notes(&self) -> String {
        let mut notes = self.release_notes.clone().unwrap_or_default();
        for commit in &self.commits {
            if !notes.is_empty() {
                notes.push('\n');
            }
            if let Some(id) = &commit.id {
                notes.push_str(&id.chars().take(12).collect::<String>());
                notes.push(' ');
            }
            notes.push_str(&commit.message);
        }
        notes
    }
}

/// The numbers of `project_key`'s issues mentioned in `text` as `KEY-123`, whole words only.
pub fn mentioned_numbers(project_key: &str, text: &str) -> BTreeSet<i64> {
    let mut numbers = BTreeSet::new();
    let prefix = format!("{project_key}-");
    let mut rest = text;
    let mut offset = 0;
    while let Some(found) = rest.find(&prefix) {
        let start = offset + found;
        let before_ok = text[..start].chars().next_back().is_none_or(|c| !c.is_ascii_alphanumeric());
        let digits: String = text[start + prefix.len()..].chars().take_while(char::is_ascii_digit).collect();
        let after = text[start + prefix.len() + digits.len()..].chars().next();
        if before_ok && !digits.is_empty() && after.is_none_or(|c| !c.is_ascii_alphanumeric()) {
            if let Ok(n) = digits.parse() {
                numbers.insert(n);
            }
        }
        offset = start + prefix.len();
        rest = &text[offset..];
    }
    numbers
}

/// Records a report from hook `token`: the deployment (new, or its status updated), the issues
/// it mentions, its audit row and outbox event, in one transaction. Returns the deployment,
/// the linked issue keys, and whether it was new.
pub fn report(
    conn: &mut PgConnection,
    token: &str,
    ip: Option<String>,
    report: &Report,
) -> Result<(Deployment, Vec<String>, bool), AppError> {
    let hook: Option<(IncomingHook, String)> = incoming_hooks::table
        .inner_join(projects::table)
        .filter(incoming_hooks::token_hash.eq(secrets::digest(token)))
        .filter(incoming_hooks::revoked_at.is_null())
        .select((IncomingHook::as_select(), projects::key))
        .first(conn)
        .optional()?;
    // The same answer for a wrong and a revoked token: the URL is the secret.
    let (hook, project_key) = hook.ok_or_else(|| AppError::not_found("There is no such hook."))?;
    report.validate()?;
    let notes = report.notes();
    let numbers: Vec<i64> = mentioned_numbers(&project_key, &notes).into_iter().collect();
    conn.transaction(|conn| {
        let existing: Option<Deployment> = deployments::table
            .filter(deployments::project_id.eq(hook.project_id))
            .filter(deployments::environment.eq(&report.environment))
            .filter(deployments::version.eq(report.version.trim()))
            .select(Deployment::as_select())
            .for_update()
            .first(conn)
            .optional()?;
        let deployment: Deployment = match &existing {
            Some(found) => diesel::update(deployments::table.find(found.id))
                .set((
                    deployments::status.eq(&report.status),
                    deployments::commit_sha.eq(report.commit.as_ref().or(found.commit_sha.as_ref())),
                    deployments::url.eq(report.url.as_ref().or(found.url.as_ref())),
                    deployments::notes.eq(if notes.is_empty() { &found.notes } else { &notes }),
                    deployments::updated_at.eq(Utc::now()),
                ))
                .returning(Deployment::as_returning())
                .get_result(conn)?,
            None => diesel::insert_into(deployments::table)
                .values((
                    deployments::project_id.eq(hook.project_id),
                    deployments::environment.eq(&report.environment),
                    deployments::version.eq(report.version.trim()),
                    deployments::commit_sha.eq(&report.commit),
                    deployments::status.eq(&report.status),
                    deployments::url.eq(&report.url),
                    deployments::notes.eq(&notes),
                    deployments::hook_id.eq(hook.id),
                ))
                .returning(Deployment::as_returning())
                .get_result(conn)?,
        };
        let issue_ids: Vec<i64> = issues::table
            .filter(issues::project_id.eq(hook.project_id))
            .filter(issues::number.eq_any(&numbers))
            .select(issues::id)
            .load(conn)?;
        let rows: Vec<_> = issue_ids
            .iter()
            .map(|id| (deployment_issues::deployment_id.eq(deployment.id), deployment_issues::issue_id.eq(*id)))
            .collect();
        diesel::insert_into(deployment_issues::table).values(&rows).on_conflict_do_nothing().execute(conn)?;
        let keys: Vec<String> = issues::table
            .inner_join(deployment_issues::table)
            .filter(deployment_issues::deployment_id.eq(deployment.id))
            .order(issues::number)
            .select(issues::number)
            .load::<i64>(conn)?
            .into_iter()
            .map(|n| format!("{project_key}-{n}"))
            .collect();
        diesel::update(incoming_hooks::table.find(hook.id))
            .set(incoming_hooks::last_used_at.eq(Utc::now()))
            .execute(conn)?;
        audit::record(
            conn,
            &Actor::anonymous(ip),
            Change {
                action: "deployment.reported",
                entity_type: "deployment",
                entity_id: deployment.id,
                before: existing.as_ref().map(|d| json!({ "status": d.status })),
                after: Some(json!({
                    "project": project_key,
                    "environment": deployment.environment,
                    "version": deployment.version,
                    "status": deployment.status,
                    "hook_id": hook.id,
                    "issues": keys,
                })),
            },
        )?;
        Ok((deployment, keys, existing.is_none()))
    })
}

/// For the issue page: the latest deployment per environment that shipped the issue.
pub fn latest_for_issue(conn: &mut PgConnection, issue_id: i64) -> QueryResult<Vec<Deployment>> {
    deployments::table
        .inner_join(deployment_issues::table)
        .filter(deployment_issues::issue_id.eq(issue_id))
        .distinct_on(deployments::environment)
        .order((deployments::environment, deployments::updated_at.desc()))
        .select(Deployment::as_select())
        .load(conn)
}

/// For the project's deployments page: the newest deployments, with the keys each shipped.
pub fn recent(conn: &mut PgConnection, project: &Project, limit: i64) -> QueryResult<Vec<(Deployment, Vec<String>)>> {
    let list: Vec<Deployment> = deployments::table
        .filter(deployments::project_id.eq(project.id))
        .order(deployments::updated_at.desc())
        .limit(limit)
        .select(Deployment::as_select())
        .load(conn)?;
    let ids: Vec<i64> = list.iter().map(|d| d.id).collect();
    let links: Vec<(i64, i64)> = deployment_issues::table
        .inner_join(issues::table)
        .filter(deployment_issues::deployment_id.eq_any(&ids))
        .order(issues::number)
        .select((deployment_issues::deployment_id, issues::number))
        .load(conn)?;
    Ok(list
        .into_iter()
        .map(|d| {
            let keys =
                links.iter().filter(|(id, _)| *id == d.id).map(|(_, n)| format!("{}-{n}", project.key)).collect();
            (d, keys)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_projects_keys_as_whole_words() {
        let found = mentioned_numbers("OPS", "Fix OPS-12 and OPS-7, not XOPS-9 or OPS-3a or BOPS-1; (OPS-40)");
        assert_eq!(found.into_iter().collect::<Vec<_>>(), [7, 12, 40]);
        assert!(mentioned_numbers("OPS", "DEV-1 OPS- OPS-").is_empty());
    }
}
