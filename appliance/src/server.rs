//! Running the HTTP server until SIGINT/SIGTERM, then draining in-flight requests.

use std::sync::Arc;

use actix_web::HttpServer;

use crate::config::Config;
use crate::db::DbPool;
use crate::web::{self, AppState};

pub async fn serve(config: Config, pool: DbPool) -> Result<(), String> {
    let bind = config.server.bind;
    let workers = config.server.workers;
    let state = AppState {
        pool,
        config: Arc::new(config),
    };
    let server = HttpServer::new(move || web::app(state.clone()))
        .workers(workers)
        .shutdown_timeout(10)
        .bind(bind)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                format!("{bind} is already in use; stop what uses it or choose another port.")
            }
            _ => format!("cannot listen on {bind}: {e}"),
        })?;
    tracing::info!(%bind, workers, "Outpost is listening");
    server
        .run()
        .await
        .map_err(|e| format!("the HTTP server stopped: {e}"))
}
