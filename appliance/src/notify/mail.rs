//! Mail: composing from askama templates (plain text and HTML), queuing in `mail_messages`
//! with a `mail.send` job beside it, and delivering over SMTP with lettre (STARTTLS or TLS
//! through rustls, with the on-prem CA from `mail.ca_file`).

use std::time::Duration;

use askama::Template;
use diesel::prelude::*;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use serde_json::json;

use super::store::Notification;
use super::Reason;
use crate::config::{Config, SmtpConfig, SmtpSecurity};
use crate::identity::secrets;
use crate::jobs::queue::{self, Failure, Job, NewJob};
use crate::jobs::worker::Context;
use crate::schema::{mail_messages, users};
use crate::web::markdown::escape_html;

/// The address users reach Outpost at, for links in mail.
pub fn base_url(config: &Config) -> String {
    config.server.public_url.clone().unwrap_or_else(|| {
        let scheme = if config.server.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", config.server.bind)
    })
}

/// What the unsubscribe link carries: the user, the kind of mail, and a signature only this
/// installation can make, so the link works without signing in and cannot be forged.
pub fn unsubscribe_signature(conn: &mut PgConnection, user_id: i64, reason: Reason) -> QueryResult<String> {
    let key = secrets::installation_key(conn, "unsubscribe")?;
    Ok(secrets::sign(&key, format!("unsubscribe:{user_id}:{}", reason.as_str()).as_bytes()))
}

fn unsubscribe_url(conn: &mut PgConnection, config: &Config, user_id: i64, reason: Reason) -> QueryResult<String> {
    let signature = unsubscribe_signature(conn, user_id, reason)?;
    Ok(format!(
        "{}/notifications/unsubscribe?user={user_id}&reason={}&signature={signature}",
        base_url(config),
        reason.as_str()
    ))
}

/// What a notification mail says, in both its forms.
struct NotificationMail<'a> {
    name: &'a str,
    summary: &'a str,
    subject: &'a str,
    url: &'a str,
    unsubscribe: &'a str,
    reason: &'a str,
}

#[derive(Template)]
#[template(path = "emails/notification.txt")]
struct NotificationText<'a> {
    mail: &'a NotificationMail<'a>,
}

#[derive(Template)]
#[template(path = "emails/notification.html")]
struct NotificationHtml<'a> {
    mail: &'a NotificationMail<'a>,
}

/// One composed mail, ready to queue.
pub struct Composed {
    pub user_id: Option<i64>,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub(super) fn render(template: &impl Template) -> Result<String, Failure> {
    template.render().map_err(|e| Failure::permanent(format!("mail template: {e}")))
}

/// Queues the mail for one notification.
pub fn queue_notification(
    conn: &mut PgConnection,
    config: &Config,
    notification: &Notification,
) -> Result<(), Failure> {
    let (name, to) = recipient(conn, notification.user_id)?;
    let reason = Reason::parse(&notification.reason).unwrap_or(Reason::Watching);
    let unsubscribe = unsubscribe_url(conn, config, notification.user_id, reason)?;
    let url = format!("{}{}", base_url(config), notification.link);
    let (summary, subject) = (notification.summary.as_str(), notification.subject.as_str());
    let mail = NotificationMail {
        name: &name,
        summary,
        subject,
        url: &url,
        unsubscribe: &unsubscribe,
        reason: reason.label(),
    };
    let text = render(&NotificationText { mail: &mail })?;
    let html = render(&NotificationHtml { mail: &mail })?;
    let composed =
        Composed { user_id: Some(notification.user_id), to, subject: format!("[Outpost] {summary}"), text, html };
    queue(conn, &composed)?;
    Ok(())
}

/// The user's display name, and the mailbox to write to. Quoting keeps a display name with
/// commas or brackets from becoming extra recipients.
pub(super) fn recipient(conn: &mut PgConnection, user_id: i64) -> QueryResult<(String, String)> {
    let (name, address): (String, String) =
        users::table.find(user_id).select((users::display_name, users::email)).first(conn)?;
    let mailbox = format!("\"{}\" <{address}>", name.replace(['"', '\\', '\r', '\n'], ""));
    Ok((name, mailbox))
}

/// Stores the mail and queues its delivery, in the caller's transaction. Returns its id.
pub fn queue(conn: &mut PgConnection, mail: &Composed) -> QueryResult<i64> {
    let id: i64 = diesel::insert_into(mail_messages::table)
        .values((
            mail_messages::user_id.eq(mail.user_id),
            mail_messages::to_address.eq(&mail.to),
            mail_messages::subject.eq(&mail.subject),
            mail_messages::text_body.eq(&mail.text),
            mail_messages::html_body.eq(&mail.html),
        ))
        .returning(mail_messages::id)
        .get_result(conn)?;
    let job = NewJob::new("mail.send", json!({ "mail_id": id }))
        .with_max_attempts(8)
        .with_idempotency_key(format!("mail:{id}"));
    queue::enqueue(conn, &job)?;
    Ok(id)
}

#[derive(Queryable)]
struct Stored {
    to_address: String,
    subject: String,
    text_body: String,
    html_body: String,
    state: String,
}

/// The `mail.send` job: delivers one stored mail. A mail already sent is not sent again.
pub fn deliver(context: &Context, job: &Job) -> Result<(), Failure> {
    let Some(smtp) = &context.config.mail.smtp else {
        return Err(Failure::permanent("no SMTP server is configured (mail.smtp_host)"));
    };
    let mail_id = job
        .payload
        .get("mail_id")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| Failure::permanent("no mail_id"))?;
    let mut conn = context.conn()?;
    let stored: Option<Stored> = mail_messages::table
        .find(mail_id)
        .select((
            mail_messages::to_address,
            mail_messages::subject,
            mail_messages::text_body,
            mail_messages::html_body,
            mail_messages::state,
        ))
        .first(&mut conn)
        .optional()?;
    let Some(stored) = stored else { return Ok(()) };
    if stored.state == "sent" {
        return Ok(());
    }
    let outcome =
        build(&context.config, &format!("outpost-mail-{mail_id}"), &stored).and_then(|message| send(smtp, &message));
    let (state, error) = match &outcome {
        Ok(()) => ("sent", None),
        Err(failure) if failure.permanent || job.is_last_attempt() => ("failed", Some(failure.message.clone())),
        Err(failure) => ("pending", Some(failure.message.clone())),
    };
    diesel::update(mail_messages::table.find(mail_id))
        .set((
            mail_messages::state.eq(state),
            mail_messages::attempts.eq(mail_messages::attempts + 1),
            mail_messages::last_error.eq(error),
            mail_messages::sent_at.eq((state == "sent").then(chrono::Utc::now)),
        ))
        .execute(&mut conn)?;
    outcome
}

fn build(config: &Config, id: &str, stored: &Stored) -> Result<Message, Failure> {
    let from: Mailbox =
        config.mail.from.parse().map_err(|e| Failure::permanent(format!("mail.from cannot be used: {e}")))?;
    let to: Mailbox = stored
        .to_address
        .parse()
        .map_err(|e| Failure::permanent(format!("\"{}\" is not a mail address: {e}", stored.to_address)))?;
    let domain = from.email.domain().to_owned();
    Message::builder()
        .from(from)
        .to(to)
        .subject(stored.subject.clone())
        // The same id on every attempt: a receiving server that saw it already drops it.
        .message_id(Some(format!("<{id}@{domain}>")))
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(stored.text_body.clone()))
                .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(stored.html_body.clone())),
        )
        .map_err(|e| Failure::permanent(format!("cannot build the mail: {e}")))
}

/// The SMTP transport for `smtp`: STARTTLS required (never a silent downgrade), implicit TLS,
/// or plain for a trusted local relay.
pub fn transport(smtp: &SmtpConfig, timeout: Duration) -> Result<SmtpTransport, Failure> {
    let mut builder = SmtpTransport::builder_dangerous(&smtp.host).port(smtp.port).timeout(Some(timeout));
    if smtp.security != SmtpSecurity::None {
        let mut parameters = TlsParameters::builder(smtp.host.clone());
        if let Some(path) = &smtp.ca_file {
            let pem =
                std::fs::read(path).map_err(|e| Failure::retry(format!("mail.ca_file {}: {e}", path.display())))?;
            let certificate = Certificate::from_pem(&pem).map_err(|e| {
                Failure::permanent(format!("mail.ca_file {} is not a PEM certificate: {e}", path.display()))
            })?;
            parameters = parameters.add_root_certificate(certificate);
        }
        let parameters = parameters.build_rustls().map_err(|e| Failure::permanent(format!("TLS settings: {e}")))?;
        builder = builder.tls(match smtp.security {
            SmtpSecurity::Tls => Tls::Wrapper(parameters),
            _ => Tls::Required(parameters),
        });
    }
    if let (Some(username), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(username.clone(), password.clone()));
    }
    Ok(builder.build())
}

fn send(smtp: &SmtpConfig, message: &Message) -> Result<(), Failure> {
    let transport = transport(smtp, Duration::from_secs(30))?;
    transport.send(message).map(|_| ()).map_err(|e| {
        let text = format!("SMTP {}:{}: {e}", smtp.host, smtp.port);
        if e.is_permanent() {
            Failure::permanent(text)
        } else {
            Failure::retry(text)
        }
    })
}

/// Whether the SMTP server answers within `timeout`, with TLS as configured, and takes the
/// credentials; nothing is sent.
pub fn check_connection(smtp: &SmtpConfig, timeout: Duration) -> Result<(), String> {
    let transport = transport(smtp, timeout).map_err(|failure| failure.message)?;
    match transport.test_connection() {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("{}:{} closed the connection", smtp.host, smtp.port)),
        Err(e) => Err(format!("SMTP {}:{}: {e}", smtp.host, smtp.port)),
    }
}

/// `outpost mail test ADDRESS`: sends one mail now, bypassing the queue, and says what
/// happened in a sentence an administrator can act on.
pub fn send_test(config: &Config, address: &str) -> Result<String, String> {
    let Some(smtp) = &config.mail.smtp else {
        return Err("mail is off: set mail.smtp_host (and the other mail.* settings) first".to_owned());
    };
    let stored = Stored {
        to_address: address.to_owned(),
        subject: "[Outpost] Test mail".to_owned(),
        text_body: format!("This is a test mail from Outpost at {}.\n\nMail works.\n", base_url(config)),
        html_body: format!(
            "<p>This is a test mail from Outpost at {}.</p><p>Mail works.</p>",
            escape_html(&base_url(config))
        ),
        state: "pending".to_owned(),
    };
    let message = build(config, &format!("outpost-test-{}", secrets::random_hex(8)), &stored).map_err(|f| f.message)?;
    send(smtp, &message).map_err(|f| f.message)?;
    Ok(format!("Sent a test mail to {address} through {}:{}.", smtp.host, smtp.port))
}
