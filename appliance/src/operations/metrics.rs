//! `/metrics` in Prometheus's text format: this node's HTTP requests by route template and
//! status with latency histograms, its database pool, and the installation's job queue, search
//! index lag, delivery failures, license, backups and certificate. Served to loopback, or to a
//! client that sends `metrics.token` as a bearer token.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use subtle::ConstantTimeEq;

use crate::web::AppState;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Clone, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    const fn new() -> Histogram {
        Histogram { counts: [0; BUCKETS.len()], count: 0, sum: 0.0 }
    }

    fn observe(&mut self, seconds: f64) {
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.counts[bucket] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }

    /// The `_bucket`, `_sum` and `_count` lines, with `labels` (already written, maybe empty).
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let separator = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(self.counts) {
            cumulative += count;
            let _ = writeln!(out, "{name}_bucket{{{labels}{separator}le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// This node's request counts and latencies since it started.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
}

impl Metrics {
    /// Counts one request by method, route template (never the raw path: ids would make a
    /// series per issue) and status.
    pub fn record_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        drop(requests);
        let mut latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        latency.entry((method.to_owned(), route.to_owned())).or_default().observe(elapsed.as_secs_f64());
    }
}

/// How long requests waited for a database connection, process-wide (`db::run` records it).
static POOL_WAIT: Mutex<Histogram> = Mutex::new(Histogram::new());

pub fn record_pool_wait(waited: Duration) {
    POOL_WAIT.lock().unwrap_or_else(|e| e.into_inner()).observe(waited.as_secs_f64());
}

/// A label value, escaped as the format wants.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

/// `GET /metrics`.
pub async fn scrape(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(refusal) = allowed(&req, &state) {
        return HttpResponse::Forbidden().content_type("text/plain; charset=utf-8").body(refusal);
    }
    let stored = {
        let search = state.search.clone();
        crate::db::run(&state.pool, move |conn| Ok(from_database(conn, &search)?)).await
    };
    let mut out = String::new();
    node(&mut out, &state);
    match stored {
        Ok(stored) => out.push_str(&stored),
        Err(error) => gauge(&mut out, "outpost_database_up", "Whether the database answered this scrape.", {
            tracing::warn!(error = %error.for_operator(), "metrics: the database did not answer");
            0
        }),
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(out)
}

/// Loopback may read; elsewhere a bearer token equal to `metrics.token` is needed.
fn allowed(req: &HttpRequest, state: &AppState) -> Result<(), &'static str> {
    let presented = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if let (Some(expected), Some(presented)) = (&state.config.metrics_token, presented) {
        if bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
            return Ok(());
        }
        return Err("The metrics token is wrong.");
    }
    let loopback = crate::web::extract::client_ip(req)
        .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err("Metrics are served to loopback, or to a client sending metrics.token as `Authorization: Bearer`.")
    }
}

/// What this node knows without the database.
fn node(out: &mut String, state: &AppState) {
    header(out, "outpost_build_info", "gauge", "The running version.");
    let _ = writeln!(out, "outpost_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    gauge(out, "outpost_start_time_seconds", "When this node started, in Unix seconds.", state.started_at.timestamp());

    header(out, "outpost_http_requests_total", "counter", "HTTP requests by method, route template and status.");
    for ((method, route, status), count) in state.metrics.requests.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let _ = writeln!(
            out,
            "outpost_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
            label(route)
        );
    }
    header(out, "outpost_http_request_duration_seconds", "histogram", "HTTP request latency by route template.");
    for ((method, route), histogram) in state.metrics.latency.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let labels = format!("method=\"{method}\",route=\"{}\"", label(route));
        histogram.write(out, "outpost_http_request_duration_seconds", &labels);
    }

    let pool = state.pool.state();
    header(out, "outpost_db_pool_connections", "gauge", "This node's database connections by state.");
    let _ = writeln!(out, "outpost_db_pool_connections{{state=\"idle\"}} {}", pool.idle_connections);
    let _ =
        writeln!(out, "outpost_db_pool_connections{{state=\"in_use\"}} {}", pool.connections - pool.idle_connections);
    gauge(out, "outpost_db_pool_max", "The most connections this node's pool opens.", state.config.database.pool_size);
    header(out, "outpost_db_pool_wait_seconds", "histogram", "How long work waited for a database connection.");
    POOL_WAIT.lock().unwrap_or_else(|e| e.into_inner()).write(out, "outpost_db_pool_wait_seconds", "");

    if let Some(facts) = state.certificate.as_ref().and_then(|served| served.facts().ok()) {
        gauge(
            out,
            "outpost_tls_certificate_expiry_timestamp_seconds",
            "When the served certificate expires, in Unix seconds.",
            facts.not_after.timestamp(),
        );
    }
    if let Some(live) = state.search.live() {
        gauge(out, "outpost_search_index_documents", "Documents in this node's search index.", live.documents());
    }
}

#[derive(QueryableByName)]
struct JobKind {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    ready: i64,
    #[diesel(sql_type = BigInt)]
    retrying: i64,
    #[diesel(sql_type = BigInt)]
    dead: i64,
    #[diesel(sql_type = Nullable<Double>)]
    oldest: Option<f64>,
}

#[derive(QueryableByName)]
struct Tally {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// What the database knows, for every node alike.
fn from_database(conn: &mut PgConnection, search: &crate::search::SearchIndex) -> QueryResult<String> {
    let mut out = String::new();
    gauge(&mut out, "outpost_database_up", "Whether the database answered this scrape.", 1);

    let kinds: Vec<JobKind> = diesel::sql_query(
        "SELECT kind, count(*) FILTER (WHERE state = 'queued' AND run_at <= now()) AS ready, \
                count(*) FILTER (WHERE state = 'queued' AND last_error IS NOT NULL) AS retrying, \
                count(*) FILTER (WHERE state = 'dead') AS dead, \
                extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'queued' AND run_at <= now()))::float8 \
                  AS oldest \
         FROM jobs GROUP BY kind ORDER BY kind",
    )
    .load(conn)?;
    let series = [
        ("outpost_jobs_ready", "Jobs ready to run, by kind."),
        ("outpost_jobs_retrying", "Jobs waiting to retry after an error, by kind."),
        ("outpost_jobs_dead", "Jobs that failed for good and were not discarded, by kind."),
        ("outpost_jobs_oldest_ready_age_seconds", "How long the oldest ready job has waited, by kind."),
    ];
    for (index, (name, help)) in series.iter().enumerate() {
        header(&mut out, name, "gauge", help);
        for kind in &kinds {
            let value = match index {
                0 => kind.ready as f64,
                1 => kind.retrying as f64,
                2 => kind.dead as f64,
                _ => kind.oldest.unwrap_or(0.0),
            };
            let _ = writeln!(out, "{name}{{kind=\"{}\"}} {value}", label(&kind.kind));
        }
    }

    for (name, help, table) in [
        ("outpost_mail_messages", "Mail by state (failed: given up on).", "mail_messages"),
        ("outpost_webhook_deliveries", "Webhook deliveries by state (failed: given up on).", "webhook_deliveries"),
    ] {
        header(&mut out, name, "gauge", help);
        let tallies: Vec<Tally> =
            diesel::sql_query(format!("SELECT state, count(*) AS n FROM {table} GROUP BY state ORDER BY state"))
                .load(conn)?;
        for tally in tallies {
            let _ = writeln!(out, "{name}{{state=\"{}\"}} {}", label(&tally.state), tally.n);
        }
    }

    let newest: Option<i64> =
        crate::schema::outbox::table.select(diesel::dsl::max(crate::schema::outbox::id)).first(conn)?;
    if let Some(stamp) = search.indexed() {
        gauge(
            &mut out,
            "outpost_search_index_lag_events",
            "Changes not yet in this node's search index.",
            (newest.unwrap_or(0) - stamp.position).max(0),
        );
    }

    let status = crate::license::current(conn)?;
    gauge(&mut out, "outpost_license_seats", "Seats the license allows.", status.seat_limit());
    gauge(
        &mut out,
        "outpost_license_seats_used",
        "Active people (service accounts do not count).",
        crate::license::seats_used(conn)?,
    );
    if let Some(license) = &status.license {
        let left = (license.payload.expires_at - Utc::now()).num_seconds() as f64 / 86_400.0;
        gauge(
            &mut out,
            "outpost_license_days_left",
            "Days until the license expires (negative after).",
            format!("{left:.2}"),
        );
    }

    use crate::schema::backups::dsl as b;
    type Newest = (chrono::DateTime<Utc>, i64, Option<chrono::DateTime<Utc>>, Option<String>);
    let newest_backup: Option<Newest> = b::backups
        .order(b::finished_at.desc())
        .select((b::finished_at, b::size_bytes, b::verified_at, b::verify_problem))
        .first(conn)
        .optional()?;
    if let Some((finished, size, verified, problem)) = newest_backup {
        gauge(
            &mut out,
            "outpost_backup_last_timestamp_seconds",
            "When the newest backup finished.",
            finished.timestamp(),
        );
        gauge(
            &mut out,
            "outpost_backup_age_seconds",
            "How old the newest backup is.",
            (Utc::now() - finished).num_seconds(),
        );
        gauge(&mut out, "outpost_backup_last_size_bytes", "The newest backup's size.", size);
        gauge(
            &mut out,
            "outpost_backup_last_verified",
            "1 when the newest backup verified, 0 when it failed or was not verified.",
            u8::from(verified.is_some() && problem.is_none()),
        );
    }
    Ok(out)
}
