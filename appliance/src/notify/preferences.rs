//! Each user's choice of mail delivery per kind of notification.

use std::collections::BTreeMap;

use diesel::prelude::*;

use super::{Delivery, Reason};
use crate::schema::notification_preferences as prefs;

/// The user's delivery for every reason, defaults filled in.
pub fn for_user(conn: &mut PgConnection, user_id: i64) -> QueryResult<BTreeMap<Reason, Delivery>> {
    let stored: Vec<(String, String)> =
        prefs::table.filter(prefs::user_id.eq(user_id)).select((prefs::reason, prefs::email)).load(conn)?;
    let mut chosen: BTreeMap<Reason, Delivery> =
        Reason::ALL.into_iter().map(|reason| (reason, reason.default_delivery())).collect();
    for (reason, email) in stored {
        if let (Some(reason), Some(delivery)) = (Reason::parse(&reason), Delivery::parse(&email)) {
            chosen.insert(reason, delivery);
        }
    }
    Ok(chosen)
}

pub fn delivery(conn: &mut PgConnection, user_id: i64, reason: Reason) -> QueryResult<Delivery> {
    let stored: Option<String> =
        prefs::table.find((user_id, reason.as_str())).select(prefs::email).first(conn).optional()?;
    Ok(stored.as_deref().and_then(Delivery::parse).unwrap_or(reason.default_delivery()))
}

pub fn set(conn: &mut PgConnection, user_id: i64, reason: Reason, delivery: Delivery) -> QueryResult<()> {
    diesel::insert_into(prefs::table)
        .values((prefs::user_id.eq(user_id), prefs::reason.eq(reason.as_str()), prefs::email.eq(delivery.as_str())))
        .on_conflict((prefs::user_id, prefs::reason))
        .do_update()
        .set(prefs::email.eq(delivery.as_str()))
        .execute(conn)
        .map(|_| ())
}
