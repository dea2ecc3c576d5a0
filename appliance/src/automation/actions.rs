//! What a rule can do to an issue, how each action is checked when the rule is saved, and how
//! it is applied when the rule runs. Every action goes through the same domain functions (and
//! the same permission check) as a person doing it by hand, so a rule can do nothing its owner
//! could not.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action as Permission};
use crate::identity::users::User;
use crate::integrations::webhooks;
use crate::schema::{issue_watchers, users};
use crate::work::api::IssueChangesInput;
use crate::work::comments;
use crate::work::fields::Catalogue;
use crate::work::issue_fields::{self, parse_points, DetailChanges};
use crate::work::issues::{self, Issue, IssueChanges, NewIssue};
use crate::work::kinds::{IssueType, Priority};
use crate::work::projects::Project;
use crate::work::workflows::Workflow;

/// Longest text a rule writes (a comment body uses the comment limit).
pub const MESSAGE_MAX: usize = 1000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Sets one field (as the API names it, or a custom field by name); an empty value clears it.
    SetField {
        field: String,
        value: String,
    },
    /// A user name, `reporter`, or empty to unassign.
    Assign {
        user: String,
    },
    Transition {
        status: String,
    },
    Comment {
        body: String,
    },
    AddLabel {
        label: String,
    },
    CreateSubtask {
        title: String,
    },
    /// Recipients: user names, `assignee`, `reporter`, `watchers`, separated by commas.
    Notify {
        to: String,
        message: String,
    },
    /// One of the project's (or the installation's) outgoing webhooks, by id.
    CallWebhook {
        webhook_id: i64,
    },
}

/// The kinds the rule form offers, with what its two inputs mean for each.
pub const KINDS: &[(&str, &str, &str, &str)] = &[
    ("set_field", "Set a field", "Field", "Value"),
    ("assign", "Assign", "User (or reporter; empty unassigns)", ""),
    ("transition", "Transition", "Status", ""),
    ("comment", "Add a comment", "", "Comment"),
    ("add_label", "Add a label", "Label", ""),
    ("create_subtask", "Create a sub-task", "", "Title"),
    ("notify", "Send a notification", "To (names, assignee, reporter, watchers)", "Message"),
    ("call_webhook", "Call an outgoing webhook", "Webhook id", ""),
];

/// The fields `set_field` can set besides custom fields, by the names the API uses.
pub const SETTABLE_FIELDS: &[&str] = &[
    "title",
    "issue_type",
    "priority",
    "description",
    "due_date",
    "story_points",
    "estimate",
    "fix_version",
    "parent",
    "labels",
    "components",
];

impl Action {
    /// From the form's three inputs of one action row.
    pub fn from_parts(kind: &str, target: &str, text: &str) -> Result<Action, String> {
        let (target, text) = (target.trim().to_owned(), text.trim().to_owned());
        Ok(match kind {
            "set_field" => Action::SetField { field: target, value: text },
            "assign" => Action::Assign { user: target },
            "transition" => Action::Transition { status: target },
            "comment" => Action::Comment { body: text },
            "add_label" => Action::AddLabel { label: target },
            "create_subtask" => Action::CreateSubtask { title: text },
            "notify" => Action::Notify { to: target, message: text },
            "call_webhook" => Action::CallWebhook {
                webhook_id: target.parse().map_err(|_| format!("\"{target}\" is not a webhook id (a number)."))?,
            },
            other => return Err(format!("\"{other}\" is not an action.")),
        })
    }

    /// The form's three inputs for this action.
    pub fn parts(&self) -> (&'static str, String, String) {
        match self {
            Action::SetField { field, value } => ("set_field", field.clone(), value.clone()),
            Action::Assign { user } => ("assign", user.clone(), String::new()),
            Action::Transition { status } => ("transition", status.clone(), String::new()),
            Action::Comment { body } => ("comment", String::new(), body.clone()),
            Action::AddLabel { label } => ("add_label", label.clone(), String::new()),
            Action::CreateSubtask { title } => ("create_subtask", String::new(), title.clone()),
            Action::Notify { to, message } => ("notify", to.clone(), message.clone()),
            Action::CallWebhook { webhook_id } => ("call_webhook", webhook_id.to_string(), String::new()),
        }
    }

    /// How the rule page says it.
    pub fn describe(&self) -> String {
        match self {
            Action::SetField { field, value } if value.is_empty() => format!("Clear {field}"),
            Action::SetField { field, value } => format!("Set {field} to \"{value}\""),
            Action::Assign { user } if user.is_empty() => "Unassign".to_owned(),
            Action::Assign { user } => format!("Assign to {user}"),
            Action::Transition { status } => format!("Move to {status}"),
            Action::Comment { .. } => "Add a comment".to_owned(),
            Action::AddLabel { label } => format!("Add the label {label}"),
            Action::CreateSubtask { title } => format!("Create the sub-task \"{title}\""),
            Action::Notify { to, .. } => format!("Notify {to}"),
            Action::CallWebhook { webhook_id } => format!("Call webhook #{webhook_id}"),
        }
    }
}

/// The API's field name for what a rule author typed.
fn api_field(field: &str) -> Option<&'static str> {
    Some(match field.to_lowercase().as_str() {
        "title" | "summary" => "title",
        "type" | "issue_type" => "issue_type",
        "priority" => "priority",
        "description" => "description",
        "due" | "due_date" => "due_date",
        "points" | "story_points" => "story_points",
        "estimate" => "estimate",
        "fix_version" | "fixversion" => "fix_version",
        "parent" => "parent",
        "labels" => "labels",
        "components" => "components",
        _ => return None,
    })
}

/// The issue changes that setting `field` to `value` means, parsed as the API parses them.
fn set_field_changes(catalogue: &Catalogue, field: &str, value: &str) -> Result<IssueChanges, AppError> {
    let value = value.trim();
    let list = || Value::from(value.split(',').map(str::trim).filter(|v| !v.is_empty()).collect::<Vec<_>>());
    let text_or_null = || if value.is_empty() { Value::Null } else { Value::from(value) };
    let body = match api_field(field) {
        Some(name @ ("labels" | "components")) => json!({ name: list() }),
        Some("story_points") => json!({ "story_points": parse_points(value)? }),
        Some(name @ ("title" | "issue_type" | "priority" | "description")) => json!({ name: value }),
        Some(name) => json!({ name: text_or_null() }),
        None => {
            let custom = catalogue.custom_field(field).map_err(|_| {
                AppError::invalid(
                    "field",
                    format!(
                        "\"{field}\" is not a field a rule can set; use one of {} or a custom field's name.",
                        SETTABLE_FIELDS.join(", ")
                    ),
                )
            })?;
            json!({ "custom": { custom.name.clone(): text_or_null() } })
        }
    };
    let input: IssueChangesInput = serde_json::from_value(body)
        .map_err(|e| AppError::invalid("value", format!("That value does not fit: {e}.")))?;
    input.into_changes()
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), AppError> {
    let length = text.chars().count();
    if text.trim().is_empty() {
        return Err(AppError::invalid("text", format!("{what} is empty.")));
    }
    if length > max {
        return Err(AppError::invalid("text", format!("{what} must be at most {max} characters (it has {length}).")));
    }
    Ok(())
}

fn active_user(conn: &mut PgConnection, name: &str) -> Result<User, AppError> {
    let name = name.trim().trim_start_matches('@');
    users::table
        .filter(users::username.eq(name.to_lowercase()).and(users::is_active.eq(true)))
        .select(User::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::invalid("user", format!("There is no active user named {name}.")))
}

/// The recipients' words, split.
fn recipient_words(to: &str) -> Vec<&str> {
    to.split([',', ' ']).map(str::trim).filter(|word| !word.is_empty()).collect()
}

/// The webhook a rule may call: the project's own or a global one.
fn callable_webhook(conn: &mut PgConnection, project: &Project, id: i64) -> Result<webhooks::Webhook, AppError> {
    webhooks::find(conn, Some(project.id), id).or_else(|_| webhooks::find(conn, None, id)).map_err(|_| {
        AppError::invalid("webhook", format!("There is no webhook #{id} in {} or for all projects.", project.key))
    })
}

/// Checks an action when the rule is saved: names, statuses, people and hooks that exist now.
/// (They are checked again when it runs, since they can change.)
pub fn check(
    conn: &mut PgConnection,
    project: &Project,
    workflow: &Workflow,
    catalogue: &Catalogue,
    action: &Action,
) -> Result<(), AppError> {
    match action {
        Action::SetField { field, value } => {
            if field.trim().is_empty() {
                return Err(AppError::invalid("field", "Name the field to set."));
            }
            set_field_changes(catalogue, field, value).map(|_| ())
        }
        Action::Assign { user } => match user.trim() {
            "" | "reporter" => Ok(()),
            name => active_user(conn, name).map(|_| ()),
        },
        Action::Transition { status } => workflow.find(status).map(|_| ()),
        Action::Comment { body } => comments::check_body(body),
        Action::AddLabel { label } => issue_fields::clean_labels(std::slice::from_ref(label)).and_then(|labels| {
            if labels.is_empty() {
                Err(AppError::invalid("label", "Name the label to add."))
            } else {
                Ok(())
            }
        }),
        Action::CreateSubtask { title } => issues::clean_title(title).map(|_| ()),
        Action::Notify { to, message } => {
            check_text("The message", message, MESSAGE_MAX)?;
            let words = recipient_words(to);
            if words.is_empty() {
                return Err(AppError::invalid("to", "Say who to notify: user names, assignee, reporter or watchers."));
            }
            for word in words.into_iter().filter(|w| !matches!(*w, "assignee" | "reporter" | "watchers")) {
                active_user(conn, word)?;
            }
            Ok(())
        }
        Action::CallWebhook { webhook_id } => callable_webhook(conn, project, *webhook_id).map(|_| ()),
    }
}

/// What a run knows while applying actions.
pub struct Target<'a> {
    pub actor: &'a Actor,
    pub owner: &'a User,
    pub project: &'a Project,
    pub rule_id: i64,
    pub rule_name: &'a str,
    pub issue: Issue,
}

impl Target<'_> {
    fn key(&self) -> String {
        format!("{}-{}", self.project.key, self.issue.number)
    }

    fn username(conn: &mut PgConnection, id: Option<i64>) -> QueryResult<String> {
        Ok(match id {
            Some(id) => users::table.find(id).select(users::username).first(conn).optional()?.unwrap_or_default(),
            None => String::new(),
        })
    }

    /// `text` with `{{key}}`, `{{title}}`, `{{status}}`, `{{assignee}}`, `{{reporter}}` and
    /// `{{rule}}` filled in from the issue as it is now.
    fn fill(&self, conn: &mut PgConnection, text: &str) -> Result<String, AppError> {
        if !text.contains("{{") {
            return Ok(text.to_owned());
        }
        let workflow = Workflow::load(conn, self.project.id)?;
        let status = workflow.status(self.issue.status_id).map(|s| s.name.clone()).unwrap_or_default();
        let values = [
            ("key", self.key()),
            ("title", self.issue.title.clone()),
            ("status", status),
            ("assignee", Self::username(conn, self.issue.assignee_id)?),
            ("reporter", Self::username(conn, Some(self.issue.reporter_id))?),
            ("rule", self.rule_name.to_owned()),
        ];
        Ok(fill_placeholders(text, &values))
    }
}

/// Replaces each `{{name}}` by its value; unknown names stay as written.
pub fn fill_placeholders(text: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(text.to_owned(), |text, (name, value)| text.replace(&format!("{{{{{name}}}}}"), value))
}

/// Applies one action as the rule's owner; returns the line the execution log shows.
pub fn apply(conn: &mut PgConnection, target: &mut Target<'_>, action: &Action) -> Result<String, AppError> {
    let (project, owner) = (target.project, target.owner);
    let line = match action {
        Action::SetField { field, value } => {
            authorize(owner, Permission::EditIssue(project, &target.issue))?;
            let catalogue = Catalogue::load(conn, project.id)?;
            let changes = set_field_changes(&catalogue, field, value)?;
            update(conn, target, changes)?;
            action.describe()
        }
        Action::Assign { user } => {
            authorize(owner, Permission::EditIssue(project, &target.issue))?;
            let name = match user.trim() {
                "" => None,
                "reporter" => Some(Target::username(conn, Some(target.issue.reporter_id))?),
                name => Some(name.trim_start_matches('@').to_owned()),
            };
            let line = match &name {
                Some(name) => format!("Assigned to {name}"),
                None => "Unassigned".to_owned(),
            };
            update(conn, target, IssueChanges { assignee: Some(name), ..Default::default() })?;
            line
        }
        Action::Transition { status } => {
            authorize(owner, Permission::TransitionIssue(project))?;
            let workflow = Workflow::load(conn, project.id)?;
            let wanted = workflow.find(status)?;
            if wanted.id == target.issue.status_id {
                format!("Already in {}", wanted.name)
            } else {
                let name = wanted.name.clone();
                update(conn, target, IssueChanges { status: Some(name.clone()), ..Default::default() })?;
                format!("Moved to {name}")
            }
        }
        Action::Comment { body } => {
            authorize(owner, Permission::Comment(project))?;
            let body = target.fill(conn, body)?;
            comments::create(conn, target.actor, &target.issue, owner.id, &body)?;
            "Added a comment".to_owned()
        }
        Action::AddLabel { label } => {
            authorize(owner, Permission::EditIssue(project, &target.issue))?;
            let mut labels = issue_fields::details_of(conn, &target.issue)?.labels;
            let label = issue_fields::clean_labels(std::slice::from_ref(label))?.pop().unwrap_or_default();
            if labels.contains(&label) {
                format!("Already labelled {label}")
            } else {
                labels.push(label.clone());
                let details = DetailChanges { labels: Some(labels), ..Default::default() };
                update(conn, target, IssueChanges { details, ..Default::default() })?;
                format!("Added the label {label}")
            }
        }
        Action::CreateSubtask { title } => {
            authorize(owner, Permission::CreateIssue(project))?;
            let title = target.fill(conn, title)?;
            let new = NewIssue {
                issue_type: IssueType::Subtask,
                status: None,
                priority: Priority::Medium,
                title,
                description: String::new(),
                assignee: None,
                details: DetailChanges { parent: Some(Some(target.key())), ..Default::default() },
            };
            let created = issues::create(conn, target.actor, project, owner.id, new)?.issue;
            format!("Created the sub-task {}-{}", project.key, created.number)
        }
        Action::Notify { to, message } => {
            authorize(owner, Permission::ViewProject(project))?;
            let recipients = recipients(conn, &target.issue, to)?;
            let message = target.fill(conn, message)?;
            record_on_issue(
                conn,
                target,
                "automation.notified",
                json!({ "recipients": recipients, "message": message }),
            )?;
            format!("Notified {} {}", recipients.len(), if recipients.len() == 1 { "person" } else { "people" })
        }
        Action::CallWebhook { webhook_id } => {
            authorize(owner, Permission::ViewProject(project))?;
            let hook = callable_webhook(conn, project, *webhook_id)?;
            if !hook.active {
                return Err(AppError::conflict("webhook", format!("The webhook \"{}\" is disabled.", hook.name)));
            }
            let workflow = Workflow::load(conn, project.id)?;
            let issue = issue_fields::snapshot(conn, project, &target.issue, &workflow)?;
            record_on_issue(
                conn,
                target,
                "automation.webhook_called",
                json!({ "webhook_id": hook.id, "issue": issue }),
            )?;
            format!("Called the webhook \"{}\"", hook.name)
        }
    };
    Ok(line)
}

fn update(conn: &mut PgConnection, target: &mut Target<'_>, changes: IssueChanges) -> Result<(), AppError> {
    target.issue = issues::update(conn, target.actor, target.project, target.issue.id, changes)?;
    Ok(())
}

/// Writes an audit row (and its outbox event) on the issue for an action whose effect happens
/// later, in another job: the notification, the webhook delivery.
fn record_on_issue(conn: &mut PgConnection, target: &Target<'_>, action: &str, details: Value) -> Result<(), AppError> {
    let mut after = Map::new();
    after.insert("key".to_owned(), Value::from(target.key()));
    after.insert("rule_id".to_owned(), Value::from(target.rule_id));
    after.insert("rule".to_owned(), Value::from(target.rule_name));
    if let Value::Object(details) = details {
        after.extend(details);
    }
    audit::record(
        conn,
        target.actor,
        Change {
            action,
            entity_type: "issue",
            entity_id: target.issue.id,
            before: None,
            after: Some(Value::Object(after)),
        },
    )?;
    Ok(())
}

/// The user ids `to` names for `issue`; nobody found is an error that says so.
fn recipients(conn: &mut PgConnection, issue: &Issue, to: &str) -> Result<Vec<i64>, AppError> {
    let mut ids = std::collections::BTreeSet::new();
    for word in recipient_words(to) {
        match word {
            "assignee" => ids.extend(issue.assignee_id),
            "reporter" => {
                ids.insert(issue.reporter_id);
            }
            "watchers" => ids.extend(
                issue_watchers::table
                    .filter(issue_watchers::issue_id.eq(issue.id))
                    .select(issue_watchers::user_id)
                    .load::<i64>(conn)?,
            ),
            name => {
                ids.insert(active_user(conn, name)?.id);
            }
        }
    }
    if ids.is_empty() {
        return Err(AppError::invalid("to", format!("Nobody to notify: \"{to}\" names no one on this issue.")));
    }
    Ok(ids.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_the_form_and_json() {
        let all = [
            Action::SetField { field: "priority".into(), value: "High".into() },
            Action::Assign { user: "reporter".into() },
            Action::Transition { status: "Done".into() },
            Action::Comment { body: "Escalated by {{rule}}".into() },
            Action::AddLabel { label: "urgent".into() },
            Action::CreateSubtask { title: "Review {{key}}".into() },
            Action::Notify { to: "assignee, alice".into(), message: "Look".into() },
            Action::CallWebhook { webhook_id: 4 },
        ];
        for action in all {
            let (kind, target, text) = action.parts();
            assert_eq!(Action::from_parts(kind, &target, &text).unwrap(), action);
            let json = serde_json::to_value(&action).unwrap();
            assert_eq!(serde_json::from_value::<Action>(json).unwrap(), action);
        }
        assert!(Action::from_parts("call_webhook", "four", "").unwrap_err().contains("not a webhook id"));
        assert!(Action::from_parts("explode", "", "").unwrap_err().contains("not an action"));
        let stray = json!({ "type": "assign", "user": "bob", "extra": 1 });
        assert!(serde_json::from_value::<Action>(stray).is_err(), "unknown fields are refused");
    }

    #[test]
    fn placeholders_are_filled_and_unknown_ones_stay() {
        let values = [("key", "OPS-7".to_owned()), ("rule", "Escalate".to_owned())];
        assert_eq!(fill_placeholders("{{key}} by {{rule}} {{nope}}", &values), "OPS-7 by Escalate {{nope}}");
    }

    #[test]
    fn recipients_split_on_commas_and_spaces() {
        assert_eq!(recipient_words(" assignee,alice  bob ,"), ["assignee", "alice", "bob"]);
    }
}
