//! API tokens: shown once at creation, stored as a digest, optionally expiring, revocable,
//! and scoped: a token acts with at most its scope of its account's powers.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::secrets::{digest, random_hex};
use super::users::User;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::{api_tokens, users};

/// Every token starts with this, so that secret scanners and people can recognise one.
pub const PREFIX: &str = "op_";

/// How much of its account's power a token carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// GET requests only.
    Read,
    /// Everything the account may do in projects and spaces.
    Write,
    /// Also the account's installation-wide powers (an administrator's).
    Admin,
}

impl TokenScope {
    pub const ALL: [TokenScope; 3] = [TokenScope::Read, TokenScope::Write, TokenScope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
            TokenScope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<TokenScope, AppError> {
        TokenScope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text.trim())
            .ok_or_else(|| AppError::invalid("scope", format!("“{text}” is not a scope; use read, write or admin.")))
    }

    /// The account as this token lets it act: below the admin scope an administrator's
    /// installation-wide powers are left behind (project roles stay).
    pub fn narrow(self, mut user: User) -> User {
        if self != TokenScope::Admin && user.is_admin {
            user.is_admin = false;
            user.global_role = super::roles::GlobalRole::User.as_str().to_owned();
        }
        user
    }
}

#[derive(Clone, Debug, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub token_prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// read, write or admin.
    pub scope: String,
}

impl ApiToken {
    pub fn is_usable(&self) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > Utc::now())
    }
}

/// Creates a token for `owner` and returns it with its secret, which is never shown again.
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    owner: &User,
    name: &str,
    scope: TokenScope,
    expires_in_days: Option<i64>,
) -> Result<(ApiToken, String), AppError> {
    let user_id = owner.id;
    if scope == TokenScope::Admin && !owner.is_admin {
        return Err(AppError::invalid("scope", "Only an administrator's token can have the admin scope."));
    }
    let name = name.trim();
    if !(1..=80).contains(&name.chars().count()) {
        return Err(AppError::invalid("name", "Token name must be 1 to 80 characters."));
    }
    if let Some(days) = expires_in_days {
        if !(1..=3650).contains(&days) {
            return Err(AppError::invalid("expires_in_days", "Expiry must be 1 to 3650 days, or none."));
        }
    }
    let secret = format!("{PREFIX}{}", random_hex(32));
    conn.transaction(|conn| {
        let token: ApiToken = diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::user_id.eq(user_id),
                api_tokens::name.eq(name),
                api_tokens::token_hash.eq(digest(&secret)),
                api_tokens::token_prefix.eq(&secret[..PREFIX.len() + 6]),
                api_tokens::scope.eq(scope.as_str()),
                api_tokens::expires_at.eq(expires_in_days.map(|days| Utc::now() + Duration::days(days))),
            ))
            .returning(ApiToken::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "api_token.created",
                entity_type: "api_token",
                entity_id: token.id,
                before: None,
                after: Some(json!({ "user_id": user_id, "name": token.name, "scope": token.scope, "expires_at": token.expires_at })),
            },
        )?;
        Ok((token, secret))
    })
}

pub fn list_for_user(conn: &mut PgConnection, user_id: i64) -> QueryResult<Vec<ApiToken>> {
    api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .order(api_tokens::created_at.desc())
        .select(ApiToken::as_select())
        .load(conn)
}

/// Revokes one of `user_id`'s own tokens; someone else's token is "not found", not "forbidden",
/// so that its existence is not revealed.
pub fn revoke(conn: &mut PgConnection, actor: &Actor, user_id: i64, token_id: i64) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let revoked = diesel::update(
            api_tokens::table
                .filter(api_tokens::id.eq(token_id))
                .filter(api_tokens::user_id.eq(user_id))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set(api_tokens::revoked_at.eq(Utc::now()))
        .execute(conn)?;
        if revoked == 0 {
            return Err(AppError::not_found("No such active token."));
        }
        audit::record(
            conn,
            actor,
            Change {
                action: "api_token.revoked",
                entity_type: "api_token",
                entity_id: token_id,
                before: None,
                after: None,
            },
        )?;
        Ok(())
    })
}

/// The user a bearer secret belongs to and the token's scope, or a sentence saying why it
/// does not authenticate.
pub fn authenticate(conn: &mut PgConnection, secret: &str) -> Result<(User, TokenScope), AppError> {
    let unauthenticated = |message: &str| AppError::Unauthenticated(message.to_owned());
    if !secret.starts_with(PREFIX) {
        return Err(unauthenticated("The API token is not valid."));
    }
    let found: Option<(ApiToken, User)> = crate::db::Prepared(
        api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::token_hash.eq(digest(secret)))
            .select((ApiToken::as_select(), User::as_select()))
            .limit(1),
    )
    .get_result(conn)
    .optional()?;
    let Some((token, user)) = found else {
        return Err(unauthenticated("The API token is not valid."));
    };
    if token.revoked_at.is_some() {
        return Err(unauthenticated("The API token has been revoked."));
    }
    if let Some(expired_at) = token.expires_at.filter(|at| *at <= Utc::now()) {
        return Err(unauthenticated(&format!("The API token expired on {}.", expired_at.format("%Y-%m-%d %H:%M UTC"))));
    }
    if !user.is_active {
        return Err(unauthenticated("The API token's account is deactivated."));
    }
    if token.last_used_at.is_none_or(|at| Utc::now() - at > Duration::seconds(60)) {
        diesel::update(api_tokens::table.find(token.id)).set(api_tokens::last_used_at.eq(Utc::now())).execute(conn)?;
    }
    Ok((user, TokenScope::parse(&token.scope)?))
}
