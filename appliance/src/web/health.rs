//! Liveness and readiness for load balancers and systemd watchdogs.

use actix_web::{web, HttpResponse};
use diesel::RunQueryDsl;
use serde_json::json;

use super::AppState;
use crate::db;

/// The process is up and answering.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "live" }))
}

/// The process can serve: PostgreSQL answers a query.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let checked = db::run(&state.pool, |conn| {
        diesel::sql_query("SELECT 1").execute(conn)?;
        Ok(())
    })
    .await;
    match checked {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready", "checks": { "database": "ok" } })),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "checks": { "database": error.to_string() } }))
        }
    }
}
