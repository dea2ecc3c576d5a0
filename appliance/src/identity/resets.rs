//! Forgotten passwords and changing one's own: a reset link by mail (good once, for half an
//! hour, answered the same whether or not an account matched), and a change that needs the
//! current password. Either ends every other session.

use chrono::{Duration, Utc};
use diesel::prelude::*;

use super::passwords;
use super::secrets::{digest, random_hex};
use super::users::{self, User};
use crate::audit::{self, Actor, Change};
use crate::config::Config;
use crate::errors::AppError;
use crate::notify::mail::{self, Composed};
use crate::schema::{password_resets, users as users_table};

const VALID_MINUTES: i64 = 30;

/// Mails a reset link to the local, active account named or mailed `who`, if there is one.
/// The caller says the same either way, so nobody learns which names exist.
pub fn request(conn: &mut PgConnection, config: &Config, actor: &Actor, who: &str) -> Result<(), AppError> {
    let who = who.trim().to_lowercase();
    if who.is_empty() {
        return Err(AppError::invalid("who", "Type your user name or email address."));
    }
    let found: Option<User> = users_table::table
        .filter(users_table::username.eq(&who).or(users_table::email.eq(&who)))
        .filter(users_table::is_active.eq(true))
        .filter(users_table::is_service.eq(false))
        .filter(users_table::source.eq("local"))
        .select(User::as_select())
        .first(conn)
        .optional()?;
    let Some(user) = found else { return Ok(()) };
    let token = random_hex(32);
    let link = format!("{}/login/reset/{token}", mail::base_url(config));
    conn.transaction(|conn| {
        diesel::insert_into(password_resets::table)
            .values((password_resets::user_id.eq(user.id), password_resets::token_hash.eq(digest(&token))))
            .execute(conn)?;
        let text = format!(
            "Someone (we hope you) asked to reset the Outpost password of {}.\n\n\
             Choose a new one here within {VALID_MINUTES} minutes; the link works once:\n{link}\n\n\
             If it was not you, ignore this mail: your password stays as it is.\n",
            user.username
        );
        let html = format!(
            "<p>Someone (we hope you) asked to reset the Outpost password of <strong>{}</strong>.</p>\
             <p><a href=\"{link}\">Choose a new password</a> within {VALID_MINUTES} minutes; the link works once.</p>\
             <p>If it was not you, ignore this mail: your password stays as it is.</p>",
            crate::web::markdown::escape_html(&user.username)
        );
        let to = format!("\"{}\" <{}>", user.display_name.replace(['"', '\\', '\r', '\n'], ""), user.email);
        mail::queue(
            conn,
            &Composed { user_id: Some(user.id), to, subject: "[Outpost] Reset your password".into(), text, html },
        )?;
        audit::record(
            conn,
            actor,
            Change {
                action: "user.password_reset_requested",
                entity_type: "user",
                entity_id: user.id,
                before: None,
                after: None,
            },
        )?;
        Ok(())
    })
}

/// A reset link's row: its id, whose it is, when it was made, and when it was used.
type ResetRow = (i64, i64, chrono::DateTime<Utc>, Option<chrono::DateTime<Utc>>);

/// The account a reset link is for, while it is unused and fresh.
pub fn pending(conn: &mut PgConnection, token: &str) -> Result<(i64, User), AppError> {
    let expired = || AppError::not_found("This reset link is used up or too old; ask for a new one.");
    let found: Option<ResetRow> = password_resets::table
        .filter(password_resets::token_hash.eq(digest(token)))
        .select((password_resets::id, password_resets::user_id, password_resets::created_at, password_resets::used_at))
        .first(conn)
        .optional()?;
    let Some((id, user_id, created_at, used_at)) = found else { return Err(expired()) };
    if used_at.is_some() || Utc::now() - created_at > Duration::minutes(VALID_MINUTES) {
        return Err(expired());
    }
    let user = users_table::table.find(user_id).select(User::as_select()).first(conn)?;
    if !user.is_active {
        return Err(expired());
    }
    Ok((id, user))
}

/// Sets the password a reset link was for; the link is spent, every session ends.
pub fn complete(
    conn: &mut PgConnection,
    actor: &Actor,
    token: &str,
    password: &str,
    again: &str,
) -> Result<User, AppError> {
    if password != again {
        return Err(AppError::invalid("again", "The two passwords differ; type the same one twice."));
    }
    conn.transaction(|conn| {
        let (id, user) = pending(conn, token)?;
        let spent = diesel::update(password_resets::table.find(id).filter(password_resets::used_at.is_null()))
            .set(password_resets::used_at.eq(Some(Utc::now())))
            .execute(conn)?;
        if spent == 0 {
            return Err(AppError::not_found("This reset link is used up or too old; ask for a new one."));
        }
        users::set_password(conn, actor, &user.username, password, false)
    })
}

/// A person changes their own password, proving they know the current one.
pub fn change_own(
    conn: &mut PgConnection,
    actor: &Actor,
    user: &User,
    current: &str,
    password: &str,
    again: &str,
) -> Result<User, AppError> {
    let stored: String = users_table::table.find(user.id).select(users_table::password_hash).first(conn)?;
    if !passwords::verify(current, &stored) {
        return Err(AppError::invalid("current", "That is not your current password."));
    }
    if password != again {
        return Err(AppError::invalid("again", "The two passwords differ; type the same one twice."));
    }
    if password == current {
        return Err(AppError::invalid("password", "Choose a password other than the current one."));
    }
    users::set_password(conn, actor, &user.username, password, false)
}
