//! User accounts: the model, its rules and its queries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use diesel::expression::{AsExpression, SqlLiteral, UncheckedBind};
use diesel::sql_types::{BigInt, Nullable, Text};

use super::passwords;
use super::roles::{Access, GlobalRole};
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::users;

/// What a user holds in each project, as `roles::Access` reads it: `[epoch, what grants to
/// everyone give, what the user's own grants, their teams' grants and leading a project
/// give]`, each role mapped to permissions by its project's scheme. The part for everyone
/// is kept up to date by triggers (migration `000025_access_everyone`) and is the same for
/// every person: it is sent as `null` when its epoch is the one this node already holds
/// (the bound parameter between the two halves), so each node receives and parses it once
/// per change. Sent every time, its 69 KB at 500 projects were a quarter of the session
/// look-up's time in PostgreSQL, and then crossed the socket and were scanned, on every
/// request. The person's own grants and their teams' are two index look-ups (as one `OR`
/// they were a scan of every grant in the installation, on every request). Evaluated
/// beside the `users` row it names, so that every loaded `User` carries it and `authorize`
/// needs no query.
const ACCESS_SQL_UP_TO_KNOWN_EPOCH: &str = "(SELECT '[' || e.epoch || ',' || CASE WHEN e.epoch = ";
const ACCESS_SQL_AFTER_KNOWN_EPOCH: &str = " THEN 'null' ELSE e.map END || ',' || ( \
    SELECT coalesce(jsonb_object_agg(held.project_id, held.permissions), '{}'::jsonb) FROM ( \
        SELECT r.project_id, jsonb_agg(DISTINCT sg.permission) AS permissions FROM ( \
            SELECT g.project_id, g.role FROM project_role_grants g WHERE g.user_id = users.id \
            UNION ALL SELECT g.project_id, g.role FROM team_members m \
                      JOIN project_role_grants g ON g.team_id = m.team_id WHERE m.user_id = users.id \
            UNION ALL SELECT p.id, 'project_admin' FROM projects p WHERE p.lead_id = users.id \
        ) r \
        JOIN projects p ON p.id = r.project_id \
        JOIN permission_scheme_grants sg ON sg.scheme_id = p.permission_scheme_id AND sg.role = r.role \
        GROUP BY r.project_id) held)::text || ']' FROM access_everyone e)";

/// What a service account has instead of a password hash.
pub const SERVICE_PASSWORD_HASH: &str = "!service-account";

type AccessSql =
    SqlLiteral<Text, UncheckedBind<SqlLiteral<Text>, <Option<i64> as AsExpression<Nullable<BigInt>>>::Expression>>;

fn access_sql() -> AccessSql {
    diesel::dsl::sql::<Text>(ACCESS_SQL_UP_TO_KNOWN_EPOCH)
        .bind::<Nullable<BigInt>, _>(super::roles::known_everyone_epoch())
        .sql(ACCESS_SQL_AFTER_KNOWN_EPOCH)
}

#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub password_hash: String,
    /// Kept equal to `global_role == "admin"` (a CHECK holds it).
    pub is_admin: bool,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// admin, user or auditor (`roles::GlobalRole`); read it through `permissions::global_role`.
    pub global_role: String,
    /// The IANA zone the person reads times in.
    pub timezone: String,
    /// An integration's account: API tokens only, never a password or a session.
    pub is_service: bool,
    /// When two-factor sign-in was turned on; `None` while it is off.
    pub totp_enabled_at: Option<DateTime<Utc>>,
    /// local, ldap or oidc: then the directory's or provider's password and groups decide.
    pub source: String,
    /// An administrator set this password: its owner must choose their own before anything else.
    pub password_must_change: bool,
    #[diesel(select_expression = access_sql(), select_expression_type = AccessSql)]
    pub access: Access,
}

/// What pages and the API show of a person.
#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[diesel(table_name = users)]
pub struct UserRef {
    pub id: i64,
    pub username: String,
    pub display_name: String,
}

impl User {
    pub fn to_ref(&self) -> UserRef {
        UserRef { id: self.id, username: self.username.clone(), display_name: self.display_name.clone() }
    }
}

pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub email: String,
    /// Ignored for a service account, which has none.
    pub password: String,
    pub role: GlobalRole,
    pub is_service: bool,
}

impl NewUser {
    fn validate(&self) -> Result<(), AppError> {
        let name = &self.username;
        let name_ok = (2..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if !name_ok {
            return Err(AppError::invalid(
                "username",
                "User name must be 2 to 32 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.",
            ));
        }
        clean_display_name(&self.display_name)?;
        clean_email(&self.email)?;
        match self.is_service {
            true => Ok(()),
            false => passwords::check_rules(&self.password),
        }
    }
}

/// A display name as it is kept: trimmed, 1 to 80 characters.
pub fn clean_display_name(text: &str) -> Result<String, AppError> {
    let name = text.trim();
    if !(1..=80).contains(&name.chars().count()) {
        return Err(AppError::invalid("display_name", "Display name must be 1 to 80 characters."));
    }
    Ok(name.to_owned())
}

/// An email address as it is kept: trimmed and lower-cased, so that uniqueness and look-ups
/// ignore case.
pub fn clean_email(text: &str) -> Result<String, AppError> {
    let email = text.trim();
    let email_ok = (3..=254).contains(&email.len())
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.contains(char::is_whitespace);
    if !email_ok {
        return Err(AppError::invalid("email", "Email must look like name@example.com."));
    }
    Ok(email.to_lowercase())
}

/// Refuses an email address another account (than `except`) already has.
pub fn refuse_taken_email(conn: &mut PgConnection, email: &str, except: Option<i64>) -> Result<(), AppError> {
    let taken: i64 = users::table
        .filter(users::email.eq(email))
        .filter(users::id.ne(except.unwrap_or(0)))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(AppError::conflict("email", format!("Another user already has the email {email}.")));
    }
    Ok(())
}

pub fn create(conn: &mut PgConnection, actor: &Actor, new: NewUser) -> Result<User, AppError> {
    new.validate()?;
    let password_hash = match new.is_service {
        // Not a hash of anything: no password can ever match it.
        true => SERVICE_PASSWORD_HASH.to_owned(),
        false => passwords::hash(&new.password)?,
    };
    let email = clean_email(&new.email)?;
    conn.transaction(|conn| {
        let taken: i64 = users::table.filter(users::username.eq(&new.username)).count().get_result(conn)?;
        if taken > 0 {
            return Err(AppError::conflict("username", format!("A user named {} already exists.", new.username)));
        }
        refuse_taken_email(conn, &email, None)?;
        if !new.is_service {
            crate::license::ensure_seat(conn)?;
        }
        let user: User = diesel::insert_into(users::table)
            .values((
                users::username.eq(&new.username),
                users::display_name.eq(new.display_name.trim()),
                users::email.eq(&email),
                users::password_hash.eq(&password_hash),
                users::is_admin.eq(new.role == GlobalRole::Admin),
                users::global_role.eq(new.role.as_str()),
                users::is_service.eq(new.is_service),
            ))
            .returning(User::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "user.created",
                entity_type: "user",
                entity_id: user.id,
                before: None,
                after: Some(json!({ "username": user.username, "display_name": user.display_name, "email": user.email, "global_role": user.global_role, "is_service": user.is_service })),
            },
        )?;
        Ok(user)
    })
}

pub fn find_by_username(conn: &mut PgConnection, username: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::username.eq(username.trim().to_lowercase()))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// How many people a project's pickers offer.
const PICKER_PEOPLE: i64 = 500;

/// A project's people, offered by its pages' person fields (assignee, filters, user fields):
/// active users granted a role in it themselves or through a team, and its lead, by display
/// name. A grant to everyone is not a list of people: in an installation of 10,000 users the
/// pickers listed the first thousand of them on every issue list (5 ms to sort, 200 kB of
/// options), and the rest could not be picked at all. Any active username may be typed.
pub fn project_refs(conn: &mut PgConnection, project_id: i64) -> QueryResult<Vec<UserRef>> {
    // One IN over a UNION: an OR of three INs made PostgreSQL read every user.
    crate::db::Prepared(
        diesel::sql_query(
            "SELECT id, username, display_name FROM users \
              WHERE is_active AND id IN ( \
                  SELECT user_id FROM project_role_grants WHERE project_id = $1 AND user_id IS NOT NULL \
                  UNION SELECT m.user_id FROM project_role_grants g JOIN team_members m ON m.team_id = g.team_id \
                         WHERE g.project_id = $1 \
                  UNION SELECT lead_id FROM projects WHERE id = $1) \
              ORDER BY display_name, id LIMIT $2",
        )
        .bind::<diesel::sql_types::BigInt, _>(project_id)
        .bind::<diesel::sql_types::BigInt, _>(PICKER_PEOPLE),
    )
    .load(conn)
}

/// The name a user is shown by (users are deactivated, never deleted, so one is always there).
pub fn display_name(conn: &mut PgConnection, id: i64) -> QueryResult<String> {
    users::table.find(id).select(users::display_name).first(conn)
}

/// Sets a new password and signs the user out everywhere: whoever knew the old one keeps no
/// session made with it. With `must_change` (a password an administrator chose), its owner
/// must choose their own at their next sign-in.
pub fn set_password(
    conn: &mut PgConnection,
    actor: &Actor,
    username: &str,
    password: &str,
    must_change: bool,
) -> Result<User, AppError> {
    passwords::check_rules(password)?;
    let password_hash = passwords::hash(password)?;
    let user = find_by_username(conn, username)?
        .ok_or_else(|| AppError::invalid("username", format!("There is no user named {username}.")))?;
    if user.source != "local" || user.is_service {
        return Err(AppError::conflict(
            "username",
            format!("{} has no password here: they sign in with their directory, provider or tokens.", user.username),
        ));
    }
    conn.transaction(|conn| {
        let user: User = diesel::update(users::table.find(user.id))
            .set((
                users::password_hash.eq(&password_hash),
                users::password_must_change.eq(must_change),
                users::updated_at.eq(chrono::Utc::now()),
            ))
            .returning(User::as_returning())
            .get_result(conn)?;
        let ended = diesel::delete(crate::schema::sessions::table.filter(crate::schema::sessions::user_id.eq(user.id)))
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "user.password_changed",
                entity_type: "user",
                entity_id: user.id,
                before: None,
                after: Some(json!({ "sessions_ended": ended, "must_change": must_change })),
            },
        )?;
        Ok(user)
    })
}

pub fn count(conn: &mut PgConnection) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}
