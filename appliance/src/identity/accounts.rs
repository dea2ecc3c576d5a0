//! What administrators do to accounts, and what people change on their own profile.
//! Accounts are never deleted: history, issues and the audit log keep naming them, so an
//! account that should no longer sign in is deactivated (and can be reactivated).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::roles::GlobalRole;
use super::users::{clean_display_name, clean_email, find_by_username, refuse_taken_email, User};
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::{api_tokens, sessions, users};

/// An account as the administrators' list and the API show it.
#[derive(Clone, Debug, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = users)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    /// admin, user or auditor.
    pub global_role: String,
    pub is_active: bool,
    pub timezone: String,
    /// An integration's account: tokens only.
    pub is_service: bool,
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// Up to two letters for the avatar: the first letters of the first and last words.
    pub fn initials(&self) -> String {
        initials(&self.display_name)
    }
}

pub fn initials(display_name: &str) -> String {
    // Each word's first letter or digit: "(contractor)" gives its C, "—" gives nothing.
    let letters: Vec<String> = display_name
        .split_whitespace()
        .filter_map(|word| word.chars().find(|c| c.is_alphanumeric()))
        .map(|c| c.to_uppercase().to_string())
        .collect();
    match letters.as_slice() {
        [] => "?".to_owned(),
        [only] => only.clone(),
        [head, .., last] => format!("{head}{last}"),
    }
}

pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<Account>> {
    users::table.order((users::is_active.desc(), users::username.asc())).select(Account::as_select()).load(conn)
}

pub fn by_id(conn: &mut PgConnection, id: i64) -> QueryResult<Account> {
    users::table.find(id).select(Account::as_select()).first(conn)
}

pub fn find(conn: &mut PgConnection, username: &str) -> Result<User, AppError> {
    find_by_username(conn, username)?
        .ok_or_else(|| AppError::not_found(format!("There is no user named {}.", username.trim())))
}

/// A service account by user name, for managing its tokens; a person is refused, since
/// people's tokens are their own.
pub fn find_service(conn: &mut PgConnection, username: &str) -> Result<User, AppError> {
    let user = find(conn, username)?;
    if !user.is_service {
        return Err(AppError::conflict(
            "user",
            format!("{} is a person: their tokens are their own, made under Settings → API tokens.", user.username),
        ));
    }
    Ok(user)
}

/// Refuses a change that would leave no active administrator to undo it.
fn keep_an_administrator(conn: &mut PgConnection, user: &User) -> Result<(), AppError> {
    let others: i64 = users::table
        .filter(users::global_role.eq(GlobalRole::Admin.as_str()))
        .filter(users::is_active.eq(true))
        .filter(users::id.ne(user.id))
        .count()
        .get_result(conn)?;
    if user.is_active && user.is_admin && others == 0 {
        return Err(AppError::conflict(
            "user",
            format!("{} is the last active administrator; make someone else an administrator first.", user.username),
        ));
    }
    Ok(())
}

/// Gives an account another global role.
pub fn set_role(conn: &mut PgConnection, actor: &Actor, username: &str, role: GlobalRole) -> Result<User, AppError> {
    conn.transaction(|conn| {
        let user = find(conn, username)?;
        if user.global_role == role.as_str() {
            return Ok(user);
        }
        diesel::sql_query("SELECT id FROM users WHERE global_role = 'admin' FOR UPDATE").execute(conn)?;
        if role != GlobalRole::Admin {
            keep_an_administrator(conn, &user)?;
        }
        diesel::update(users::table.find(user.id))
            .set((
                users::global_role.eq(role.as_str()),
                users::is_admin.eq(role == GlobalRole::Admin),
                users::updated_at.eq(Utc::now()),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "user.role_changed",
                entity_type: "user",
                entity_id: user.id,
                before: Some(json!({ "global_role": user.global_role })),
                after: Some(json!({ "global_role": role.as_str() })),
            },
        )?;
        find(conn, username)
    })
}

/// Deactivates an account (its sessions end, its tokens stop working, its name stays on
/// everything it did) or reactivates it.
pub fn set_active(conn: &mut PgConnection, actor: &Actor, username: &str, active: bool) -> Result<User, AppError> {
    conn.transaction(|conn| {
        let user = find(conn, username)?;
        if user.is_active == active {
            return Ok(user);
        }
        diesel::sql_query("SELECT id FROM users WHERE global_role = 'admin' FOR UPDATE").execute(conn)?;
        if !active {
            keep_an_administrator(conn, &user)?;
        } else if !user.is_service {
            crate::license::ensure_seat(conn)?;
        }
        diesel::update(users::table.find(user.id))
            .set((users::is_active.eq(active), users::updated_at.eq(Utc::now())))
            .execute(conn)?;
        let ended = if active { 0 } else { diesel::delete(sessions::table.filter(sessions::user_id.eq(user.id))).execute(conn)? };
        let tokens: i64 = api_tokens::table.filter(api_tokens::user_id.eq(user.id)).count().get_result(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: if active { "user.reactivated" } else { "user.deactivated" },
                entity_type: "user",
                entity_id: user.id,
                before: Some(json!({ "is_active": user.is_active })),
                after: Some(json!({ "is_active": active, "sessions_ended": ended, "tokens_suspended": if active { 0 } else { tokens } })),
            },
        )?;
        find(conn, username)
    })
}

/// What a person may change about themselves.
pub struct ProfileChange {
    pub display_name: String,
    pub email: String,
    pub timezone: String,
}

pub fn update_profile(
    conn: &mut PgConnection,
    actor: &Actor,
    user: &User,
    change: ProfileChange,
) -> Result<User, AppError> {
    let display_name = clean_display_name(&change.display_name)?;
    let email = clean_email(&change.email)?;
    let timezone = change.timezone.trim().to_owned();
    if timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(AppError::invalid(
            "timezone",
            format!("“{timezone}” is not a time zone; use a name like Europe/Berlin or UTC."),
        ));
    }
    conn.transaction(|conn| {
        refuse_taken_email(conn, &email, Some(user.id))?;
        if (display_name.as_str(), email.as_str(), timezone.as_str())
            == (user.display_name.as_str(), user.email.as_str(), user.timezone.as_str())
        {
            return Ok(user.clone());
        }
        diesel::update(users::table.find(user.id))
            .set((
                users::display_name.eq(&display_name),
                users::email.eq(&email),
                users::timezone.eq(&timezone),
                users::updated_at.eq(Utc::now()),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "user.profile_changed",
                entity_type: "user",
                entity_id: user.id,
                before: Some(
                    json!({ "display_name": user.display_name, "email": user.email, "timezone": user.timezone }),
                ),
                after: Some(json!({ "display_name": display_name, "email": email, "timezone": timezone })),
            },
        )?;
        find(conn, &user.username)
    })
}

#[cfg(test)]
mod tests {
    use super::initials;

    #[test]
    fn initials_come_from_the_first_and_last_words() {
        assert_eq!(initials("Alice Admin"), "AA");
        assert_eq!(initials("ada"), "A");
        assert_eq!(initials("Jean-Luc de la Tour"), "JT");
        assert_eq!(initials("  "), "?");
        assert_eq!(initials("Mia (test)"), "MT");
        assert_eq!(initials("— ada —"), "A");
        assert_eq!(initials("émile zola"), "ÉZ");
    }
}
