//! The `webhook.deliver` job: one signed POST to one hook, its outcome kept in the delivery
//! log.
//!
//! Signature: `X-Outpost-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
//! under the hook's secret. Receivers recompute it and refuse a `t` outside their replay
//! window (five minutes is usual), so a captured request cannot be replayed later.
//!
//! Where it may connect is decided on the resolved addresses, by `webhooks.allowed_networks`
//! and `webhooks.denied_networks`; redirects are never followed (a 3xx is a failed delivery),
//! so a target cannot bounce the request somewhere it may not go.

use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;

use super::networks::TargetPolicy;
use super::webhooks::{Delivery, Webhook};
use crate::config::WebhookConfig;
use crate::identity::secrets;
use crate::jobs::queue::{Failure, Job};
use crate::jobs::worker::Context;
use crate::schema::{webhook_deliveries, webhooks};

/// How much of a response body the log keeps.
const EXCERPT_BYTES: usize = 1024;

/// The signature header's value for `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!("t={timestamp},v1={}", secrets::sign(secret.as_bytes(), &signed))
}

/// Resolves `netloc` and keeps only the addresses the policy allows; none left is a refusal
/// that names the first address and why.
fn resolve(policy: &TargetPolicy, netloc: &str) -> std::io::Result<Vec<SocketAddr>> {
    let resolved: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
    let allowed: Vec<SocketAddr> = resolved.iter().copied().filter(|a| policy.refusal(a.ip()).is_none()).collect();
    if allowed.is_empty() {
        let why =
            resolved.first().and_then(|a| policy.refusal(a.ip())).unwrap_or_else(|| format!("{netloc} has no address"));
        return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, format!("refused to connect: {why}")));
    }
    Ok(allowed)
}

pub fn deliver(context: &Context, job: &Job) -> Result<(), Failure> {
    let delivery_id = job
        .payload
        .get("delivery_id")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| Failure::permanent("no delivery_id"))?;
    let mut conn = context.conn()?;
    let found: Option<(Delivery, Webhook)> = webhook_deliveries::table
        .inner_join(webhooks::table)
        .filter(webhook_deliveries::id.eq(delivery_id))
        .select((Delivery::as_select(), Webhook::as_select()))
        .first(&mut conn)
        .optional()?;
    // The hook was deleted (its log with it), or this delivery already went out.
    let Some((delivery, hook)) = found else { return Ok(()) };
    if delivery.state == "delivered" || !hook.active {
        return Ok(());
    }
    let body = serde_json::to_vec(&delivery.payload).map_err(|e| Failure::permanent(e.to_string()))?;
    let secret = super::webhooks::signing_secret(&mut conn, &context.keys, &hook)?;
    let outcome = post(&context.config.webhooks, &hook, &secret, &delivery, &body);
    let (status, excerpt, result) = match outcome {
        Ok((status, excerpt)) if (200..300).contains(&status) => (Some(status), Some(excerpt), Ok(())),
        Ok((status, excerpt)) if (300..400).contains(&status) => {
            (Some(status), Some(excerpt), Err(Failure::retry(format!("HTTP {status}: redirects are not followed"))))
        }
        Ok((status, excerpt)) => (Some(status), Some(excerpt), Err(Failure::retry(format!("HTTP {status}")))),
        Err(failure) => (None, None, Err(failure)),
    };
    let state = match &result {
        Ok(()) => "delivered",
        Err(failure) if failure.permanent || job.is_last_attempt() => "failed",
        Err(_) => "pending",
    };
    diesel::update(webhook_deliveries::table.find(delivery_id))
        .set((
            webhook_deliveries::state.eq(state),
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::response_status.eq(status.map(i32::from)),
            webhook_deliveries::response_excerpt.eq(excerpt),
            webhook_deliveries::last_error.eq(result.as_ref().err().map(|f| f.message.clone())),
            webhook_deliveries::delivered_at.eq((state == "delivered").then(Utc::now)),
        ))
        .execute(&mut conn)?;
    result
}

/// POSTs `body`; returns the status and the start of the response body.
fn post(
    settings: &WebhookConfig,
    hook: &Webhook,
    secret: &str,
    delivery: &Delivery,
    body: &[u8],
) -> Result<(u16, String), Failure> {
    let policy: TargetPolicy = settings.targets.clone();
    let timeout_seconds = settings.timeout_seconds;
    let mut builder = ureq::AgentBuilder::new()
        .resolver(move |netloc: &str| resolve(&policy, netloc))
        .redirects(0)
        .timeout_connect(Duration::from_secs(timeout_seconds.min(5)))
        .timeout(Duration::from_secs(timeout_seconds))
        .user_agent("Outpost-Webhooks/1");
    if let Some(ca_file) = &settings.ca_file {
        let tls = crate::tls::client_config(Some(ca_file))
            .map_err(|why| Failure::permanent(format!("webhooks.ca_file {why}")))?;
        builder = builder.tls_config(tls);
    }
    let agent = builder.build();
    let timestamp = Utc::now().timestamp();
    let response = agent
        .post(&hook.url)
        .set("Content-Type", "application/json")
        .set("X-Outpost-Event", &delivery.topic)
        .set("X-Outpost-Delivery", &delivery.id.to_string())
        .set("X-Outpost-Signature", &signature(secret, timestamp, body))
        .send_bytes(body);
    let response = match response {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(ureq::Error::Transport(transport)) => {
            let text = transport.to_string();
            // A refused target stays refused until an administrator changes the policy.
            let permanent = text.contains("refused to connect:");
            return Err(Failure { message: format!("{}: {text}", hook.url), permanent });
        }
    };
    let status = response.status();
    let mut excerpt = Vec::new();
    let _ = response.into_reader().take(EXCERPT_BYTES as u64).read_to_end(&mut excerpt);
    Ok((status, String::from_utf8_lossy(&excerpt).into_owned()))
}
