//! Two-factor sign-in: time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps,
//! six digits), single-use recovery codes, the challenge a sign-in waits in between password
//! and code, and the installation's rule on who must use it.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde_json::json;
use sha1::Sha1;

use super::secrets::{digest, random_hex};
use super::users::User;
use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::keys::{Keyring, Purpose};
use crate::schema::{installation_settings, mfa_challenges, mfa_recovery_codes, users};

const STEP_SECONDS: i64 = 30;
const DIGITS: u32 = 6;
/// Steps either side of now that a code may come from: clocks drift, people type slowly.
const SKEW_STEPS: i64 = 1;
const SECRET_BYTES: usize = 20;
const RECOVERY_CODES: usize = 10;
/// How long a sign-in may wait for its code, and how many wrong codes it may try.
const CHALLENGE_MINUTES: i64 = 5;
const CHALLENGE_FAILURES: i32 = 5;
/// The issuer authenticator apps show beside the account.
const ISSUER: &str = "Outpost";

/// Who must sign in with a second factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    Nobody,
    Administrators,
    Everyone,
}

impl Requirement {
    pub const ALL: [Requirement; 3] = [Requirement::Nobody, Requirement::Administrators, Requirement::Everyone];

    pub fn as_str(self) -> &'static str {
        match self {
            Requirement::Nobody => "none",
            Requirement::Administrators => "admins",
            Requirement::Everyone => "everyone",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Requirement::Nobody => "Whoever chooses to",
            Requirement::Administrators => "Administrators must",
            Requirement::Everyone => "Everyone must",
        }
    }

    pub fn parse(text: &str) -> Result<Requirement, AppError> {
        Requirement::ALL.into_iter().find(|r| r.as_str() == text.trim()).ok_or_else(|| {
            AppError::invalid("mfa_required", format!("“{text}” is not a choice; use none, admins or everyone."))
        })
    }

    /// Whether `user` must have a second factor before doing anything else.
    pub fn applies_to(self, user: &User) -> bool {
        !user.is_service
            && match self {
                Requirement::Nobody => false,
                Requirement::Administrators => user.is_admin,
                Requirement::Everyone => true,
            }
    }
}

pub fn requirement(conn: &mut PgConnection) -> QueryResult<Requirement> {
    let value: Option<String> = installation_settings::table
        .find("mfa_required")
        .select(installation_settings::value)
        .first(conn)
        .optional()?;
    Ok(value.and_then(|value| Requirement::parse(&value).ok()).unwrap_or(Requirement::Nobody))
}

pub fn set_requirement(conn: &mut PgConnection, actor: &Actor, wanted: Requirement) -> Result<(), AppError> {
    conn.transaction(|conn| {
        let before = requirement(conn)?;
        if before == wanted {
            return Ok(());
        }
        diesel::insert_into(installation_settings::table)
            .values((installation_settings::key.eq("mfa_required"), installation_settings::value.eq(wanted.as_str())))
            .on_conflict(installation_settings::key)
            .do_update()
            .set((installation_settings::value.eq(wanted.as_str()), installation_settings::updated_at.eq(Utc::now())))
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "settings.mfa_required_changed",
                entity_type: "installation",
                entity_id: 0,
                before: Some(json!({ "mfa_required": before.as_str() })),
                after: Some(json!({ "mfa_required": wanted.as_str() })),
            },
        )?;
        Ok(())
    })
}

/// The code for `step` (seconds since the epoch divided by 30) under `secret`.
pub fn code_at(secret: &[u8], step: i64) -> u32 {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else { return 0 };
    mac.update(&step.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = (hash[hash.len() - 1] & 0x0f) as usize;
    let truncated = u32::from_be_bytes([hash[offset] & 0x7f, hash[offset + 1], hash[offset + 2], hash[offset + 3]]);
    truncated % 10u32.pow(DIGITS)
}

fn current_step() -> i64 {
    Utc::now().timestamp().div_euclid(STEP_SECONDS)
}

/// The step whose code `typed` is, within the allowed skew of now.
fn matching_step(secret: &[u8], typed: &str, now: i64) -> Option<i64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS as usize || !typed.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = typed.parse().ok()?;
    (now - SKEW_STEPS..=now + SKEW_STEPS).find(|step| code_at(secret, *step) == wanted)
}

/// RFC 4648 base32 without padding, as authenticator apps take secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut text = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buffer = [0u8; 5];
        buffer[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([0, 0, 0, buffer[0], buffer[1], buffer[2], buffer[3], buffer[4]]);
        let characters = (chunk.len() * 8).div_ceil(5);
        for index in 0..characters {
            let value = (bits >> (35 - index * 5)) & 0x1f;
            text.push(ALPHABET[value as usize] as char);
        }
    }
    text
}

/// The `otpauth://` address an authenticator app reads from the QR code.
pub fn provisioning_uri(user: &User, secret: &[u8]) -> String {
    let label = crate::web::pages::url_encode(&format!("{ISSUER}:{}", user.username));
    format!(
        "otpauth://totp/{label}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        base32(secret)
    )
}

/// The QR code of `text` as an SVG picture, drawn here (nothing is fetched).
pub fn qr_svg(text: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(AppError::internal)?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

/// What a seed is bound to when sealed: its owner.
fn seed_identity(user_id: i64) -> String {
    format!("user:{user_id}:totp")
}

/// A stored seed in the clear: sealed by its data key, or (written before customer-managed
/// keys) plain until start-up seals it.
fn open_seed(
    conn: &mut PgConnection,
    keys: &Keyring,
    user_id: i64,
    stored: Vec<u8>,
    key_id: Option<i64>,
) -> Result<Vec<u8>, AppError> {
    match key_id {
        Some(key_id) => keys.unseal(conn, key_id, &seed_identity(user_id), &stored),
        None => Ok(stored),
    }
}

/// Starts enrolment: a new secret, sealed and kept aside until a code from it is confirmed.
pub fn begin(conn: &mut PgConnection, keys: &Keyring, user: &User) -> Result<Vec<u8>, AppError> {
    if user.totp_enabled_at.is_some() {
        return Err(AppError::conflict("code", "Two-factor sign-in is already on; turn it off first to enrol anew."));
    }
    let (pending, key_id): (Option<Vec<u8>>, Option<i64>) =
        users::table.find(user.id).select((users::totp_pending_secret, users::totp_pending_key_id)).first(conn)?;
    if let Some(pending) = pending {
        return open_seed(conn, keys, user.id, pending, key_id);
    }
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    conn.transaction(|conn| {
        let (key_id, sealed) = keys.seal(conn, Purpose::TotpSeed, &seed_identity(user.id), &secret)?;
        diesel::update(users::table.find(user.id))
            .set((users::totp_pending_secret.eq(&sealed), users::totp_pending_key_id.eq(key_id)))
            .execute(conn)?;
        Ok(secret)
    })
}

/// A user's seeds as stored: id, seed and its data key, pending seed and its data key.
type SeedRow = (i64, Option<Vec<u8>>, Option<i64>, Option<Vec<u8>>, Option<i64>);

/// Seals the seeds written before customer-managed keys; start-up calls it. Returns how many.
pub fn seal_plain_seeds(conn: &mut PgConnection, keys: &Keyring) -> Result<usize, AppError> {
    let plain: Vec<SeedRow> = users::table
        .filter(
            (users::totp_secret.is_not_null().and(users::totp_key_id.is_null()))
                .or(users::totp_pending_secret.is_not_null().and(users::totp_pending_key_id.is_null())),
        )
        .select((
            users::id,
            users::totp_secret,
            users::totp_key_id,
            users::totp_pending_secret,
            users::totp_pending_key_id,
        ))
        .load(conn)?;
    for (user_id, secret, key_id, pending, pending_key_id) in &plain {
        conn.transaction::<_, AppError, _>(|conn| {
            if let (Some(secret), None) = (secret, key_id) {
                let (key_id, sealed) = keys.seal(conn, Purpose::TotpSeed, &seed_identity(*user_id), secret)?;
                diesel::update(users::table.find(user_id))
                    .set((users::totp_secret.eq(sealed), users::totp_key_id.eq(key_id)))
                    .execute(conn)?;
            }
            if let (Some(pending), None) = (pending, pending_key_id) {
                let (key_id, sealed) = keys.seal(conn, Purpose::TotpSeed, &seed_identity(*user_id), pending)?;
                diesel::update(users::table.find(user_id))
                    .set((users::totp_pending_secret.eq(sealed), users::totp_pending_key_id.eq(key_id)))
                    .execute(conn)?;
            }
            Ok(())
        })?;
    }
    Ok(plain.len())
}

fn new_recovery_codes(conn: &mut PgConnection, user_id: i64) -> QueryResult<Vec<String>> {
    diesel::delete(mfa_recovery_codes::table.filter(mfa_recovery_codes::user_id.eq(user_id))).execute(conn)?;
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let raw = random_hex(5);
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect();
    let rows: Vec<_> = codes
        .iter()
        .map(|code| (mfa_recovery_codes::user_id.eq(user_id), mfa_recovery_codes::code_hash.eq(digest(code))))
        .collect();
    diesel::insert_into(mfa_recovery_codes::table).values(&rows).execute(conn)?;
    Ok(codes)
}

/// Finishes enrolment with a code from the new secret; answers the recovery codes, shown once.
pub fn confirm(
    conn: &mut PgConnection,
    keys: &Keyring,
    actor: &Actor,
    user: &User,
    code: &str,
) -> Result<Vec<String>, AppError> {
    conn.transaction(|conn| {
        let (pending, key_id): (Option<Vec<u8>>, Option<i64>) = users::table
            .find(user.id)
            .for_update()
            .select((users::totp_pending_secret, users::totp_pending_key_id))
            .first(conn)?;
        let sealed =
            pending.ok_or_else(|| AppError::conflict("code", "Start again: there is no enrolment waiting."))?;
        let secret = open_seed(conn, keys, user.id, sealed.clone(), key_id)?;
        let step = matching_step(&secret, code, current_step()).ok_or_else(|| {
            AppError::invalid("code", "That code does not match; type the six digits the app shows now.")
        })?;
        diesel::update(users::table.find(user.id))
            .set((
                users::totp_secret.eq(Some(&sealed)),
                users::totp_key_id.eq(key_id),
                users::totp_pending_secret.eq(None::<Vec<u8>>),
                users::totp_pending_key_id.eq(None::<i64>),
                users::totp_enabled_at.eq(Some(Utc::now())),
                users::totp_last_step.eq(Some(step)),
            ))
            .execute(conn)?;
        let codes = new_recovery_codes(conn, user.id)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "user.mfa_enabled",
                entity_type: "user",
                entity_id: user.id,
                before: None,
                after: Some(json!({ "recovery_codes": codes.len() })),
            },
        )?;
        Ok(codes)
    })
}

/// Checks a second factor for `user_id`: a code (good once) or an unused recovery code.
/// Returns which kind was used.
fn check_factor(
    conn: &mut PgConnection,
    keys: &Keyring,
    user_id: i64,
    typed: &str,
) -> Result<Option<&'static str>, AppError> {
    let (secret, key_id, last_step): (Option<Vec<u8>>, Option<i64>, Option<i64>) = users::table
        .find(user_id)
        .for_update()
        .select((users::totp_secret, users::totp_key_id, users::totp_last_step))
        .first(conn)?;
    let Some(secret) = secret else { return Ok(None) };
    let secret = open_seed(conn, keys, user_id, secret, key_id)?;
    if let Some(step) = matching_step(&secret, typed, current_step()) {
        if last_step.is_some_and(|last| step <= last) {
            return Ok(None);
        }
        diesel::update(users::table.find(user_id)).set(users::totp_last_step.eq(Some(step))).execute(conn)?;
        return Ok(Some("code"));
    }
    let recovery = typed.trim().to_lowercase();
    let used = diesel::update(
        mfa_recovery_codes::table
            .filter(mfa_recovery_codes::user_id.eq(user_id))
            .filter(mfa_recovery_codes::code_hash.eq(digest(&recovery)))
            .filter(mfa_recovery_codes::used_at.is_null()),
    )
    .set(mfa_recovery_codes::used_at.eq(Some(Utc::now())))
    .execute(conn)?;
    Ok((used > 0).then_some("recovery_code"))
}

/// Turns two-factor sign-in off, with a current code (or a recovery code) as proof.
pub fn disable(
    conn: &mut PgConnection,
    keys: &Keyring,
    actor: &Actor,
    user: &User,
    code: &str,
) -> Result<(), AppError> {
    conn.transaction(|conn| {
        if check_factor(conn, keys, user.id, code)?.is_none() {
            return Err(AppError::invalid("code", "That code does not match; nothing was changed."));
        }
        // The seed's data key goes too: the sealed seed can never be opened again.
        let key_id: Option<i64> = users::table.find(user.id).select(users::totp_key_id).first(conn)?;
        diesel::update(users::table.find(user.id))
            .set((
                users::totp_secret.eq(None::<Vec<u8>>),
                users::totp_key_id.eq(None::<i64>),
                users::totp_enabled_at.eq(None::<chrono::DateTime<Utc>>),
                users::totp_last_step.eq(None::<i64>),
            ))
            .execute(conn)?;
        diesel::delete(mfa_recovery_codes::table.filter(mfa_recovery_codes::user_id.eq(user.id))).execute(conn)?;
        if let Some(key_id) = key_id {
            crate::keys::shred(conn, &[key_id])?;
        }
        audit::record(
            conn,
            actor,
            Change { action: "user.mfa_disabled", entity_type: "user", entity_id: user.id, before: None, after: None },
        )?;
        Ok(())
    })
}

/// Recovery codes not yet used.
pub fn unused_recovery_codes(conn: &mut PgConnection, user_id: i64) -> QueryResult<i64> {
    mfa_recovery_codes::table
        .filter(mfa_recovery_codes::user_id.eq(user_id))
        .filter(mfa_recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}

/// A sign-in that passed its password and now waits for the second factor: the token the
/// browser keeps for it.
pub fn challenge(conn: &mut PgConnection, user_id: i64) -> QueryResult<String> {
    let token = random_hex(32);
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user_id))).execute(conn)?;
    diesel::insert_into(mfa_challenges::table)
        .values((mfa_challenges::token_hash.eq(digest(&token)), mfa_challenges::user_id.eq(user_id)))
        .execute(conn)?;
    Ok(token)
}

/// Completes a waiting sign-in with its second factor; answers the user to open a session for.
/// Every refusal says the same, whether the challenge expired, is unknown, or the code is wrong.
pub fn answer(
    conn: &mut PgConnection,
    keys: &Keyring,
    actor: &Actor,
    token: &str,
    typed: &str,
) -> Result<User, AppError> {
    let refused =
        || AppError::Unauthenticated("That code is not right, or the sign-in took too long; sign in again.".into());
    // A refusal is the transaction's success, so that the counted failure is kept.
    conn.transaction::<_, AppError, _>(|conn| {
        let found: Option<(i64, i64, chrono::DateTime<Utc>, i32)> = mfa_challenges::table
            .filter(mfa_challenges::token_hash.eq(digest(token)))
            .for_update()
            .select((mfa_challenges::id, mfa_challenges::user_id, mfa_challenges::created_at, mfa_challenges::failures))
            .first(conn)
            .optional()?;
        let Some((id, user_id, created_at, failures)) = found else { return Ok(Err(refused())) };
        if Utc::now() - created_at > Duration::minutes(CHALLENGE_MINUTES) || failures >= CHALLENGE_FAILURES {
            diesel::delete(mfa_challenges::table.find(id)).execute(conn)?;
            return Ok(Err(refused()));
        }
        match check_factor(conn, keys, user_id, typed)? {
            Some(kind) => {
                diesel::delete(mfa_challenges::table.find(id)).execute(conn)?;
                let user = users::table.find(user_id).select(User::as_select()).first(conn)?;
                audit::record(
                    conn,
                    &Actor::user(user_id, actor.ip.clone()),
                    Change {
                        action: "login.second_factor",
                        entity_type: "user",
                        entity_id: user_id,
                        before: None,
                        after: Some(json!({ "with": kind })),
                    },
                )?;
                Ok(Ok(user))
            }
            None => {
                diesel::update(mfa_challenges::table.find(id))
                    .set(mfa_challenges::failures.eq(failures + 1))
                    .execute(conn)?;
                audit::record(
                    conn,
                    actor,
                    Change {
                        action: "login.second_factor_failed",
                        entity_type: "user",
                        entity_id: user_id,
                        before: None,
                        after: Some(json!({ "failures": failures + 1 })),
                    },
                )?;
                Ok(Err(refused()))
            }
        }
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // RFC 6238 appendix B, SHA-1, secret "12345678901234567890", eight digits there: the
        // last six of each are the six-digit codes.
        let secret = b"12345678901234567890";
        for (time, eight) in [(59, 94287082u32), (1111111109, 7081804), (1111111111, 14050471), (1234567890, 89005924)]
        {
            assert_eq!(code_at(secret, time / STEP_SECONDS), eight % 1_000_000, "at {time}");
        }
    }

    #[test]
    fn a_code_is_taken_within_one_step_either_side_and_only_as_six_digits() {
        let secret = b"12345678901234567890";
        let now = 1234567890 / STEP_SECONDS;
        let code = format!("{:06}", code_at(secret, now - 1));
        assert_eq!(matching_step(secret, &code, now), Some(now - 1));
        assert_eq!(matching_step(secret, &code, now + 1), None, "two steps old");
        assert_eq!(matching_step(secret, &format!("{} {}", &code[..3], &code[3..]), now), Some(now - 1), "spaces");
        assert_eq!(matching_step(secret, "12345", now), None);
        assert_eq!(matching_step(secret, "abcdef", now), None);
    }

    #[test]
    fn base32_is_rfc_4648_without_padding() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }
}
