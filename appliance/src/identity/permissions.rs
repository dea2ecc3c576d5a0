//! The one place that decides whether a user may do something. Every handler calls
//! `authorize` before it acts, and nothing else decides.
//!
//! The rules: a deactivated account may do nothing. A system administrator may do everything.
//! An auditor reads every project and space and the audit log, and changes nothing but their
//! own tokens and notifications. Anyone else holds, in each project, the permissions its
//! permission scheme gives to the roles they were granted there (directly, through a team,
//! or as everyone signed in; a project's lead is always its project admin); see
//! `roles::Access`, which is loaded with the user.
//!
//! Whoever may not browse a project is told it does not exist (404), so that a project's
//! existence, key and contents leak to nobody outside it. Whoever may browse it but not do
//! the thing asked is told why (403).

use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable};

use super::roles::{GlobalRole, PermissionSet, ProjectPermission};
use super::users::User;
use crate::docs::spaces::Space;
use crate::errors::AppError;
use crate::search::engine::Scope;
use crate::work::issues::Issue;
use crate::work::projects::Project;

#[derive(Clone, Copy, Debug)]
pub enum Action<'a> {
    ListProjects,
    CreateProject,
    ViewProject(&'a Project),
    /// Change a project's settings, workflow, automation, hooks and access.
    ManageProject(&'a Project),
    CreateIssue(&'a Project),
    /// Edit this issue: anyone who may edit every issue, or its reporter if they may edit their own.
    EditIssue(&'a Project, &'a Issue),
    /// Change many issues at once (bulk edit): only who may edit every issue.
    EditAllIssues(&'a Project),
    /// Move an issue to another status.
    TransitionIssue(&'a Project),
    Comment(&'a Project),
    /// Delete an issue for good, with its comments, history and files.
    DeleteIssue(&'a Project),
    /// Read the audit trail of one project's issues, sprints, pages and settings.
    ViewProjectAudit(&'a Project),
    /// Create, start and complete sprints and rank the backlog.
    ManageSprints(&'a Project),
    /// Read a documentation space's pages (and their files and versions).
    ViewSpace(&'a Space),
    /// Write, move, restore and delete pages in a space, and attach files to them.
    EditPages(&'a Space),
    /// Create a standalone documentation space (a project's comes with the project).
    CreateSpace,
    ManageOwnTokens,
    ManageOwnNotifications,
    /// Installation-wide administration: users, teams, schemes, the job queue, global settings.
    Administer,
    /// Read and export the whole audit log: administrators and auditors.
    ViewAuditLog,
}

fn hidden_project(project: &Project) -> AppError {
    AppError::not_found(format!("There is no project with key {}.", project.key))
}

fn hidden_space(space: &Space) -> AppError {
    AppError::not_found(format!("There is no documentation space with key {}.", space.key))
}

fn denied(project: &Project, what: &str) -> AppError {
    AppError::forbidden(format!("Your role in {} does not allow you to {what}.", project.key))
}

pub fn global_role(user: &User) -> GlobalRole {
    GlobalRole::parse(&user.global_role).unwrap_or(GlobalRole::User)
}

/// What `user` holds in the project with this id, global role included.
fn held(user: &User, project_id: i64) -> PermissionSet {
    match global_role(user) {
        GlobalRole::Admin => ProjectPermission::ALL.into_iter().collect(),
        GlobalRole::Auditor => [ProjectPermission::Browse, ProjectPermission::ViewAudit].into_iter().collect(),
        GlobalRole::User => user.access.in_project(project_id),
    }
}

/// Refuses with 404 unless the user may browse the project, then with 403 unless they hold `permission`.
fn require(user: &User, project: &Project, permission: ProjectPermission, what: &str) -> Result<(), AppError> {
    let held = held(user, project.id);
    if !held.contains(ProjectPermission::Browse) {
        return Err(hidden_project(project));
    }
    if !held.contains(permission) {
        return Err(denied(project, what));
    }
    Ok(())
}

pub fn authorize(user: &User, action: Action<'_>) -> Result<(), AppError> {
    if !user.is_active {
        return Err(AppError::forbidden("This account is deactivated."));
    }
    let role = global_role(user);
    let administrator_only = |sentence: &str| match role {
        GlobalRole::Admin => Ok(()),
        GlobalRole::User | GlobalRole::Auditor => Err(AppError::forbidden(sentence)),
    };
    use ProjectPermission as P;
    match action {
        Action::ListProjects | Action::ManageOwnTokens | Action::ManageOwnNotifications => Ok(()),
        Action::CreateProject => administrator_only("Only administrators can create projects."),
        Action::CreateSpace => administrator_only("Only administrators can create documentation spaces."),
        Action::Administer => administrator_only("Only administrators can do this."),
        Action::ViewAuditLog => match role {
            GlobalRole::Admin | GlobalRole::Auditor => Ok(()),
            GlobalRole::User => Err(AppError::forbidden("Only auditors and administrators can read the audit log.")),
        },
        Action::ViewProject(project) => require(user, project, P::Browse, "see it"),
        Action::ManageProject(project) => {
            require(user, project, P::AdministerProject, "change its settings, workflow or access")
        }
        Action::CreateIssue(project) => require(user, project, P::CreateIssues, "create issues"),
        Action::EditIssue(project, issue) => {
            let own = issue.reporter_id == user.id && held(user, project.id).contains(P::EditOwnIssues);
            if own {
                return require(user, project, P::Browse, "see it");
            }
            require(user, project, P::EditAllIssues, "edit issues others reported")
        }
        Action::EditAllIssues(project) => require(user, project, P::EditAllIssues, "edit every issue"),
        Action::TransitionIssue(project) => require(user, project, P::TransitionIssues, "move issues between statuses"),
        Action::Comment(project) => require(user, project, P::Comment, "comment"),
        Action::DeleteIssue(project) => require(user, project, P::DeleteIssues, "delete issues"),
        Action::ViewProjectAudit(project) => require(user, project, P::ViewAudit, "read its audit trail"),
        Action::ManageSprints(project) => require(user, project, P::ManageSprints, "plan or run sprints"),
        Action::ViewSpace(space) if space_readable(user, space.project_id) => Ok(()),
        Action::ViewSpace(space) => Err(hidden_space(space)),
        Action::EditPages(space) => {
            let may_write = match space.project_id {
                Some(project_id) => {
                    let held = held(user, project_id);
                    if !held.contains(P::Browse) {
                        return Err(hidden_space(space));
                    }
                    held.contains(P::EditPages)
                }
                None => role != GlobalRole::Auditor,
            };
            match may_write {
                true => Ok(()),
                false => {
                    Err(AppError::forbidden(format!("You may read the pages of {} but not change them.", space.key)))
                }
            }
        }
    }
}

/// Whether `user` may see the project with this id, for rows that name other projects'
/// issues (a link's other end): the same decision as `ViewProject`, without loading the project.
pub fn may_browse(user: &User, project_id: i64) -> bool {
    user.is_active && held(user, project_id).contains(ProjectPermission::Browse)
}

/// The projects whose issues `user` may see, for a statement that leaves out the rows naming
/// the others (the history's records of links): `may_browse` for every project at once.
#[derive(Debug, PartialEq, Eq)]
pub enum Browsable {
    Every,
    /// These projects' ids, ascending.
    Only(Vec<i64>),
}

pub fn browsable(user: &User) -> Browsable {
    if !user.is_active {
        return Browsable::Only(Vec::new());
    }
    match global_role(user) {
        GlobalRole::Admin | GlobalRole::Auditor => Browsable::Every,
        GlobalRole::User => Browsable::Only(user.access.projects_holding(ProjectPermission::Browse)),
    }
}

/// Whether the pages of a space may be read: a project's space by those who may browse the
/// project, any other by everyone (whose account is active: `authorize` checks that first).
fn space_readable(user: &User, project_id: Option<i64>) -> bool {
    project_id.is_none_or(|project_id| held(user, project_id).contains(ProjectPermission::Browse))
}

/// Every project's id and every space's with its project, as three arrays in one row, with
/// the epoch they were read at (one snapshot): one statement where there were two, and no
/// thousand rows to send and decode one by one.
const PLACES: &str = "SELECT e.epoch, p.ids AS projects, s.ids AS spaces, s.project_ids AS space_projects \
     FROM access_everyone e, \
     (SELECT coalesce(array_agg(id), '{}') AS ids FROM projects) p, \
     (SELECT coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(project_id), '{}') AS project_ids \
      FROM spaces) s";

#[derive(diesel::QueryableByName)]
struct Places {
    #[diesel(sql_type = BigInt)]
    epoch: i64,
    #[diesel(sql_type = Array<BigInt>)]
    projects: Vec<i64>,
    #[diesel(sql_type = Array<BigInt>)]
    spaces: Vec<i64>,
    /// Beside `spaces`, in the same order: one pass over `spaces` builds both arrays.
    #[diesel(sql_type = Array<Nullable<BigInt>>)]
    space_projects: Vec<Option<i64>>,
}

/// The places this node read last. A project or space that comes or goes, or a space that
/// moves, renews the epoch of `access_everyone` (migration 000034), which every loaded person
/// carries: a search by someone read at the same epoch needs no statement for them (it was
/// 0.45 ms of PostgreSQL on every search, at 500 projects and 500 spaces).
static KNOWN_PLACES: Mutex<Option<Arc<Places>>> = Mutex::new(None);

/// The places as of `epoch`, from this node's copy when it holds that epoch, else read (and
/// kept, under the epoch read, which may be newer).
fn places_at(conn: &mut PgConnection, epoch: Option<i64>) -> QueryResult<Arc<Places>> {
    let known = KNOWN_PLACES.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(known) = known.filter(|known| Some(known.epoch) == epoch) {
        return Ok(known);
    }
    let read: Arc<Places> = Arc::new(crate::db::Prepared(diesel::sql_query(PLACES)).get_result(conn)?);
    *KNOWN_PLACES.lock().unwrap_or_else(|e| e.into_inner()) = Some(read.clone());
    Ok(read)
}

/// The projects and spaces whose contents `user` may read, for filters that must run inside a
/// query (search) instead of on each row afterwards: the decisions of `ViewProject` and
/// `ViewSpace`, from ids alone (reading every project's and space's whole row was a millisecond
/// of each search on 500 of each). The places are those that existed when `user`'s
/// permissions were read, so both describe the same moment.
pub fn readable_scope(conn: &mut PgConnection, user: &User) -> QueryResult<Scope> {
    let all = places_at(conn, user.access.epoch)?;
    let projects: Vec<i64> = all.projects.iter().copied().filter(|id| may_browse(user, *id)).collect();
    let spaces: Vec<i64> = (all.spaces.iter().zip(&all.space_projects))
        .filter(|(_, project_id)| user.is_active && space_readable(user, **project_id))
        .map(|(id, _)| *id)
        .collect();
    Ok(if projects.len() == all.projects.len() && spaces.len() == all.spaces.len() {
        Scope::Everything
    } else {
        Scope::Only { projects, spaces }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::roles::Access;
    use chrono::Utc;

    fn user(role: GlobalRole, grants: &[ProjectPermission]) -> User {
        User {
            id: 1,
            username: "u".into(),
            display_name: "U".into(),
            email: "u@example.com".into(),
            password_hash: String::new(),
            is_admin: role == GlobalRole::Admin,
            is_active: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            global_role: role.as_str().into(),
            timezone: "UTC".into(),
            is_service: false,
            totp_enabled_at: None,
            source: "local".into(),
            password_must_change: false,
            access: Access::from_grants(grants.iter().map(|permission| (10, *permission))),
        }
    }

    fn project() -> Project {
        Project {
            id: 10,
            key: "OPS".into(),
            name: "Ops".into(),
            description: String::new(),
            lead_id: 2,
            permission_scheme_id: 1,
            workflow_epoch: 0,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn issue(reporter_id: i64) -> Issue {
        use crate::work::kinds::{IssueType, Priority};
        Issue {
            id: 5,
            project_id: 10,
            number: 1,
            issue_type: IssueType::Task,
            status_id: 1,
            priority: Priority::Medium,
            title: "T".into(),
            description: String::new(),
            assignee_id: None,
            reporter_id,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            parent_id: None,
            due_date: None,
            story_points: None,
            estimate_minutes: None,
            fix_version_id: None,
            rank: 0,
            sprint_id: None,
        }
    }

    fn space(project_id: Option<i64>) -> Space {
        Space {
            id: 3,
            key: "DOC".into(),
            name: "Docs".into(),
            description: String::new(),
            project_id,
            created_by: 2,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn each_action_needs_its_permission_and_an_outsider_is_told_nothing_exists() {
        use ProjectPermission as P;
        let project = project();
        let (mine, theirs) = (issue(1), issue(2));
        let (project_space, standalone) = (space(Some(10)), space(None));
        let cases: [(Action, &[P]); 12] = [
            (Action::ViewProject(&project), &[P::Browse]),
            (Action::ManageProject(&project), &[P::Browse, P::AdministerProject]),
            (Action::CreateIssue(&project), &[P::Browse, P::CreateIssues]),
            (Action::EditIssue(&project, &mine), &[P::Browse, P::EditOwnIssues]),
            (Action::EditIssue(&project, &theirs), &[P::Browse, P::EditAllIssues]),
            (Action::EditAllIssues(&project), &[P::Browse, P::EditAllIssues]),
            (Action::TransitionIssue(&project), &[P::Browse, P::TransitionIssues]),
            (Action::Comment(&project), &[P::Browse, P::Comment]),
            (Action::DeleteIssue(&project), &[P::Browse, P::DeleteIssues]),
            (Action::ViewProjectAudit(&project), &[P::Browse, P::ViewAudit]),
            (Action::ManageSprints(&project), &[P::Browse, P::ManageSprints]),
            (Action::EditPages(&project_space), &[P::Browse, P::EditPages]),
        ];
        for (action, needed) in cases {
            let everything = user(GlobalRole::User, &P::ALL);
            assert!(authorize(&everything, action).is_ok(), "{action:?} with every permission");
            assert!(authorize(&user(GlobalRole::User, needed), action).is_ok(), "{action:?} with {needed:?}");
            for missing in needed {
                let fewer: Vec<P> = needed.iter().copied().filter(|p| p != missing).collect();
                let refused = authorize(&user(GlobalRole::User, &fewer), action).unwrap_err();
                let expected = if *missing == P::Browse { 404 } else { 403 };
                assert_eq!(refused.status().as_u16(), expected, "{action:?} without {missing:?}: {refused}");
            }
            assert!(authorize(&user(GlobalRole::Admin, &[]), action).is_ok(), "an administrator may {action:?}");
            let auditor = authorize(&user(GlobalRole::Auditor, &[]), action);
            let reads = matches!(action, Action::ViewProject(_) | Action::ViewProjectAudit(_));
            assert_eq!(auditor.is_ok(), reads, "an auditor and {action:?}");
            let mut deactivated = user(GlobalRole::Admin, &P::ALL);
            deactivated.is_active = false;
            assert_eq!(authorize(&deactivated, action).unwrap_err().status().as_u16(), 403);
        }
        let outsider = user(GlobalRole::User, &[]);
        assert!(authorize(&outsider, Action::ViewSpace(&standalone)).is_ok());
        assert!(authorize(&outsider, Action::EditPages(&standalone)).is_ok());
        assert_eq!(authorize(&outsider, Action::ViewSpace(&project_space)).unwrap_err().status().as_u16(), 404);
        let auditor = user(GlobalRole::Auditor, &[]);
        assert!(authorize(&auditor, Action::ViewSpace(&project_space)).is_ok());
        assert_eq!(authorize(&auditor, Action::EditPages(&standalone)).unwrap_err().status().as_u16(), 403);
    }

    #[test]
    fn the_browsable_projects_are_those_may_browse_admits() {
        use ProjectPermission as P;
        let mut reader = user(GlobalRole::User, &[]);
        reader.access = Access::from_grants([(10, P::Browse), (11, P::Comment), (12, P::Browse), (12, P::Comment)]);
        assert_eq!(browsable(&reader), Browsable::Only(vec![10, 12]), "project 11 gives no Browse");
        for project_id in 9..14 {
            let listed = matches!(browsable(&reader), Browsable::Only(ref ids) if ids.contains(&project_id));
            assert_eq!(listed, may_browse(&reader, project_id), "project {project_id}");
        }
        assert_eq!(browsable(&user(GlobalRole::Admin, &[])), Browsable::Every);
        assert_eq!(browsable(&user(GlobalRole::Auditor, &[])), Browsable::Every);
        let mut deactivated = user(GlobalRole::Admin, &[]);
        deactivated.is_active = false;
        assert_eq!(browsable(&deactivated), Browsable::Only(Vec::new()));
    }

    #[test]
    fn installation_wide_actions_belong_to_administrators() {
        for action in [Action::CreateProject, Action::CreateSpace, Action::Administer] {
            assert!(authorize(&user(GlobalRole::Admin, &[]), action).is_ok());
            assert!(authorize(&user(GlobalRole::User, &ProjectPermission::ALL), action).is_err());
            assert!(authorize(&user(GlobalRole::Auditor, &[]), action).is_err());
        }
        assert!(authorize(&user(GlobalRole::Auditor, &[]), Action::ViewAuditLog).is_ok());
        assert!(authorize(&user(GlobalRole::Admin, &[]), Action::ViewAuditLog).is_ok());
        assert!(authorize(&user(GlobalRole::User, &ProjectPermission::ALL), Action::ViewAuditLog).is_err());
        for action in [Action::ListProjects, Action::ManageOwnTokens, Action::ManageOwnNotifications] {
            for role in GlobalRole::ALL {
                assert!(authorize(&user(role, &[]), action).is_ok(), "{role:?} and {action:?}");
            }
        }
    }
}
