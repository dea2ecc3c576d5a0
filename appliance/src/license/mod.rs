//! The license: what it grants (seats, features, dates), where it is kept (the `licenses`
//! table, so every node sees the same one), and what follows from it:
//! - without one, evaluation mode: every feature, `EVALUATION_SEATS` people, a banner;
//! - 30 days before expiry, a banner for administrators;
//! - after expiry, `GRACE_DAYS` of grace with a banner for everyone, then read-only mode:
//!   everyone reads and exports, nobody writes, and administrators can still sign in and
//!   install a new license. Nothing is ever deleted or locked away.

pub mod pages;
pub mod release_signature;
pub mod signed;
pub mod vendor_keys;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::{installation_settings, licenses, users};
use signed::{day_and_time, License};

/// People an installation without a license may have.
pub const EVALUATION_SEATS: i64 = 25;
/// Days after expiry before read-only mode.
pub const GRACE_DAYS: i64 = 14;
/// Days before expiry from which administrators are told.
pub const WARNING_DAYS: i64 = 30;

/// `signed::verify` against the trusted keys, remembering the last license that checked out:
/// the license in force is read with every page's session, and its signature need not be
/// checked each time. Only a success is kept (a key is never withdrawn while running; a
/// refusal may become a success once a key is trusted).
fn verified(text: &str) -> Result<License, signed::Refusal> {
    static LAST: std::sync::Mutex<Option<License>> = std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(license) = last.as_ref().filter(|license| license.text.trim() == text.trim()) {
        return Ok(license.clone());
    }
    let license = signed::verify(text, &vendor_keys::trusted())?;
    *last = Some(license.clone());
    Ok(license)
}

/// Where the installation stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Mode {
    Evaluation,
    Licensed,
    /// Expired, still writable until `read_only_from`.
    Grace {
        read_only_from: DateTime<Utc>,
    },
    /// Expired and past its grace: reads and exports only.
    ReadOnly {
        since: DateTime<Utc>,
    },
}

/// The installed license (if any) as it stands now.
#[derive(Clone, Debug)]
pub struct Status {
    pub license: Option<License>,
    pub mode: Mode,
    /// Why an installed license is not in force (it no longer verifies), if it is not.
    pub problem: Option<String>,
    pub installation_id: String,
}

impl Status {
    /// Decides the status of the stored license `text` at `now`.
    pub fn of(text: Option<&str>, installation_id: &str, now: DateTime<Utc>) -> Status {
        let checked = text.map(|text| {
            verified(text).and_then(|license| signed::check_installation(&license, installation_id).map(|()| license))
        });
        let (license, problem) = match checked {
            None => (None, None),
            Some(Ok(license)) => (Some(license), None),
            Some(Err(refusal)) => (None, Some(format!("The installed license is not in force: {refusal}"))),
        };
        let mode = match &license {
            None => Mode::Evaluation,
            Some(license) => {
                let expires = license.payload.expires_at;
                let read_only_from = expires + Duration::days(GRACE_DAYS);
                if now < expires {
                    Mode::Licensed
                } else if now < read_only_from {
                    Mode::Grace { read_only_from }
                } else {
                    Mode::ReadOnly { since: read_only_from }
                }
            }
        };
        Status { license, mode, problem, installation_id: installation_id.to_owned() }
    }

    pub fn seat_limit(&self) -> i64 {
        match &self.license {
            Some(license) => i64::from(license.payload.seats),
            None => EVALUATION_SEATS,
        }
    }

    pub fn read_only(&self) -> bool {
        matches!(self.mode, Mode::ReadOnly { .. })
    }

    /// Whether the license includes `feature`; evaluation includes every feature.
    pub fn has(&self, feature: Feature) -> bool {
        match &self.license {
            None => true,
            Some(license) => license.payload.features.iter().any(|f| f == feature.as_str()),
        }
    }

    /// The banner for a page: everyone hears of grace and read-only mode; administrators also
    /// of evaluation, a license that is not in force, and expiry within `WARNING_DAYS`.
    pub fn notice(&self, administrator: bool, now: DateTime<Utc>) -> Option<String> {
        match (&self.mode, &self.license) {
            (Mode::ReadOnly { since }, _) => Some(format!(
                "Outpost is read-only: the license expired and its grace period ended on {}. Everything can be read and exported; an administrator can install a new license under Administration → License.",
                day_and_time(*since)
            )),
            (Mode::Grace { read_only_from }, Some(license)) => Some(format!(
                "The license expired on {}; Outpost becomes read-only on {} unless a new license is installed.",
                day_and_time(license.payload.expires_at),
                day_and_time(*read_only_from)
            )),
            _ if !administrator => None,
            (Mode::Evaluation, _) => Some(match &self.problem {
                Some(problem) => format!("{problem} Outpost runs in evaluation mode meanwhile."),
                None => format!(
                    "Evaluation mode: every feature, up to {EVALUATION_SEATS} people. Install a license under Administration → License."
                ),
            }),
            (Mode::Licensed, Some(license)) => {
                // Whole days, rounded up: "1 day" until the last hour.
                let left = ((license.payload.expires_at - now).num_hours() + 23) / 24;
                (left < WARNING_DAYS).then(|| {
                    format!(
                        "The license expires on {} ({left} days from now); read-only mode follows {GRACE_DAYS} days later.",
                        day_and_time(license.payload.expires_at)
                    )
                })
            }
            _ => None,
        }
    }
}

/// Modules a license may or may not include.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    Ldap,
    SingleSignOn,
    Automation,
    Webhooks,
}

impl Feature {
    pub const ALL: [Feature; 4] = [Feature::Ldap, Feature::SingleSignOn, Feature::Automation, Feature::Webhooks];

    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Ldap => "ldap",
            Feature::SingleSignOn => "sso",
            Feature::Automation => "automation",
            Feature::Webhooks => "webhooks",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Feature::Ldap => "sign-in with LDAP",
            Feature::SingleSignOn => "single sign-on",
            Feature::Automation => "automation rules",
            Feature::Webhooks => "webhooks",
        }
    }
}

/// Puts the license file an administrator dropped at `path` in force, when there is one and
/// it is not already the installed license. Start-up calls it; a file that does not verify is
/// said in the log and changes nothing, so the installation goes on as it was.
pub fn install_dropped_file(conn: &mut PgConnection, path: &std::path::Path) -> Result<Option<License>, AppError> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(None) };
    let installed: Option<String> =
        licenses::table.filter(licenses::replaced_at.is_null()).select(licenses::text).first(conn).optional()?;
    if installed.is_some_and(|installed| installed.trim() == text.trim()) {
        return Ok(None);
    }
    let actor = Actor::system();
    install(conn, &actor, &text)
        .map(Some)
        .map_err(|e| AppError::invalid("license.file", format!("{}: {e}", path.display())))
}

/// A license in lines for the command line.
pub fn describe(license: &License) -> Vec<String> {
    let p = &license.payload;
    vec![
        format!("License {} for {} ({}), {} edition", p.license_id, p.customer_name, p.customer_id, p.edition),
        format!(
            "Valid from {} to {} UTC; signed with key {}",
            day_and_time(p.not_before),
            day_and_time(p.expires_at),
            license.key_id
        ),
        format!(
            "Seats: {}; features: {}",
            p.seats,
            if p.features.is_empty() { "none".to_owned() } else { p.features.join(", ") }
        ),
        match &p.installation_id {
            Some(id) => format!("For installation {id} only"),
            None => "For any installation".to_owned(),
        },
    ]
}

/// This installation's id, made when it is first asked for; a license may be bound to it.
pub fn installation_id(conn: &mut PgConnection) -> QueryResult<String> {
    let made: Option<String> = installation_settings::table
        .find("installation_id")
        .select(installation_settings::value)
        .first(conn)
        .optional()?;
    if let Some(id) = made {
        return Ok(id);
    }
    diesel::insert_into(installation_settings::table)
        .values((
            installation_settings::key.eq("installation_id"),
            installation_settings::value.eq(hex::encode(rand::random::<[u8; 16]>())),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    installation_settings::table.find("installation_id").select(installation_settings::value).first(conn)
}

/// The license text in force and the installation id, as last read, on a node that hears of
/// changes (`changes`): every page reads the license, and it changes perhaps once a year.
static IN_FORCE: std::sync::RwLock<Option<(Option<String>, String)>> = std::sync::RwLock::new(None);

/// Drops what `current` remembered; the change listener calls it when the license changes.
pub fn forget() {
    *IN_FORCE.write().unwrap_or_else(|e| e.into_inner()) = None;
}

/// The status of the installed license now.
pub fn current(conn: &mut PgConnection) -> QueryResult<Status> {
    if crate::changes::listening() {
        if let Some((text, id)) = IN_FORCE.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Ok(Status::of(text.as_deref(), id, Utc::now()));
        }
    }
    let generation = crate::changes::generation();
    let text: Option<String> =
        licenses::table.filter(licenses::replaced_at.is_null()).select(licenses::text).first(conn).optional()?;
    let id = installation_id(conn)?;
    let status = Status::of(text.as_deref(), &id, Utc::now());
    // Remembered only if no change was heard while reading: that one might be newer.
    if crate::changes::listening() && crate::changes::generation() == generation {
        *IN_FORCE.write().unwrap_or_else(|e| e.into_inner()) = Some((text, id));
    }
    Ok(status)
}

/// Refuses with a sentence naming the feature when the license does not include it.
pub fn require(conn: &mut PgConnection, feature: Feature) -> Result<(), AppError> {
    match current(conn)?.has(feature) {
        true => Ok(()),
        false => Err(AppError::forbidden(format!(
            "The license does not include {}; ask your vendor for a license that does.",
            feature.label()
        ))),
    }
}

/// People who take a seat: active accounts that are not service accounts.
pub fn seats_used(conn: &mut PgConnection) -> QueryResult<i64> {
    users::table.filter(users::is_active.eq(true)).filter(users::is_service.eq(false)).count().get_result(conn)
}

/// Refuses one more active person when every seat is taken. Call it inside the transaction
/// that adds or reactivates them: the lock makes two at once count one after the other.
pub fn ensure_seat(conn: &mut PgConnection) -> Result<(), AppError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('outpost.seats'))").execute(conn)?;
    let status = current(conn)?;
    let (used, limit) = (seats_used(conn)?, status.seat_limit());
    if used >= limit {
        let what = if status.license.is_some() { "The license allows" } else { "Evaluation mode allows" };
        return Err(AppError::conflict(
            "seats",
            format!(
                "{what} {limit} people and {used} are active; deactivate someone or install a license with more seats."
            ),
        ));
    }
    Ok(())
}

/// Verifies `text` as a license for this installation, valid now, and makes it the installed
/// one (the one before is kept, marked replaced), with its audit row.
pub fn install(conn: &mut PgConnection, actor: &Actor, text: &str) -> Result<License, AppError> {
    let now = Utc::now();
    let refused = |why: String| AppError::invalid("license", why);
    let license = signed::verify(text, &vendor_keys::trusted()).map_err(|e| refused(e.to_string()))?;
    signed::check_not_before(&license, now).map_err(|e| refused(e.to_string()))?;
    if license.payload.expires_at <= now {
        return Err(refused(signed::Refusal::Expired(day_and_time(license.payload.expires_at)).to_string()));
    }
    let installed = conn.transaction::<_, AppError, _>(|conn| {
        let id = installation_id(conn)?;
        signed::check_installation(&license, &id).map_err(|e| refused(e.to_string()))?;
        let before: Option<String> = licenses::table
            .filter(licenses::replaced_at.is_null())
            .select(licenses::license_id)
            .first(conn)
            .optional()?;
        diesel::update(licenses::table.filter(licenses::replaced_at.is_null()))
            .set(licenses::replaced_at.eq(now))
            .execute(conn)?;
        let row: i64 = diesel::insert_into(licenses::table)
            .values((
                licenses::license_id.eq(&license.payload.license_id),
                licenses::text.eq(&license.text),
                licenses::installed_by.eq(actor.user_id),
            ))
            .returning(licenses::id)
            .get_result(conn)?;
        let payload = &license.payload;
        audit::record(
            conn,
            actor,
            Change {
                action: "license.installed",
                entity_type: "license",
                entity_id: row,
                before: before.map(|license_id| json!({ "license_id": license_id })),
                after: Some(json!({
                    "license_id": payload.license_id, "customer": payload.customer_name, "edition": payload.edition,
                    "seats": payload.seats, "features": payload.features, "expires_at": payload.expires_at,
                    "key": license.key_id,
                })),
            },
        )?;
        Ok(license.clone())
    })?;
    // This node forgets now; the others when the trigger's notification reaches them.
    crate::changes::changed_here("license");
    Ok(installed)
}

#[cfg(test)]
mod tests {
    use super::signed::{sign, Payload, VERSION};
    use super::*;
    use ed25519_dalek::SigningKey;

    fn license_text(expires_in_days: i64, features: &[&str]) -> String {
        let signing = SigningKey::from_bytes(&[3u8; 32]);
        vendor_keys::trust_for_testing(vendor_keys::VendorKey {
            id: "unit".into(),
            public: signing.verifying_key().to_bytes(),
        });
        let now = Utc::now();
        let payload = Payload {
            version: VERSION,
            license_id: "L".into(),
            customer_id: "C".into(),
            customer_name: "Example".into(),
            edition: "enterprise".into(),
            issued_at: now,
            not_before: now - Duration::days(400),
            expires_at: now + Duration::days(expires_in_days),
            seats: 10,
            features: features.iter().map(|f| (*f).to_owned()).collect(),
            installation_id: None,
        };
        sign(&payload, "unit", &signing)
    }

    #[test]
    fn modes_follow_the_dates_and_only_the_right_people_hear_of_them() {
        let now = Utc::now();
        let evaluation = Status::of(None, "i", now);
        assert_eq!((evaluation.mode.clone(), evaluation.seat_limit()), (Mode::Evaluation, EVALUATION_SEATS));
        assert!(evaluation.notice(true, now).unwrap().starts_with("Evaluation mode"));
        assert_eq!(evaluation.notice(false, now), None);
        assert!(Feature::ALL.iter().all(|f| evaluation.has(*f)));

        let fresh = Status::of(Some(&license_text(200, &["ldap"])), "i", now);
        assert_eq!((fresh.mode.clone(), fresh.seat_limit(), fresh.notice(true, now)), (Mode::Licensed, 10, None));
        assert!(fresh.has(Feature::Ldap) && !fresh.has(Feature::SingleSignOn));

        let soon = Status::of(Some(&license_text(10, &[])), "i", now);
        assert!(soon.notice(true, now).unwrap().contains("days from now"));
        assert_eq!(soon.notice(false, now), None);

        let expired = Status::of(Some(&license_text(-3, &[])), "i", now);
        assert!(matches!(expired.mode, Mode::Grace { .. }) && !expired.read_only());
        assert!(expired.notice(false, now).unwrap().contains("becomes read-only on"));

        let over = Status::of(Some(&license_text(-15, &[])), "i", now);
        assert!(over.read_only());
        assert!(over.notice(false, now).unwrap().starts_with("Outpost is read-only"));

        let broken = Status::of(Some("-----BEGIN OUTPOST LICENSE-----\nnonsense"), "i", now);
        assert_eq!(broken.mode, Mode::Evaluation);
        assert!(broken.notice(true, now).unwrap().starts_with("The installed license is not in force"));
    }
}
