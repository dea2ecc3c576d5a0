//! Which code runs a job of each kind. A kind nobody handles is dead-lettered at once, so a
//! job queued by a newer node during a rolling upgrade waits visibly instead of vanishing.

use super::cleanup;
use super::queue::{Failure, Job};
use super::worker::Context;
use crate::attachments;
use crate::automation::engine as automation;
use crate::errors::AppError;
use crate::integrations::{delivery, webhooks};
use crate::notify;

/// Brings directory people in step; with no directory configured there is nothing to do.
fn directory_sync(context: &Context) -> Result<(), Failure> {
    let Some(config) = &context.config.ldap else { return Ok(()) };
    let mut conn = context.conn()?;
    let synced = crate::identity::directory::sync(&mut conn, config).map_err(|e| match e {
        AppError::DirectoryUnavailable(cause) => Failure::retry(cause),
        other => Failure::retry(other.to_string()),
    })?;
    tracing::info!(people = synced.people, deactivated = synced.deactivated, "ldap sync: done");
    Ok(())
}

pub fn perform(context: &Context, job: &Job) -> Result<(), Failure> {
    match job.kind.as_str() {
        "notify" => notify::events::handle(context, job),
        "mail.send" => notify::mail::deliver(context, job),
        "digest" => notify::digest::run(context),
        "reminders" => notify::reminders::run(context, job),
        "cleanup" => cleanup::run(context),
        "ldap_sync" => directory_sync(context),
        "webhooks" => webhooks::fan_out(context, job),
        "webhook.deliver" => delivery::deliver(context, job),
        "automation" => automation::fire_due(context),
        "backup" => crate::backups::scheduled(context),
        "usage" => crate::operations::usage::daily(context),
        "automation.event" => automation::on_event(context, job),
        "automation.run" => automation::on_firing(context, job),
        attachments::DELETE_OBJECT => attachments::delete_object(context, job),
        attachments::thumbnails::JOB => attachments::thumbnails::make(context, job),
        other => Err(Failure::permanent(format!("no handler for jobs of kind \"{other}\" on this node"))),
    }
}
