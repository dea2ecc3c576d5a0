//! The notifications list behind the bell, mail preferences, the signed unsubscribe link, and
//! the same over the API.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::store::{self, Notification};
use super::{mail, preferences, Delivery, Reason};
use crate::audit::{self, Actor, Change};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::secrets;
use crate::web::errors::{ApiError, PageError};
use crate::web::extract::{ApiCaller, ApiJson, CsrfForm, SignedIn};
use crate::web::pages::{redirect, render, render_with_status, Nav};
use crate::web::AppState;

const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Present (any value): unread notifications only.
    #[serde(default)]
    unread: Option<String>,
    /// The `next` cursor of the previous page.
    before: Option<i64>,
}

pub struct Row {
    pub notification: Notification,
    pub actor: Option<String>,
}

#[derive(Template)]
#[template(path = "notifications/list.html")]
struct ListPage {
    nav: Nav,
    rows: Vec<Row>,
    unread_only: bool,
    older: Option<i64>,
}

pub async fn list(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::ManageOwnNotifications)?;
    let unread_only = query.unread.is_some();
    let (user_id, before) = (signed_in.user().id, query.before);
    let rows =
        db::run(&state.pool, move |conn| Ok(store::list(conn, user_id, unread_only, before, PAGE_SIZE)?)).await?;
    let older = (rows.len() as i64 == PAGE_SIZE).then(|| rows.last().map(|(n, _)| n.id)).flatten();
    let rows = rows.into_iter().map(|(notification, actor)| Row { notification, actor }).collect();
    Ok(render(&ListPage { nav: Nav::for_user(&signed_in, "notifications"), rows, unread_only, older })?)
}

#[derive(Deserialize)]
pub struct ReadForm {
    /// One notification's id, or absent for all.
    id: Option<i64>,
    /// Where to go afterwards: the notification's link, or back to the list.
    next: Option<String>,
}

/// Marks one notification (or all) read. Opening a notification goes through here, so the
/// bell counts down as the user works through them.
pub async fn mark_read(form: CsrfForm<ReadForm>, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    authorize(signed_in.user(), Action::ManageOwnNotifications)?;
    let user_id = signed_in.user().id;
    let ids = data.id.map(|id| vec![id]);
    db::run(&state.pool, move |conn| Ok(store::mark_read(conn, user_id, ids.as_deref())?)).await?;
    Ok(redirect(&crate::web::pages::local_path(data.next.as_deref().or(Some("/notifications")))))
}

pub struct Choice {
    pub reason: Reason,
    pub delivery: Delivery,
}

impl Choice {
    pub fn is(&self, delivery: &Delivery) -> bool {
        self.delivery == *delivery
    }
}

#[derive(Template)]
#[template(path = "notifications/preferences.html")]
struct PreferencesPage {
    nav: Nav,
    choices: Vec<Choice>,
    mail_enabled: bool,
    saved: bool,
    error: Option<AppError>,
}

async fn preferences_page(
    signed_in: &SignedIn,
    state: &AppState,
    saved: bool,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let user_id = signed_in.user().id;
    let chosen = db::run(&state.pool, move |conn| Ok(preferences::for_user(conn, user_id)?)).await?;
    let choices = chosen.into_iter().map(|(reason, delivery)| Choice { reason, delivery }).collect();
    let status = crate::web::pages::status_for(error.as_ref());
    let page = PreferencesPage {
        nav: Nav::for_user(signed_in, "notifications"),
        choices,
        mail_enabled: state.config.mail.smtp.is_some(),
        saved,
        error,
    };
    Ok(render_with_status(&page, status)?)
}

pub async fn show_preferences(signed_in: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::ManageOwnNotifications)?;
    preferences_page(&signed_in, &state, false, None).await
}

/// Reads `reason name → delivery` pairs, refusing unknown names and values by field.
fn parse_choices(pairs: &[(String, String)]) -> Result<Vec<(Reason, Delivery)>, AppError> {
    let mut choices = Vec::new();
    for (name, value) in pairs.iter().filter(|(name, _)| name != "csrf_token") {
        let reason = Reason::parse(name)
            .ok_or_else(|| AppError::invalid(name, format!("There is no kind of notification called \"{name}\".")))?;
        let delivery = Delivery::parse(value).ok_or_else(|| {
            AppError::invalid(name, format!("\"{value}\" is not a delivery; choose immediate, digest or off."))
        })?;
        choices.push((reason, delivery));
    }
    Ok(choices)
}

/// Saves the choices and their audit row in one transaction.
fn save_choices(
    conn: &mut diesel::PgConnection,
    actor: &Actor,
    user_id: i64,
    choices: &[(Reason, Delivery)],
) -> Result<(), AppError> {
    use diesel::Connection;
    conn.transaction(|conn| {
        let before = preferences::for_user(conn, user_id)?;
        for (reason, delivery) in choices {
            preferences::set(conn, user_id, *reason, *delivery)?;
        }
        let after = preferences::for_user(conn, user_id)?;
        let as_json = |map: &std::collections::BTreeMap<Reason, Delivery>| {
            json!(map.iter().map(|(r, d)| (r.as_str(), d.as_str())).collect::<std::collections::BTreeMap<_, _>>())
        };
        audit::record(
            conn,
            actor,
            Change {
                action: "notification_preferences.updated",
                entity_type: "user",
                entity_id: user_id,
                before: Some(as_json(&before)),
                after: Some(as_json(&after)),
            },
        )?;
        Ok(())
    })
}

pub async fn save_preferences(
    form: CsrfForm<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    authorize(signed_in.user(), Action::ManageOwnNotifications)?;
    let choices = match parse_choices(&data) {
        Ok(choices) => choices,
        Err(error) => return preferences_page(&signed_in, &state, false, Some(error)).await,
    };
    let (actor, user_id) = (signed_in.actor.clone(), signed_in.user().id);
    db::run(&state.pool, move |conn| save_choices(conn, &actor, user_id, &choices)).await?;
    preferences_page(&signed_in, &state, true, None).await
}

#[derive(Deserialize)]
pub struct UnsubscribeParams {
    user: i64,
    reason: String,
    signature: String,
}

#[derive(Template)]
#[template(path = "notifications/unsubscribe.html")]
struct UnsubscribePage {
    nav: Nav,
    user: i64,
    reason: String,
    label: &'static str,
    signature: String,
    done: bool,
}

/// Checks the link's signature; a forged or damaged link changes nothing and says so.
async fn verified(state: &AppState, params: &UnsubscribeParams) -> Result<Reason, AppError> {
    let refusal = || {
        AppError::not_found(
            "This unsubscribe link is not valid. Change your mail settings under Notifications → Mail preferences.",
        )
    };
    let reason = Reason::parse(&params.reason).ok_or_else(refusal)?;
    let user = params.user;
    let expected = db::run(&state.pool, move |conn| Ok(mail::unsubscribe_signature(conn, user, reason)?)).await?;
    if secrets::same(&expected, &params.signature) {
        Ok(reason)
    } else {
        Err(refusal())
    }
}

/// The link in a mail opens a page with a button: mail scanners that follow links must not
/// unsubscribe anyone.
pub async fn unsubscribe_form(
    state: web::Data<AppState>,
    query: web::Query<UnsubscribeParams>,
) -> Result<HttpResponse, PageError> {
    let reason = verified(&state, &query).await?;
    let page = UnsubscribePage {
        nav: Nav::anonymous(),
        user: query.user,
        reason: reason.as_str().to_owned(),
        label: reason.label(),
        signature: query.signature.clone(),
        done: false,
    };
    Ok(render(&page)?)
}

/// No session and no CSRF token here: the signature is what authorizes it, and all it can do
/// is turn one kind of mail off for one user.
pub async fn unsubscribe(
    state: web::Data<AppState>,
    form: web::Form<UnsubscribeParams>,
) -> Result<HttpResponse, PageError> {
    let reason = verified(&state, &form).await?;
    let user_id = form.user;
    let actor = Actor::user(user_id, None);
    db::run(&state.pool, move |conn| save_choices(conn, &actor, user_id, &[(reason, Delivery::Off)])).await?;
    let page = UnsubscribePage {
        nav: Nav::anonymous(),
        user: user_id,
        reason: reason.as_str().to_owned(),
        label: reason.label(),
        signature: form.signature.clone(),
        done: true,
    };
    Ok(render(&page)?)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NotificationBody {
    id: i64,
    reason: String,
    subject: String,
    summary: String,
    link: String,
    actor: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    read: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NotificationList {
    items: Vec<NotificationBody>,
    /// How many of the caller's notifications are unread.
    unread: i64,
    /// The `before` cursor of the next page; absent on the last page.
    next: Option<i64>,
}

/// The caller's notifications, newest first, 50 a page.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(ListQuery),
    responses((status = 200, body = NotificationList)))]
pub async fn api_list(
    caller: ApiCaller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&caller.user, Action::ManageOwnNotifications)?;
    let unread_only = query.unread.is_some();
    let (user_id, before) = (caller.user.id, query.before);
    let (rows, unread) = db::run(&state.pool, move |conn| {
        Ok((store::list(conn, user_id, unread_only, before, PAGE_SIZE)?, store::unread_count(conn, user_id)?))
    })
    .await?;
    let next = (rows.len() as i64 == PAGE_SIZE).then(|| rows.last().map(|(n, _)| n.id)).flatten();
    let items: Vec<NotificationBody> = rows
        .into_iter()
        .map(|(n, actor)| NotificationBody {
            id: n.id,
            reason: n.reason,
            subject: n.subject,
            summary: n.summary,
            link: n.link,
            actor,
            created_at: n.created_at,
            read: n.read_at.is_some(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(NotificationList { items, unread, next }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    /// The notifications to mark read; absent marks all.
    ids: Option<Vec<i64>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Marked {
    /// How many notifications changed from unread to read.
    marked: usize,
}

/// Marks the given notifications, or all, read.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications", request_body = ReadBody,
    responses((status = 200, body = Marked)))]
pub async fn api_mark_read(
    caller: ApiCaller,
    state: web::Data<AppState>,
    body: ApiJson<ReadBody>,
) -> Result<HttpResponse, ApiError> {
    authorize(&caller.user, Action::ManageOwnNotifications)?;
    let user_id = caller.user.id;
    let ids = body.0.ids;
    let marked = db::run(&state.pool, move |conn| Ok(store::mark_read(conn, user_id, ids.as_deref())?)).await?;
    Ok(HttpResponse::Ok().json(Marked { marked }))
}
