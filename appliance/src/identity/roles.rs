//! The vocabulary of access: global roles, project roles, the fine-grained project
//! permissions a permission scheme hands to roles, and `Access`, what one user holds in
//! each project, loaded with the user (see `users::ACCESS_SQL`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::{Pg, PgValue};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

/// What a person is across the installation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GlobalRole {
    /// Administers the installation and may do everything in every project.
    Admin,
    /// Works where project roles let them.
    User,
    /// Reads every project, space and the audit log; changes nothing.
    Auditor,
}

impl GlobalRole {
    pub const ALL: [GlobalRole; 3] = [GlobalRole::Admin, GlobalRole::User, GlobalRole::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            GlobalRole::Admin => "admin",
            GlobalRole::User => "user",
            GlobalRole::Auditor => "auditor",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            GlobalRole::Admin => "System administrator",
            GlobalRole::User => "User",
            GlobalRole::Auditor => "Auditor (reads everything, changes nothing)",
        }
    }

    pub fn parse(text: &str) -> Option<GlobalRole> {
        GlobalRole::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

/// A role someone holds in one project, by a grant to them, their team, or everyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRole {
    ProjectAdmin,
    Member,
    Reporter,
    Viewer,
}

impl ProjectRole {
    pub const ALL: [ProjectRole; 4] =
        [ProjectRole::ProjectAdmin, ProjectRole::Member, ProjectRole::Reporter, ProjectRole::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            ProjectRole::ProjectAdmin => "project_admin",
            ProjectRole::Member => "member",
            ProjectRole::Reporter => "reporter",
            ProjectRole::Viewer => "viewer",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ProjectRole::ProjectAdmin => "Project admin",
            ProjectRole::Member => "Member",
            ProjectRole::Reporter => "Reporter",
            ProjectRole::Viewer => "Viewer",
        }
    }

    pub fn parse(text: &str) -> Option<ProjectRole> {
        ProjectRole::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

/// One thing a permission scheme can allow a project role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectPermission {
    Browse,
    CreateIssues,
    EditOwnIssues,
    EditAllIssues,
    TransitionIssues,
    Comment,
    DeleteIssues,
    ManageSprints,
    EditPages,
    AdministerProject,
    ViewAudit,
}

impl ProjectPermission {
    pub const ALL: [ProjectPermission; 11] = [
        ProjectPermission::Browse,
        ProjectPermission::CreateIssues,
        ProjectPermission::EditOwnIssues,
        ProjectPermission::EditAllIssues,
        ProjectPermission::TransitionIssues,
        ProjectPermission::Comment,
        ProjectPermission::DeleteIssues,
        ProjectPermission::ManageSprints,
        ProjectPermission::EditPages,
        ProjectPermission::AdministerProject,
        ProjectPermission::ViewAudit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProjectPermission::Browse => "browse",
            ProjectPermission::CreateIssues => "create_issues",
            ProjectPermission::EditOwnIssues => "edit_own_issues",
            ProjectPermission::EditAllIssues => "edit_all_issues",
            ProjectPermission::TransitionIssues => "transition_issues",
            ProjectPermission::Comment => "comment",
            ProjectPermission::DeleteIssues => "delete_issues",
            ProjectPermission::ManageSprints => "manage_sprints",
            ProjectPermission::EditPages => "edit_pages",
            ProjectPermission::AdministerProject => "administer_project",
            ProjectPermission::ViewAudit => "view_audit",
        }
    }

    /// What the permission lets a role do, as a sentence fragment ("browse the project").
    pub fn label(self) -> &'static str {
        match self {
            ProjectPermission::Browse => "See the project, its issues and its pages",
            ProjectPermission::CreateIssues => "Create issues",
            ProjectPermission::EditOwnIssues => "Edit issues they reported",
            ProjectPermission::EditAllIssues => "Edit every issue",
            ProjectPermission::TransitionIssues => "Move issues between statuses",
            ProjectPermission::Comment => "Comment",
            ProjectPermission::DeleteIssues => "Delete issues",
            ProjectPermission::ManageSprints => "Plan, start and complete sprints",
            ProjectPermission::EditPages => "Write documentation pages",
            ProjectPermission::AdministerProject => "Administer the project (settings, workflow, access)",
            ProjectPermission::ViewAudit => "Read the project's audit trail",
        }
    }

    pub fn parse(text: &str) -> Option<ProjectPermission> {
        ProjectPermission::ALL.into_iter().find(|permission| permission.as_str() == text)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of project permissions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PermissionSet(u16);

impl PermissionSet {
    pub fn contains(self, permission: ProjectPermission) -> bool {
        self.0 & permission.bit() != 0
    }

    pub fn insert(&mut self, permission: ProjectPermission) {
        self.0 |= permission.bit();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<ProjectPermission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = ProjectPermission>>(iter: I) -> Self {
        let mut set = PermissionSet::default();
        for permission in iter {
            set.insert(permission);
        }
        set
    }
}

/// Permissions by project id.
type ByProject = HashMap<i64, PermissionSet>;

/// The project permissions one user holds, by project id: what grants to everyone give
/// (the same for every person, so shared between them) and what their own grants, their
/// teams' grants and being a project's lead add, under each project's scheme. Global roles
/// are not in it; `authorize` adds them.
#[derive(Clone, Debug, Default, PartialEq, Eq, FromSqlRow)]
pub struct Access {
    everyone: Arc<ByProject>,
    own: ByProject,
    /// The epoch of `access_everyone` this was read at, which also names which projects and
    /// spaces existed then (`permissions::readable_scope`); `None` when not read from it.
    pub epoch: Option<i64>,
}

impl Access {
    pub fn in_project(&self, project_id: i64) -> PermissionSet {
        let mut held = self.everyone.get(&project_id).copied().unwrap_or_default();
        held.0 |= self.own.get(&project_id).copied().unwrap_or_default().0;
        held
    }

    /// The projects in which `permission` is held, each once, in no order.
    pub fn projects_holding(&self, permission: ProjectPermission) -> Vec<i64> {
        let mut projects: Vec<i64> = (self.everyone.keys().chain(self.own.keys()))
            .copied()
            .filter(|id| self.in_project(*id).contains(permission))
            .collect();
        projects.sort_unstable();
        projects.dedup();
        projects
    }

    pub fn from_grants(grants: impl IntoIterator<Item = (i64, ProjectPermission)>) -> Access {
        let mut access = Access::default();
        for (project_id, permission) in grants {
            access.own.entry(project_id).or_default().insert(permission);
        }
        access
    }
}

/// Permission names by project id, as the JSON has them.
type Named = HashMap<String, Vec<String>>;

/// `{"<project id>": ["browse", …]}` as permission sets; a permission this code does not
/// know is skipped (the database only holds the names its CHECK allows).
fn by_project(held: Named) -> deserialize::Result<ByProject> {
    held.into_iter()
        .map(|(project, permissions)| {
            Ok((project.parse()?, permissions.iter().filter_map(|p| ProjectPermission::parse(p)).collect()))
        })
        .collect()
}

/// The part for everyone as this node parsed it, newest last, for the few latest epochs: a
/// look-up bound to one epoch may be read after another request has cached a newer one.
static EVERYONE: Mutex<Vec<(i64, Arc<ByProject>)>> = Mutex::new(Vec::new());
const EPOCHS_KEPT: usize = 8;

/// The epoch of the part for everyone this node holds, which a look-up binds so that the
/// map is only sent when it has changed.
pub(crate) fn known_everyone_epoch() -> Option<i64> {
    EVERYONE.lock().unwrap_or_else(|e| e.into_inner()).last().map(|(epoch, _)| *epoch)
}

fn everyone_at(epoch: i64) -> Option<Arc<ByProject>> {
    let kept = EVERYONE.lock().unwrap_or_else(|e| e.into_inner());
    kept.iter().rev().find(|(at, _)| *at == epoch).map(|(_, map)| map.clone())
}

fn keep_everyone(epoch: i64, map: Arc<ByProject>) {
    let mut kept = EVERYONE.lock().unwrap_or_else(|e| e.into_inner());
    kept.retain(|(at, _)| *at != epoch);
    kept.push((epoch, map));
    let surplus = kept.len().saturating_sub(EPOCHS_KEPT);
    kept.drain(..surplus);
}

impl FromSql<Text, Pg> for Access {
    /// `[epoch, {everyone's} or null when this node holds that epoch, {own}]`, as
    /// `users::ACCESS_SQL_*` builds it.
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let (epoch, everyone, own): (i64, Option<Named>, Named) = serde_json::from_slice(bytes.as_bytes())?;
        let everyone = match everyone {
            Some(everyone) => {
                let everyone = Arc::new(by_project(everyone)?);
                keep_everyone(epoch, everyone.clone());
                everyone
            }
            None => everyone_at(epoch)
                .ok_or("the permissions granted to everyone changed many times while a person was loaded; try again")?,
        };
        Ok(Access { everyone, own: by_project(own)?, epoch: Some(epoch) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_sets_hold_what_was_put_in() {
        for permission in ProjectPermission::ALL {
            assert_eq!(ProjectPermission::parse(permission.as_str()), Some(permission));
        }
        for role in ProjectRole::ALL {
            assert_eq!(ProjectRole::parse(role.as_str()), Some(role));
        }
        for role in GlobalRole::ALL {
            assert_eq!(GlobalRole::parse(role.as_str()), Some(role));
        }
        let set: PermissionSet = [ProjectPermission::Browse, ProjectPermission::ViewAudit].into_iter().collect();
        assert!(set.contains(ProjectPermission::Browse) && set.contains(ProjectPermission::ViewAudit));
        assert!(!set.contains(ProjectPermission::Comment));
        let access = Access::from_grants([(7, ProjectPermission::Comment)]);
        assert!(access.in_project(7).contains(ProjectPermission::Comment));
        assert!(access.in_project(8).is_empty());
    }
}
