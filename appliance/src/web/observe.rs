//! What every request leaves behind: a request id (taken from a sane `X-Request-Id`, else
//! made here) that the response, the log line and any error page or API error carry; one
//! structured log line (method, route, status, duration, user, database statements and their
//! time, also sent as `Server-Timing`); and its count and latency in this node's metrics.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{middleware, web, HttpMessage};
use tracing::Instrument;

use super::AppState;
use crate::db::{self, StatementTally};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, inside its handler.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Who made the request, once an extractor knows: for the log line.
#[derive(Clone, Copy)]
pub struct CallerId(pub i64);

const HEADER: &str = "x-request-id";

/// A proxy's request id is kept when it is short and plain, so one id follows a request
/// through every hop; anything else is replaced.
fn incoming_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(HEADER)?.to_str().ok()?;
    let sane = (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    sane.then(|| value.to_owned())
}

pub async fn observe(
    req: ServiceRequest,
    next: middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let id = incoming_id(&req).unwrap_or_else(|| hex::encode(rand::random::<[u8; 8]>()));
    let method = req.method().clone();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let api = req.path().starts_with("/api/");
    let span = tracing::info_span!("request", request_id = %id);
    let tally = Arc::new(StatementTally::default());
    let handled = db::tallied(tally.clone(), next.call(req).instrument(span));
    let mut response = REQUEST_ID.scope(id.clone(), handled).await?;
    let elapsed = started.elapsed();
    let (statements, in_database) = (tally.statements(), tally.duration());
    let route = response.request().match_pattern().unwrap_or_else(|| "(no route)".to_owned());
    let status = response.status().as_u16();
    let user = response.request().extensions().get::<CallerId>().map(|caller| caller.0);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HeaderName::from_static(HEADER), value);
    }
    // Browsers' developer tools show this beside each request: where its time went.
    let timing = format!(
        "db;dur={:.1};desc=\"{statements} statements\", total;dur={:.1}",
        in_database.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() * 1000.0
    );
    if let Ok(value) = HeaderValue::from_str(&timing) {
        response.headers_mut().insert(HeaderName::from_static("server-timing"), value);
    }
    if let Some(state) = state {
        state.metrics.record_request(method.as_str(), &route, status, elapsed);
        state.usage.record(chrono::Utc::now(), api, user);
    }
    tracing::info!(
        target: "outpost::http",
        request_id = %id,
        %method,
        path = %response.request().path(),
        %route,
        status,
        user_id = user,
        ms = elapsed.as_secs_f64() * 1000.0,
        statements,
        db_ms = in_database.as_secs_f64() * 1000.0,
    );
    Ok(response)
}
