//! Releases: a project's versions with the issues fixed in them and where each version went.
//! Deployments name versions as CI systems spell them, so `v1.4.2` and `1.4.2` are the same
//! release.

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde::Serialize;

use super::deployments::Deployment;
use crate::schema::{deployments, issues, versions, workflow_statuses};
use crate::work::fields::Version;
use crate::work::kinds::StatusCategory;
use crate::work::projects::Project;

/// Deployments looked at for the releases view, newest first.
const DEPLOYMENTS_SCANNED: i64 = 1000;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReleaseIssue {
    pub key: String,
    pub title: String,
    pub status: String,
    pub done: bool,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Release {
    #[serde(flatten)]
    pub version: Version,
    pub issues: Vec<ReleaseIssue>,
    /// The newest deployment of this version in each environment.
    pub deployed: Vec<Deployment>,
}

impl Release {
    pub fn done(&self) -> usize {
        self.issues.iter().filter(|issue| issue.done).count()
    }
}

/// The name a version is matched by: without a leading `v`, case-insensitive.
fn release_name(name: &str) -> String {
    name.trim().trim_start_matches(['v', 'V']).to_lowercase()
}

/// The project's versions, unreleased first (the work in flight), then the newest released.
pub fn of_project(conn: &mut PgConnection, project: &Project) -> QueryResult<Vec<Release>> {
    let mut list: Vec<Version> = versions::table
        .filter(versions::project_id.eq(project.id))
        .order(versions::id.desc())
        .select(Version::as_select())
        .load(conn)?;
    list.sort_by_key(|version| version.released);
    let ids: Vec<i64> = list.iter().map(|version| version.id).collect();
    let rows: Vec<(i64, i64, String, String, StatusCategory)> = issues::table
        .inner_join(workflow_statuses::table)
        .filter(issues::fix_version_id.eq_any(&ids))
        .order(issues::number)
        .select((
            issues::fix_version_id.assume_not_null(),
            issues::number,
            issues::title,
            workflow_statuses::name,
            workflow_statuses::category,
        ))
        .load(conn)?;
    let mut fixed: BTreeMap<i64, Vec<ReleaseIssue>> = BTreeMap::new();
    for (version_id, number, title, status, category) in rows {
        fixed.entry(version_id).or_default().push(ReleaseIssue {
            key: format!("{}-{number}", project.key),
            title,
            status,
            done: category == StatusCategory::Done,
        });
    }
    let recent: Vec<Deployment> = deployments::table
        .filter(deployments::project_id.eq(project.id))
        .order(deployments::updated_at.desc())
        .limit(DEPLOYMENTS_SCANNED)
        .select(Deployment::as_select())
        .load(conn)?;
    Ok(list
        .into_iter()
        .map(|version| {
            let name = release_name(&version.name);
            let mut seen = std::collections::BTreeSet::new();
            let deployed = recent
                .iter()
                .filter(|d| release_name(&d.version) == name && seen.insert(d.environment.clone()))
                .cloned()
                .collect();
            Release { issues: fixed.remove(&version.id).unwrap_or_default(), deployed, version }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_v_and_case_do_not_make_another_release() {
        assert_eq!(release_name("v1.4.2"), release_name("1.4.2"));
        assert_eq!(release_name(" V2.0-RC1 "), "2.0-rc1");
        assert_ne!(release_name("1.4"), release_name("1.4.2"));
    }
}
