//! Signing in with an LDAP or Active Directory account, and keeping directory people in step:
//! bind as the configured account, find the person with the configured filter (the user name
//! escaped, RFC 4515), bind as them with their password; their name, mail, groups (teams of
//! the same name, the administrator and auditor groups) and presence follow the directory.

use std::time::Duration;

use diesel::prelude::*;
use ldap3::{ldap_escape, LdapConn, LdapConnSettings, Scope, SearchEntry};
use serde_json::json;

use super::accounts;
use super::roles::GlobalRole;
use super::users::{self, User};
use crate::audit::{self, Actor, Change};
use crate::config::{LdapConfig, LdapSecurity};
use crate::errors::AppError;
use crate::schema::{team_members, teams, users as users_table};

/// What a local account of a directory person has instead of a password hash.
pub const DIRECTORY_PASSWORD_HASH: &str = "!ldap";
/// Code 49: the password (or the account) is wrong.
const INVALID_CREDENTIALS: u32 = 49;

/// A person as the directory has them.
#[derive(Clone, Debug)]
pub struct Person {
    pub dn: String,
    pub username: String,
    pub display_name: String,
    pub email: String,
    /// The cn of every group they are a member of.
    pub groups: Vec<String>,
}

fn unreachable(config: &LdapConfig, error: impl std::fmt::Display) -> AppError {
    AppError::DirectoryUnavailable(format!("the directory {} cannot be used: {error}", config.url))
}

/// A connection, not yet bound, with the configured transport security.
fn open(config: &LdapConfig) -> Result<LdapConn, AppError> {
    let mut settings = LdapConnSettings::new().set_conn_timeout(Duration::from_secs(10));
    if config.security != LdapSecurity::None {
        let tls = crate::tls::client_config(config.ca_file.as_deref())
            .map_err(|why| unreachable(config, format!("ldap.ca_file {why}")))?;
        settings = settings.set_config(tls);
    }
    settings = settings.set_starttls(config.security == LdapSecurity::StartTls);
    LdapConn::with_settings(settings, &config.url).map_err(|e| unreachable(config, e))
}

/// A connection bound as the configured search account.
fn connect(config: &LdapConfig) -> Result<LdapConn, AppError> {
    let mut conn = open(config)?;
    conn.with_timeout(Duration::from_secs(10))
        .simple_bind(&config.bind_dn, &config.bind_password)
        .and_then(|result| result.success())
        .map_err(|e| unreachable(config, format!("binding as ldap.bind_dn: {e}")))?;
    Ok(conn)
}

fn first(entry: &SearchEntry, attribute: &str) -> Option<String> {
    entry.attrs.get(attribute).and_then(|values| values.first()).cloned()
}

/// The people `filter` finds, with their groups.
fn people(conn: &mut LdapConn, config: &LdapConfig, filter: &str) -> Result<Vec<Person>, AppError> {
    let attributes = vec!["uid", "cn", "displayName", "mail"];
    let (entries, _) = conn
        .search(&config.user_base, Scope::Subtree, filter, attributes)
        .and_then(|result| result.success())
        .map_err(|e| unreachable(config, format!("searching ldap.user_base: {e}")))?;
    let mut found = Vec::new();
    for entry in entries.into_iter().map(SearchEntry::construct) {
        let Some(username) = first(&entry, "uid").map(|uid| uid.to_lowercase()) else { continue };
        let member_filter = format!("(&(objectClass=groupOfNames)(member={}))", ldap_escape(&entry.dn));
        let (groups, _) = conn
            .search(&config.group_base, Scope::Subtree, &member_filter, vec!["cn"])
            .and_then(|result| result.success())
            .map_err(|e| unreachable(config, format!("searching ldap.group_base: {e}")))?;
        let groups = groups.into_iter().filter_map(|group| first(&SearchEntry::construct(group), "cn")).collect();
        found.push(Person {
            display_name: first(&entry, "displayName")
                .or_else(|| first(&entry, "cn"))
                .unwrap_or_else(|| username.clone()),
            email: first(&entry, "mail").unwrap_or_else(|| format!("{username}@directory.invalid")),
            dn: entry.dn,
            username,
            groups,
        });
    }
    Ok(found)
}

/// The cn of every group under ldap.group_base: teams named like one are the directory's.
fn group_names(conn: &mut LdapConn, config: &LdapConfig) -> Result<Vec<String>, AppError> {
    let (groups, _) = conn
        .search(&config.group_base, Scope::Subtree, "(objectClass=groupOfNames)", vec!["cn"])
        .and_then(|result| result.success())
        .map_err(|e| unreachable(config, format!("searching ldap.group_base: {e}")))?;
    Ok(groups.into_iter().filter_map(|group| first(&SearchEntry::construct(group), "cn")).collect())
}

/// Checks `password` against the directory: the person and the directory's groups when it is
/// theirs, `None` when the person is not there or the password is wrong.
pub fn authenticate(
    config: &LdapConfig,
    username: &str,
    password: &str,
) -> Result<Option<(Person, Vec<String>)>, AppError> {
    // User names are plain; anything else cannot name a directory person either, and is never
    // put into a filter (the escape below is the second guard, not the only one).
    let plain = username.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !plain || password.is_empty() {
        return Ok(None);
    }
    let mut conn = connect(config)?;
    let filter = config.user_filter.replace("{username}", &ldap_escape(username));
    let found = people(&mut conn, config, &filter)?;
    let [person] = found.as_slice() else { return Ok(None) };
    let all_groups = group_names(&mut conn, config)?;
    let _ = conn.unbind();
    let mut as_them = open(config)?;
    let bound = as_them.simple_bind(&person.dn, password).map_err(|e| unreachable(config, e))?;
    let _ = as_them.unbind();
    match bound.rc {
        0 => Ok(Some((person.clone(), all_groups))),
        INVALID_CREDENTIALS => Ok(None),
        other => Err(unreachable(config, format!("binding as {} answered code {other}", person.dn))),
    }
}

/// Where people come from (the directory, or the single sign-on provider), and which of their
/// groups make administrators and auditors.
pub struct Source<'a> {
    /// ldap or oidc, as `users.source` says it.
    pub name: &'static str,
    pub admin_group: Option<&'a str>,
    pub auditor_group: Option<&'a str>,
}

impl Source<'_> {
    pub fn ldap(config: &LdapConfig) -> Source<'_> {
        Source {
            name: "ldap",
            admin_group: config.admin_group.as_deref(),
            auditor_group: config.auditor_group.as_deref(),
        }
    }
}

/// Brings the local account of `person` in step with where they come from, making it if
/// needed: name, mail, active, the global role from the administrator and auditor groups, and
/// the membership of every team named like one of `managed_groups`.
pub fn apply(
    conn: &mut PgConnection,
    actor: &Actor,
    source: &Source<'_>,
    person: &Person,
    managed_groups: &[String],
) -> Result<User, AppError> {
    let in_group = |name: Option<&str>| {
        name.is_some_and(|wanted| person.groups.iter().any(|group| group.eq_ignore_ascii_case(wanted)))
    };
    let role = if in_group(source.admin_group) {
        GlobalRole::Admin
    } else if in_group(source.auditor_group) {
        GlobalRole::Auditor
    } else {
        GlobalRole::User
    };
    conn.transaction(|conn| {
        let existing = users::find_by_username(conn, &person.username)?;
        let user = match existing {
            Some(user) if user.source != source.name => {
                return Err(AppError::conflict(
                    "username",
                    format!(
                        "{} is an account of another kind here; the person of that name from {} cannot use it.",
                        user.username, source.name
                    ),
                ))
            }
            Some(user) => user,
            None => {
                crate::license::ensure_seat(conn)?;
                let id: i64 = diesel::insert_into(users_table::table)
                    .values((
                        users_table::username.eq(&person.username),
                        users_table::display_name.eq(person.display_name.chars().take(80).collect::<String>()),
                        users_table::email.eq(person.email.to_lowercase()),
                        users_table::password_hash.eq(DIRECTORY_PASSWORD_HASH),
                        users_table::source.eq(source.name),
                        users_table::directory_dn.eq(&person.dn),
                    ))
                    .returning(users_table::id)
                    .get_result(conn)?;
                audit::record(
                    conn,
                    actor,
                    Change {
                        action: "user.created",
                        entity_type: "user",
                        entity_id: id,
                        before: None,
                        after: Some(
                            json!({ "username": person.username, "source": source.name, "external_id": person.dn }),
                        ),
                    },
                )?;
                accounts::find(conn, &person.username)?
            }
        };
        let profile = (person.display_name.chars().take(80).collect::<String>(), person.email.to_lowercase());
        if !user.is_active {
            crate::license::ensure_seat(conn)?;
        }
        if (user.display_name.clone(), user.email.clone()) != profile || !user.is_active {
            diesel::update(users_table::table.find(user.id))
                .set((
                    users_table::display_name.eq(&profile.0),
                    users_table::email.eq(&profile.1),
                    users_table::is_active.eq(true),
                    users_table::directory_dn.eq(&person.dn),
                ))
                .execute(conn)?;
            audit::record(
                conn,
                actor,
                Change {
                    action: "user.directory_updated",
                    entity_type: "user",
                    entity_id: user.id,
                    before: Some(
                        json!({ "display_name": user.display_name, "email": user.email, "is_active": user.is_active }),
                    ),
                    after: Some(json!({ "display_name": profile.0, "email": profile.1, "is_active": true })),
                },
            )?;
        }
        if user.global_role != role.as_str() && (source.admin_group.is_some() || source.auditor_group.is_some()) {
            accounts::set_role(conn, actor, &user.username, role)?;
        }
        sync_teams(conn, actor, source.name, user.id, &person.groups, managed_groups)?;
        accounts::find(conn, &person.username)
    })
}

/// Puts the user in each team named like one of their groups, and out of each team named
/// like a directory group they are not in, or that this source put them in and no group of
/// theirs names any more. Other memberships are Outpost's own and left alone.
fn sync_teams(
    conn: &mut PgConnection,
    actor: &Actor,
    source: &str,
    user_id: i64,
    groups: &[String],
    directory_groups: &[String],
) -> Result<(), AppError> {
    let all: Vec<(i64, String)> = teams::table.select((teams::id, teams::name)).load(conn)?;
    let mine: Vec<(i64, String)> = team_members::table
        .filter(team_members::user_id.eq(user_id))
        .select((team_members::team_id, team_members::added_by))
        .load(conn)?;
    let named = |list: &[String], team: &str| list.iter().any(|group| group.eq_ignore_ascii_case(team));
    for (team_id, name) in all {
        let membership = mine.iter().find(|(team, _)| *team == team_id);
        let made_here = membership.is_some_and(|(_, added_by)| added_by == source);
        if !named(directory_groups, &name) && !made_here {
            continue;
        }
        let should = named(groups, &name);
        let is = membership.is_some();
        if should && !is {
            diesel::insert_into(team_members::table)
                .values((
                    team_members::team_id.eq(team_id),
                    team_members::user_id.eq(user_id),
                    team_members::added_by.eq(source),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
        } else if is && !should {
            diesel::delete(
                team_members::table.filter(team_members::team_id.eq(team_id)).filter(team_members::user_id.eq(user_id)),
            )
            .execute(conn)?;
        } else {
            continue;
        }
        audit::record(
            conn,
            actor,
            Change {
                action: if should { "team.member_added" } else { "team.member_removed" },
                entity_type: "team",
                entity_id: team_id,
                before: None,
                after: Some(json!({ "team": name, "user_id": user_id, "by": source })),
            },
        )?;
    }
    Ok(())
}

/// What a sync did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Synced {
    pub people: usize,
    pub deactivated: usize,
}

/// Brings every directory person's account in step and deactivates the directory accounts
/// whose person the directory no longer has.
pub fn sync(conn: &mut PgConnection, config: &LdapConfig) -> Result<Synced, AppError> {
    let mut directory = connect(config)?;
    let everyone = config.user_filter.replace("{username}", "*");
    let found = people(&mut directory, config, &everyone)?;
    let groups = group_names(&mut directory, config)?;
    let _ = directory.unbind();
    let actor = Actor::system();
    let mut synced = Synced::default();
    for person in &found {
        match apply(conn, &actor, &Source::ldap(config), person, &groups) {
            Ok(_) => synced.people += 1,
            Err(AppError::Conflict { message, .. }) => tracing::warn!(%message, "ldap sync: a person was left out"),
            Err(other) => return Err(other),
        }
    }
    let departed: Vec<String> = users_table::table
        .filter(users_table::source.eq("ldap"))
        .filter(users_table::is_active.eq(true))
        .select(users_table::username)
        .load::<String>(conn)?
        .into_iter()
        .filter(|username| !found.iter().any(|person| &person.username == username))
        .collect();
    for username in departed {
        match accounts::set_active(conn, &actor, &username, false) {
            Ok(_) => synced.deactivated += 1,
            Err(AppError::Conflict { message, .. }) => tracing::warn!(%message, "ldap sync: kept an account active"),
            Err(other) => return Err(other),
        }
    }
    Ok(synced)
}
