//! The `digest` scheduled job: one mail per user gathering the notifications they chose to
//! get in a digest and have not had by mail yet. Queuing the mail and marking them mailed
//! happen in one transaction, so a retry never mails one twice.

use askama::Template;
use diesel::prelude::*;

use super::mail::{self, base_url, Composed};
use super::store::{self, Notification};
use super::{preferences, Delivery};
use crate::jobs::queue::Failure;
use crate::jobs::worker::Context;
use crate::schema::{notifications, users};

/// More than this waits for the next digest.
const MOST_PER_DIGEST: i64 = 200;

pub struct Item {
    pub summary: String,
    pub subject: String,
    pub url: String,
}

/// What a digest says, in both its forms.
struct DigestMail<'a> {
    name: &'a str,
    items: &'a [Item],
    preferences: &'a str,
}

#[derive(Template)]
#[template(path = "emails/digest.txt")]
struct DigestText<'a> {
    mail: &'a DigestMail<'a>,
}

#[derive(Template)]
#[template(path = "emails/digest.html")]
struct DigestHtml<'a> {
    mail: &'a DigestMail<'a>,
}

pub fn run(context: &Context) -> Result<(), Failure> {
    if context.config.mail.smtp.is_none() {
        return Ok(());
    }
    let mut conn = context.conn()?;
    let waiting: Vec<i64> = notifications::table
        .inner_join(users::table.on(users::id.eq(notifications::user_id)))
        .filter(notifications::emailed_at.is_null())
        .filter(users::is_active.eq(true))
        .select(notifications::user_id)
        .distinct()
        .load(&mut conn)?;
    for user_id in waiting {
        conn.transaction::<_, Failure, _>(|conn| digest_for(conn, context, user_id))?;
    }
    Ok(())
}

fn digest_for(conn: &mut PgConnection, context: &Context, user_id: i64) -> Result<(), Failure> {
    let chosen = preferences::for_user(conn, user_id)?;
    let reasons: Vec<&str> = chosen
        .iter()
        .filter(|(_, delivery)| **delivery == Delivery::Digest)
        .map(|(reason, _)| reason.as_str())
        .collect();
    let pending: Vec<Notification> = notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::emailed_at.is_null())
        .filter(notifications::reason.eq_any(&reasons))
        .order(notifications::id)
        .limit(MOST_PER_DIGEST)
        .select(Notification::as_select())
        // Two digests running at once (a retry racing a slow first try) must not both send.
        .for_update()
        .skip_locked()
        .load(conn)?;
    if pending.is_empty() {
        return Ok(());
    }
    let (name, to) = mail::recipient(conn, user_id)?;
    let base = base_url(&context.config);
    let items: Vec<Item> = pending
        .iter()
        .map(|n| Item { summary: n.summary.clone(), subject: n.subject.clone(), url: format!("{base}{}", n.link) })
        .collect();
    let preferences = format!("{base}/notifications/preferences");
    let digest = DigestMail { name: &name, items: &items, preferences: &preferences };
    let text = mail::render(&DigestText { mail: &digest })?;
    let html = mail::render(&DigestHtml { mail: &digest })?;
    let composed = Composed {
        user_id: Some(user_id),
        to,
        subject: format!("[Outpost] Your digest: {} notification(s)", items.len()),
        text,
        html,
    };
    mail::queue(conn, &composed)?;
    let ids: Vec<i64> = pending.iter().map(|n| n.id).collect();
    store::mark_emailed(conn, &ids)?;
    Ok(())
}
