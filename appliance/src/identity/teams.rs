//! Teams: named groups of users that project roles can be granted to. Administrators make
//! them and choose their members; a team's grants reach whoever is a member at the time.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::users::UserRef;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::{project_role_grants, team_members, teams, users};

#[derive(Clone, Debug, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = teams)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A team with its members, as its page and the API show it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TeamDetail {
    #[serde(flatten)]
    pub team: Team,
    pub members: Vec<UserRef>,
    /// How many project role grants name the team.
    pub grants: i64,
}

/// A team and how many members it has, for lists.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TeamSummary {
    #[serde(flatten)]
    pub team: Team,
    pub member_count: i64,
}

fn clean(name: &str, description: &str) -> Result<(String, String), AppError> {
    let name = name.trim();
    if !(1..=80).contains(&name.chars().count()) {
        return Err(AppError::invalid("name", "A team name must be 1 to 80 characters."));
    }
    if description.chars().count() > 1000 {
        return Err(AppError::invalid("description", "A team description must be at most 1000 characters."));
    }
    Ok((name.to_owned(), description.trim().to_owned()))
}

/// The team named `name`, whatever its case: names are unique that way, and teams are few.
pub fn find_by_name(conn: &mut PgConnection, name: &str) -> QueryResult<Option<Team>> {
    let wanted = name.trim().to_lowercase();
    let all: Vec<Team> = teams::table.select(Team::as_select()).load(conn)?;
    Ok(all.into_iter().find(|team| team.name.to_lowercase() == wanted))
}

fn refuse_taken(conn: &mut PgConnection, name: &str, except: Option<i64>) -> Result<(), AppError> {
    match find_by_name(conn, name)? {
        Some(holder) if Some(holder.id) != except => {
            Err(AppError::conflict("name", format!("There is already a team named {}.", holder.name)))
        }
        _ => Ok(()),
    }
}

pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<TeamSummary>> {
    let teams: Vec<Team> = teams::table.order(teams::name.asc()).select(Team::as_select()).load(conn)?;
    let counts: Vec<(i64, i64)> = team_members::table
        .group_by(team_members::team_id)
        .select((team_members::team_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(teams
        .into_iter()
        .map(|team| {
            let member_count = counts.iter().find(|(id, _)| *id == team.id).map_or(0, |(_, n)| *n);
            TeamSummary { team, member_count }
        })
        .collect())
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Team, AppError> {
    teams::table
        .find(id)
        .select(Team::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("There is no team {id}.")))
}

pub fn detail(conn: &mut PgConnection, id: i64) -> Result<TeamDetail, AppError> {
    let team = find(conn, id)?;
    let members = team_members::table
        .inner_join(users::table)
        .filter(team_members::team_id.eq(id))
        .order(users::display_name.asc())
        .select(UserRef::as_select())
        .load(conn)?;
    let grants = project_role_grants::table.filter(project_role_grants::team_id.eq(id)).count().get_result(conn)?;
    Ok(TeamDetail { team, members, grants })
}

pub fn create(conn: &mut PgConnection, actor: &Actor, name: &str, description: &str) -> Result<Team, AppError> {
    let (name, description) = clean(name, description)?;
    conn.transaction(|conn| {
        refuse_taken(conn, &name, None)?;
        let team: Team = diesel::insert_into(teams::table)
            .values((teams::name.eq(&name), teams::description.eq(&description)))
            .returning(Team::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "team.created",
                entity_type: "team",
                entity_id: team.id,
                before: None,
                after: Some(json!({ "name": team.name, "description": team.description })),
            },
        )?;
        Ok(team)
    })
}

pub fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    name: &str,
    description: &str,
) -> Result<Team, AppError> {
    let (name, description) = clean(name, description)?;
    conn.transaction(|conn| {
        let before = find(conn, id)?;
        refuse_taken(conn, &name, Some(id))?;
        if before.name == name && before.description == description {
            return Ok(before);
        }
        let team: Team = diesel::update(teams::table.find(id))
            .set((teams::name.eq(&name), teams::description.eq(&description), teams::updated_at.eq(Utc::now())))
            .returning(Team::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "team.updated",
                entity_type: "team",
                entity_id: id,
                before: Some(json!({ "name": before.name, "description": before.description })),
                after: Some(json!({ "name": team.name, "description": team.description })),
            },
        )?;
        Ok(team)
    })
}

/// Deletes a team; its project role grants go with it, so its members lose what only it gave.
pub fn delete(conn: &mut PgConnection, actor: &Actor, id: i64) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let before = detail(conn, id)?;
        diesel::delete(teams::table.find(id)).execute(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "team.deleted",
                entity_type: "team",
                entity_id: id,
                before: Some(json!({
                    "name": before.team.name,
                    "members": before.members.iter().map(|m| &m.username).collect::<Vec<_>>(),
                    "grants": before.grants,
                })),
                after: None,
            },
        )?;
        Ok(())
    })
}

/// The user id of an account by user name, for adding to a team; deactivated accounts are refused.
fn active_user(conn: &mut PgConnection, username: &str) -> Result<(i64, String), AppError> {
    let name = username.trim().trim_start_matches('@').to_lowercase();
    let found: Option<(i64, bool)> =
        users::table.filter(users::username.eq(&name)).select((users::id, users::is_active)).first(conn).optional()?;
    match found {
        Some((id, true)) => Ok((id, name)),
        Some((_, false)) => Err(AppError::invalid("user", format!("{name} is deactivated; reactivate them first."))),
        None => Err(AppError::invalid("user", format!("There is no user named {name}."))),
    }
}

/// Adds a member; adding one already in the team changes nothing.
pub fn add_member(conn: &mut PgConnection, actor: &Actor, id: i64, username: &str) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let team = find(conn, id)?;
        let (user_id, name) = active_user(conn, username)?;
        let added = diesel::insert_into(team_members::table)
            .values((team_members::team_id.eq(id), team_members::user_id.eq(user_id)))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if added > 0 {
            audit::record(
                conn,
                actor,
                Change {
                    action: "team.member_added",
                    entity_type: "team",
                    entity_id: id,
                    before: None,
                    after: Some(json!({ "team": team.name, "user_id": user_id, "username": name })),
                },
            )?;
        }
        Ok(())
    })
}

pub fn remove_member(conn: &mut PgConnection, actor: &Actor, id: i64, username: &str) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let team = find(conn, id)?;
        let name = username.trim().trim_start_matches('@').to_lowercase();
        let user_id: Option<i64> =
            users::table.filter(users::username.eq(&name)).select(users::id).first(conn).optional()?;
        let removed = match user_id {
            Some(user_id) => diesel::delete(
                team_members::table.filter(team_members::team_id.eq(id)).filter(team_members::user_id.eq(user_id)),
            )
            .execute(conn)?,
            None => 0,
        };
        if removed == 0 {
            return Err(AppError::not_found(format!("{name} is not a member of {}.", team.name)));
        }
        audit::record(
            conn,
            actor,
            Change {
                action: "team.member_removed",
                entity_type: "team",
                entity_id: id,
                before: Some(json!({ "team": team.name, "user_id": user_id, "username": name })),
                after: None,
            },
        )?;
        Ok(())
    })
}

/// The teams a user is in, by name.
pub fn of_user(conn: &mut PgConnection, user_id: i64) -> QueryResult<Vec<Team>> {
    team_members::table
        .inner_join(teams::table)
        .filter(team_members::user_id.eq(user_id))
        .order(teams::name.asc())
        .select(Team::as_select())
        .load(conn)
}
