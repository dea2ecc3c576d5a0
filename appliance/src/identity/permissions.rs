//! The one place that decides whether a user may do something. Every handler calls
//! `authorize` before it acts; the rules grow here (permission schemes, roles) and nowhere else.

use diesel::prelude::*;

use super::users::User;
use crate::docs::spaces::Space;
use crate::errors::AppError;
use crate::schema::spaces;
use crate::search::engine::Scope;
use crate::work::projects::{self, Project};

#[derive(Clone, Copy, Debug)]
pub enum Action<'a> {
    ListProjects,
    CreateProject,
    ViewProject(&'a Project),
    /// Change a project's settings and workflow: its lead, or an administrator.
    ManageProject(&'a Project),
    CreateIssue(&'a Project),
    EditIssue(&'a Project),
    Comment(&'a Project),
    /// Read a documentation space's pages (and their files and versions).
    ViewSpace(&'a Space),
    /// Write, move, restore and delete pages in a space, and attach files to them.
    EditPages(&'a Space),
    /// Create a standalone documentation space (a project's comes with the project).
    CreateSpace,
    ManageOwnTokens,
    ManageOwnNotifications,
    /// Installation-wide administration: the job queue, global settings.
    Administer,
}

/// Until permission schemes arrive, every active user may read and work in every project and
/// space, only administrators create projects and standalone spaces, and a project's lead (or an administrator) manages it.
pub fn authorize(user: &User, action: Action<'_>) -> Result<(), AppError> {
    if !user.is_active {
        return Err(AppError::forbidden("This account is deactivated."));
    }
    match action {
        Action::CreateProject if !user.is_admin => Err(AppError::forbidden("Only administrators can create projects.")),
        Action::Administer if !user.is_admin => Err(AppError::forbidden("Only administrators can do this.")),
        Action::CreateSpace if !user.is_admin => {
            Err(AppError::forbidden("Only administrators can create documentation spaces."))
        }
        Action::ManageProject(project) if !user.is_admin && project.lead_id != user.id => Err(AppError::forbidden(
            format!("Only the lead of {} or an administrator can change its settings.", project.key),
        )),
        Action::ListProjects
        | Action::CreateProject
        | Action::ViewProject(_)
        | Action::ManageProject(_)
        | Action::CreateIssue(_)
        | Action::EditIssue(_)
        | Action::Comment(_)
        | Action::ViewSpace(_)
        | Action::EditPages(_)
        | Action::CreateSpace
        | Action::ManageOwnTokens
        | Action::ManageOwnNotifications
        | Action::Administer => Ok(()),
    }
}

/// The projects and spaces whose contents `user` may read, each decided by `authorize`, for
/// filters that must run inside a query (search) instead of on each row afterwards.
pub fn readable_scope(conn: &mut PgConnection, user: &User) -> QueryResult<Scope> {
    let all_projects = projects::list(conn)?;
    let all_spaces: Vec<Space> = spaces::table.select(Space::as_select()).load(conn)?;
    let projects: Vec<i64> = all_projects
        .iter()
        .filter(|project| authorize(user, Action::ViewProject(project)).is_ok())
        .map(|project| project.id)
        .collect();
    let spaces: Vec<i64> = all_spaces
        .iter()
        .filter(|space| authorize(user, Action::ViewSpace(space)).is_ok())
        .map(|space| space.id)
        .collect();
    Ok(if projects.len() == all_projects.len() && spaces.len() == all_spaces.len() {
        Scope::Everything
    } else {
        Scope::Only { projects, spaces }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn user(is_admin: bool, is_active: bool) -> User {
        User {
            id: 1,
            username: "u".into(),
            display_name: "U".into(),
            email: "u@example.com".into(),
            password_hash: String::new(),
            is_admin,
            is_active,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn project() -> Project {
        Project {
            id: 1,
            key: "OPS".into(),
            name: "Ops".into(),
            description: String::new(),
            lead_id: 2,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn the_permission_matrix_holds() {
        let project = project();
        let actions = [
            Action::ListProjects,
            Action::CreateProject,
            Action::ViewProject(&project),
            Action::ManageProject(&project),
            Action::CreateIssue(&project),
            Action::EditIssue(&project),
            Action::Comment(&project),
            Action::ManageOwnTokens,
            Action::ManageOwnNotifications,
            Action::Administer,
        ];
        for action in actions {
            assert!(authorize(&user(true, true), action).is_ok(), "admin may {action:?}");
            assert!(authorize(&user(true, false), action).is_err(), "deactivated may not {action:?}");
            let member = authorize(&user(false, true), action);
            let admin_only = matches!(action, Action::CreateProject | Action::ManageProject(_) | Action::Administer);
            assert_eq!(member.is_ok(), !admin_only, "member and {action:?}");
        }
        let mut lead = user(false, true);
        lead.id = project.lead_id;
        assert!(authorize(&lead, Action::ManageProject(&project)).is_ok(), "the lead manages the project");
        lead.id = project.lead_id + 1;
        assert!(authorize(&lead, Action::ManageProject(&project)).is_err(), "someone else's project");
    }
}
