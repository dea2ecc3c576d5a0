//! Browser sessions and signing in: rate limits on failures, session rotation at sign-in, idle
//! and absolute expiry.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::secrets::{digest, random_hex};
use super::users::{self, User};
use super::{directory, mfa, passwords};
use crate::audit::{self, Actor, Change};
use crate::config::{LdapConfig, LoginConfig, SessionConfig};
use crate::errors::AppError;
use crate::license::{self, Feature};
use crate::schema::{login_failures, sessions, users as users_table};

/// A signed-in session as requests see it.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: i64,
    pub user: User,
    pub csrf_token: String,
    /// For the bell in the top bar, read with the session so that no page pays a query for it.
    pub unread_notifications: i64,
    /// The administrators require a second factor of this user, who has none yet.
    pub second_factor_missing: bool,
    /// What the license means for this user now (evaluation, expiry, read-only), if anything.
    pub license_notice: Option<String>,
}

/// What the browser is handed at sign-in: the cookie value (only its digest is stored).
pub struct NewSession {
    pub cookie_token: String,
}

/// Where a sign-in with the right password stands.
pub enum SignIn {
    Session(NewSession),
    /// Two-factor sign-in is on: the browser keeps this token while the code is asked for.
    SecondFactor {
        challenge: String,
    },
}

/// What a sign-in request brings besides the credentials.
pub struct SignInContext<'a> {
    pub actor: &'a Actor,
    pub user_agent: Option<&'a str>,
    /// The session cookie the browser already had, if any: it is ended, never reused.
    pub previous_cookie: Option<&'a str>,
    /// The directory people sign in with, when one is configured.
    pub directory: Option<&'a LdapConfig>,
}

/// Checks the password and opens a fresh session. Failures are counted per user name and per
/// address; past the limit, sign-in is refused without even checking the password.
pub fn sign_in(
    conn: &mut PgConnection,
    limits: &LoginConfig,
    username: &str,
    password: &str,
    context: &SignInContext<'_>,
) -> Result<SignIn, AppError> {
    let actor = context.actor;
    let username = username.trim().to_lowercase();
    if username.is_empty() {
        return Err(AppError::invalid("username", "Enter your user name."));
    }
    if password.is_empty() {
        return Err(AppError::invalid("password", "Enter your password."));
    }
    let ip = actor.ip.clone().unwrap_or_default();
    let since = Utc::now() - Duration::minutes(limits.lockout_minutes);
    let by_name: i64 = login_failures::table
        .filter(login_failures::username.eq(&username).and(login_failures::failed_at.gt(since)))
        .count()
        .get_result(conn)?;
    let by_address: i64 = login_failures::table
        .filter(login_failures::ip.eq(&ip).and(login_failures::failed_at.gt(since)))
        .count()
        .get_result(conn)?;
    // An address may mistype several accounts' passwords (a shared NAT), so it gets more room.
    if by_name >= limits.max_failures || by_address >= limits.max_failures * 4 {
        return Err(AppError::RateLimited {
            message: format!("Too many failed sign-in attempts; try again in {} minutes.", limits.lockout_minutes),
            retry_after: limits.lockout_minutes as u64 * 60,
        });
    }

    let local = users::find_by_username(conn, &username)?;
    // Without the LDAP feature, directory people cannot sign in; local accounts still can.
    let directory = match context.directory {
        Some(directory) if license::current(conn)?.has(Feature::Ldap) => Some(directory),
        _ => None,
    };
    let from_directory = directory.filter(|_| local.as_ref().is_none_or(|user| user.source == "ldap"));
    let user = match (from_directory, local) {
        // A directory person (or someone unknown here, whom the directory may know): the
        // directory checks the password, and their account follows what it says of them.
        (Some(directory), local) => match directory::authenticate(directory, &username, password)? {
            Some((person, groups)) => {
                Some(directory::apply(conn, actor, &directory::Source::ldap(directory), &person, &groups)?)
            }
            None => {
                record_failure(conn, actor, &username, local.as_ref().map(|u| u.id))?;
                None
            }
        },
        (None, local) => {
            let verified = match &local {
                // Service and directory accounts have no password here; they take as long
                // to refuse as anyone else.
                Some(user) if !user.is_service && user.source == "local" => {
                    passwords::verify(password, &user.password_hash)
                }
                _ => {
                    passwords::verify_against_nothing(password);
                    false
                }
            };
            if !verified {
                record_failure(conn, actor, &username, local.as_ref().map(|u| u.id))?;
            }
            local.filter(|_| verified)
        }
    };
    let Some(user) = user else {
        return Err(AppError::Unauthenticated("The user name or password is incorrect.".to_owned()));
    };
    if !user.is_active {
        return Err(AppError::forbidden("This account is deactivated; ask an administrator."));
    }
    after_first_factor(conn, &user, context)
}

/// Once `user` has proved who they are with a password, here or at a directory or provider:
/// the code step if they enrolled a second factor, a session otherwise. However the first
/// factor was given, an enrolled second factor is asked for.
pub fn after_first_factor(
    conn: &mut PgConnection,
    user: &User,
    context: &SignInContext<'_>,
) -> Result<SignIn, AppError> {
    if user.totp_enabled_at.is_some() {
        // The password was right: its failures are forgiven, and the code is what remains.
        let challenge = conn.transaction(|conn| {
            diesel::delete(login_failures::table.filter(login_failures::username.eq(&user.username))).execute(conn)?;
            mfa::challenge(conn, user.id)
        })?;
        return Ok(SignIn::SecondFactor { challenge });
    }
    open_session(conn, user, context).map(SignIn::Session)
}

/// Opens a session for `user`, who has proved who they are, replacing the browser's old one.
pub fn open_session(conn: &mut PgConnection, user: &User, context: &SignInContext<'_>) -> Result<NewSession, AppError> {
    let (actor, user_agent) = (context.actor, context.user_agent);
    conn.transaction(|conn| {
        diesel::delete(login_failures::table.filter(login_failures::username.eq(&user.username))).execute(conn)?;
        let replaced: Option<i64> = match context.previous_cookie {
            Some(previous) => diesel::delete(sessions::table.filter(sessions::token_hash.eq(digest(previous))))
                .returning(sessions::id)
                .get_result(conn)
                .optional()?,
            None => None,
        };
        let cookie_token = random_hex(32);
        let session_id: i64 = diesel::insert_into(sessions::table)
            .values((
                sessions::token_hash.eq(digest(&cookie_token)),
                sessions::user_id.eq(user.id),
                sessions::csrf_token.eq(random_hex(32)),
                sessions::ip.eq(actor.ip.as_deref()),
                sessions::user_agent.eq(user_agent.map(|ua| ua.chars().take(512).collect::<String>())),
            ))
            .returning(sessions::id)
            .get_result(conn)?;
        let signed_in = Actor::user(user.id, actor.ip.clone());
        audit::record(
            conn,
            &signed_in,
            Change {
                action: "session.created",
                entity_type: "session",
                entity_id: session_id,
                before: None,
                after: Some(json!({ "user_id": user.id, "user_agent": user_agent, "replaced_session_id": replaced, "second_factor": user.totp_enabled_at.is_some() })),
            },
        )?;
        Ok(NewSession { cookie_token })
    })
}

fn record_failure(
    conn: &mut PgConnection,
    actor: &Actor,
    username: &str,
    user_id: Option<i64>,
) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let failure_id: i64 = diesel::insert_into(login_failures::table)
            .values((
                login_failures::username.eq(username),
                login_failures::ip.eq(actor.ip.clone().unwrap_or_default()),
            ))
            .returning(login_failures::id)
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "login.failed",
                entity_type: "login_failure",
                entity_id: failure_id,
                before: None,
                after: Some(json!({ "username": username, "user_id": user_id })),
            },
        )?;
        Ok(())
    })
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sessions)]
struct SessionTimes {
    id: i64,
    csrf_token: String,
    created_at: chrono::DateTime<Utc>,
    last_seen_at: chrono::DateTime<Utc>,
}

type SessionRow = (SessionTimes, User, i64, Option<String>, Option<String>, Option<String>);

/// The session a cookie belongs to, if it is still alive. Expired sessions are deleted here.
pub fn find_alive(
    conn: &mut PgConnection,
    limits: &SessionConfig,
    cookie_token: &str,
) -> Result<Option<Session>, AppError> {
    let unread = diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM notifications n WHERE n.user_id = users.id AND n.read_at IS NULL)",
    );
    let requirement = diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(
        "(SELECT value FROM installation_settings WHERE key = 'mfa_required')",
    );
    // The license rides along too, for the banner every page may carry.
    let license = diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(
        "(SELECT text FROM licenses WHERE replaced_at IS NULL)",
    );
    let installation = diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(
        "(SELECT value FROM installation_settings WHERE key = 'installation_id')",
    );
    let found: Option<SessionRow> = crate::db::Prepared(
        sessions::table
            .inner_join(users_table::table)
            .filter(sessions::token_hash.eq(digest(cookie_token)))
            .select((SessionTimes::as_select(), User::as_select(), unread, requirement, license, installation))
            .limit(1),
    )
    .get_result(conn)
    .optional()?;
    let Some((
        SessionTimes { id, csrf_token, created_at, last_seen_at },
        user,
        unread_notifications,
        required,
        license,
        installation,
    )) = found
    else {
        return Ok(None);
    };
    let now = Utc::now();
    let idle = now - last_seen_at > Duration::minutes(limits.idle_timeout_minutes);
    let too_old = now - created_at > Duration::hours(limits.absolute_timeout_hours);
    if idle || too_old || !user.is_active {
        let reason = if !user.is_active {
            "deactivated"
        } else if idle {
            "idle"
        } else {
            "too_old"
        };
        conn.transaction(|conn| {
            diesel::delete(sessions::table.find(id)).execute(conn)?;
            audit::record(
                conn,
                &Actor::user(user.id, None),
                Change {
                    action: "session.expired",
                    entity_type: "session",
                    entity_id: id,
                    before: None,
                    after: Some(json!({ "reason": reason })),
                },
            )
        })?;
        return Ok(None);
    }
    // Writing on every request would turn reads into writes; a minute's precision is plenty.
    if now - last_seen_at > Duration::seconds(60) {
        diesel::update(sessions::table.find(id)).set(sessions::last_seen_at.eq(now)).execute(conn)?;
    }
    let required = required.and_then(|value| mfa::Requirement::parse(&value).ok()).is_some_and(|r| r.applies_to(&user));
    let second_factor_missing = required && user.totp_enabled_at.is_none();
    let license_notice = crate::license::Status::of(license.as_deref(), installation.as_deref().unwrap_or(""), now)
        .notice(user.is_admin, now);
    Ok(Some(Session { id, user, csrf_token, unread_notifications, second_factor_missing, license_notice }))
}

pub fn sign_out(conn: &mut PgConnection, actor: &Actor, session_id: i64) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let deleted = diesel::delete(sessions::table.find(session_id)).execute(conn)?;
        if deleted > 0 {
            audit::record(
                conn,
                actor,
                Change {
                    action: "session.ended",
                    entity_type: "session",
                    entity_id: session_id,
                    before: None,
                    after: None,
                },
            )?;
        }
        Ok(())
    })
}
