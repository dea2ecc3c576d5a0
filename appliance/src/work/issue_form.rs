//! Creating and editing an issue through its form: every field, including the project's
//! custom fields, comes back beside its problem with everything the user typed.

use actix_web::{web, HttpResponse};
use askama::Template;
use diesel::prelude::*;

use super::fields::{Catalogue, CustomField, FieldKind};
use super::issue_fields::{parse_date, parse_points, DetailChanges, Details};
use super::issue_pages::issue_for;
use super::issues::{self, Issue, IssueChanges, NewIssue};
use super::kinds::{IssueType, Priority};
use super::project_pages::project_for;
use super::projects::Project;
use super::time_tracking::{format_duration, parse_duration};
use super::workflows::{Workflow, WorkflowStatus};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::Action;
use crate::identity::users::{self, UserRef};
use crate::schema::issues as issues_table;
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{redirect, render_with_status, status_for, Nav};
use crate::web::AppState;

/// The form as submitted: every field a string, parsed by `to_new`/`to_changes` so that a bad
/// value comes back to the user beside its field. Read from the raw pairs, because
/// components and multi-select fields repeat their name.
#[derive(Clone, Debug, Default)]
pub struct IssueForm {
    title: String,
    issue_type: String,
    status: String,
    priority: String,
    description: String,
    assignee: String,
    parent: String,
    due_date: String,
    story_points: String,
    estimate: String,
    fix_version: String,
    labels: String,
    components: Vec<String>,
    /// `custom.<name>` fields, in the order sent.
    custom: Vec<(String, Vec<String>)>,
}

impl IssueForm {
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut form = IssueForm::default();
        for (name, value) in pairs {
            match name.as_str() {
                "title" => form.title = value.clone(),
                "type" => form.issue_type = value.clone(),
                "status" => form.status = value.clone(),
                "priority" => form.priority = value.clone(),
                "description" => form.description = value.clone(),
                "assignee" => form.assignee = value.clone(),
                "parent" => form.parent = value.clone(),
                "due_date" => form.due_date = value.clone(),
                "story_points" => form.story_points = value.clone(),
                "estimate" => form.estimate = value.clone(),
                "fix_version" => form.fix_version = value.clone(),
                "labels" => form.labels = value.clone(),
                "components" => form.components.push(value.clone()),
                other => {
                    if let Some(field) = other.strip_prefix("custom.") {
                        match form.custom.iter_mut().find(|(name, _)| name == field) {
                            Some((_, values)) => values.push(value.clone()),
                            None => form.custom.push((field.to_owned(), vec![value.clone()])),
                        }
                    }
                }
            }
        }
        form
    }

    fn from_issue(issue: &Issue, status: &WorkflowStatus, assignee: Option<&UserRef>, details: &Details) -> Self {
        Self {
            title: issue.title.clone(),
            issue_type: issue.issue_type.as_str().to_owned(),
            status: status.name.clone(),
            priority: issue.priority.as_str().to_owned(),
            description: issue.description.clone(),
            assignee: assignee.map(|a| a.username.clone()).unwrap_or_default(),
            parent: details.parent.clone().unwrap_or_default(),
            due_date: issue.due_date.map(|d| d.to_string()).unwrap_or_default(),
            story_points: issue.story_points.map(|p| p.to_string()).unwrap_or_default(),
            estimate: issue.estimate_minutes.map(|m| format_duration(i64::from(m))).unwrap_or_default(),
            fix_version: details.fix_version.clone().unwrap_or_default(),
            labels: details.labels.join(", "),
            components: details.components.clone(),
            custom: details
                .custom
                .iter()
                .map(|(name, value)| {
                    (name.clone(), value.iter().flat_map(|v| v.split(", ")).map(str::to_owned).collect())
                })
                .collect(),
        }
    }

    fn details(&self) -> Result<DetailChanges, AppError> {
        let estimate = match self.estimate.trim() {
            "" => None,
            text => Some(parse_duration("estimate", text)?),
        };
        Ok(DetailChanges {
            parent: Some(Some(self.parent.clone())),
            due_date: Some(parse_date("due_date", &self.due_date)?),
            story_points: Some(parse_points(&self.story_points)?),
            estimate_minutes: Some(estimate),
            fix_version: Some(Some(self.fix_version.clone())),
            labels: Some(vec![self.labels.clone()]),
            components: Some(self.components.clone()),
            custom: self.custom.clone(),
        })
    }

    fn to_new(&self) -> Result<NewIssue, AppError> {
        let or = |value: &str, default: &'static str| {
            if value.trim().is_empty() {
                default.to_owned()
            } else {
                value.to_owned()
            }
        };
        Ok(NewIssue {
            issue_type: IssueType::parse(&or(&self.issue_type, "task"))?,
            status: Some(self.status.clone()).filter(|s| !s.trim().is_empty()),
            priority: Priority::parse(&or(&self.priority, "medium"))?,
            title: self.title.clone(),
            description: self.description.clone(),
            assignee: Some(self.assignee.clone()).filter(|a| !a.trim().is_empty()),
            details: self.details()?,
        })
    }

    fn to_changes(&self) -> Result<IssueChanges, AppError> {
        let new = self.to_new()?;
        Ok(IssueChanges {
            issue_type: Some(new.issue_type),
            status: new.status,
            priority: Some(new.priority),
            title: Some(new.title),
            description: Some(new.description),
            assignee: Some(new.assignee),
            details: new.details,
        })
    }

    fn custom_values(&self, name: &str) -> &[String] {
        self.custom.iter().find(|(field, _)| field == name).map_or(&[], |(_, values)| values.as_slice())
    }
}

#[derive(Template)]
#[template(path = "issues/form.html")]
struct IssueFormPage {
    nav: Nav,
    project: Project,
    /// `None` when creating.
    issue_key: Option<String>,
    form: IssueForm,
    people: Vec<UserRef>,
    /// The statuses offered: all of them when creating, the current one and where the
    /// workflow lets it move when editing.
    statuses: Vec<WorkflowStatus>,
    catalogue: Catalogue,
    /// Keys and titles of the project's epics, offered as parents.
    epics: Vec<(i64, String)>,
    error: Option<AppError>,
}

impl IssueFormPage {
    fn types(&self) -> &'static [IssueType] {
        IssueType::ALL
    }

    fn priorities(&self) -> &'static [Priority] {
        Priority::ALL
    }

    fn initial_status(&self) -> &str {
        self.statuses.first().map_or("", |s| s.name.as_str())
    }

    fn is(&self, value: &str, option: &str, default: &str) -> bool {
        if value.is_empty() {
            option == default
        } else {
            value == option
        }
    }

    fn has_component(&self, name: &str) -> bool {
        self.form.components.iter().any(|c| c.eq_ignore_ascii_case(name))
    }

    fn custom_text(&self, field: &CustomField) -> String {
        self.form.custom_values(&field.name).iter().find(|v| !v.is_empty()).cloned().unwrap_or_default()
    }

    fn custom_chosen(&self, field: &CustomField, option: &str) -> bool {
        self.form.custom_values(&field.name).iter().any(|v| v.eq_ignore_ascii_case(option))
    }

    fn input_type(&self, field: &CustomField) -> &'static str {
        match field.kind {
            FieldKind::Number => "number",
            FieldKind::Date => "date",
            _ => "text",
        }
    }

    fn field_error(&self, field: &str) -> Option<String> {
        crate::web::pages::field_error(&self.error, field)
    }

    fn custom_error(&self, field: &CustomField) -> Option<String> {
        self.field_error(&format!("custom.{}", field.name))
    }
}

/// The create form (`issue` is `None`) or the edit form of an issue (its key and status).
async fn form_page(
    signed_in: &SignedIn,
    state: &AppState,
    project: Project,
    issue: Option<(String, i64)>,
    form: IssueForm,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let project_id = project.id;
    let current = issue.as_ref().map(|(_, status_id)| *status_id);
    let (people, statuses, catalogue, epics) = db::run(&state.pool, move |conn| {
        let workflow = Workflow::load(conn, project_id)?;
        let statuses = match current {
            None => workflow.statuses.clone(),
            Some(from) => workflow.statuses.iter().filter(|s| workflow.allows(from, s.id)).cloned().collect(),
        };
        let epics = issues_table::table
            .filter(issues_table::project_id.eq(project_id).and(issues_table::issue_type.eq(IssueType::Epic)))
            .order(issues_table::number.desc())
            .limit(200)
            .select((issues_table::number, issues_table::title))
            .load(conn)?;
        Ok((users::project_refs(conn, project_id)?, statuses, Catalogue::load(conn, project_id)?, epics))
    })
    .await?;
    let status = status_for(error.as_ref());
    let issue_key = issue.map(|(key, _)| key);
    let page = IssueFormPage {
        nav: Nav::for_user(signed_in, "projects"),
        project,
        issue_key,
        form,
        people,
        statuses,
        catalogue,
        epics,
        error,
    };
    Ok(render_with_status(&page, status)?)
}

pub async fn new_form(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let project = project_for(&state, &signed_in, path.into_inner(), |p| Action::CreateIssue(p)).await?;
    // `?type=subtask&parent=OPS-4` pre-fills the form, e.g. from a parent's page.
    let form = IssueForm::from_pairs(&query);
    form_page(&signed_in, &state, project, None, form, None).await
}

pub async fn create(
    form: CsrfForm<Vec<(String, String)>>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let data = IssueForm::from_pairs(&data);
    let project = project_for(&state, &signed_in, path.into_inner(), |p| Action::CreateIssue(p)).await?;
    let created = match data.to_new() {
        Ok(new) => {
            let (actor, reporter, target) = (signed_in.actor.clone(), signed_in.user().id, project.clone());
            db::run(&state.pool, move |conn| Ok(issues::create(conn, &actor, &target, reporter, new)?.issue)).await
        }
        Err(error) => Err(error),
    };
    match created {
        Ok(issue) => Ok(redirect(&format!("/issues/{}-{}", project.key, issue.number))),
        Err(error @ AppError::Invalid { .. }) => form_page(&signed_in, &state, project, None, data, Some(error)).await,
        Err(other) => Err(other.into()),
    }
}

pub async fn edit_form(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let (project, issue) = issue_for(&state, &signed_in, &path, |p, i| Action::EditIssue(p, i)).await?;
    let (shown, target) = (issue.clone(), project.clone());
    let (assignee, status, details) = db::run(&state.pool, move |conn| {
        let described = super::described::describe(conn, &shown)?;
        let status = Workflow::of(conn, &target)?.status(shown.status_id)?.clone();
        Ok((described.assignee, status, described.details))
    })
    .await?;
    let form = IssueForm::from_issue(&issue, &status, assignee.as_ref(), &details);
    let key = format!("{}-{}", project.key, issue.number);
    form_page(&signed_in, &state, project, Some((key, issue.status_id)), form, None).await
}

pub async fn update(
    form: CsrfForm<Vec<(String, String)>>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let data = IssueForm::from_pairs(&data);
    let key = path.into_inner();
    let (project, issue) = issue_for(&state, &signed_in, &key, |p, i| Action::EditIssue(p, i)).await?;
    let updated = match data.to_changes() {
        Ok(changes) => {
            let (actor, target, issue_id) = (signed_in.actor.clone(), project.clone(), issue.id);
            db::run(&state.pool, move |conn| issues::update(conn, &actor, &target, issue_id, changes)).await
        }
        Err(error) => Err(error),
    };
    match updated {
        Ok(_) => Ok(redirect(&format!("/issues/{}-{}", project.key, issue.number))),
        Err(error @ AppError::Invalid { .. }) => {
            form_page(&signed_in, &state, project, Some((key, issue.status_id)), data, Some(error)).await
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn repeated_fields_collect_and_custom_fields_group_by_name() {
        let form = IssueForm::from_pairs(&[
            pair("title", "T"),
            pair("components", "api"),
            pair("components", "db"),
            pair("custom.Tier", ""),
            pair("custom.Tier", "gold"),
            pair("custom.Regions", "eu"),
        ]);
        assert_eq!(form.components, ["api", "db"]);
        assert_eq!(form.custom_values("Tier"), ["", "gold"]);
        assert_eq!(form.custom_values("Regions"), ["eu"]);
        assert!(form.custom_values("Missing").is_empty());
    }

    #[test]
    fn bad_planning_fields_name_themselves() {
        let mut form = IssueForm::from_pairs(&[pair("title", "T")]);
        form.estimate = "soon".to_owned();
        assert_eq!(form.to_new().unwrap_err().field(), Some("estimate"));
        form.estimate = "2h".to_owned();
        form.due_date = "tomorrow".to_owned();
        assert_eq!(form.to_new().unwrap_err().field(), Some("due_date"));
        form.due_date = "2026-12-01".to_owned();
        form.story_points = "x".to_owned();
        assert_eq!(form.to_new().unwrap_err().field(), Some("story_points"));
    }
}
