//! The PostgreSQL pool, the migrations, and the one way request code reaches the database.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::pg::{Pg, PgConnection};
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::LoadQuery;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection, R2D2Connection};
use diesel::row::NamedRow;
use diesel::{sql_query, Connection, RunQueryDsl};
use diesel::{QueryResult, QueryableByName};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::DatabaseConfig;
use crate::errors::AppError;

pub type DbPool = Pool<ConnectionManager<PgConnection>>;
pub type DbConn = PooledConnection<ConnectionManager<PgConnection>>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// The versions of the migrations this Outpost carries, as the database records them.
pub fn known_migrations() -> Vec<String> {
    use diesel::migration::MigrationSource;
    MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map(|migrations| migrations.iter().map(|m| m.name().version().to_string()).collect())
        .unwrap_or_default()
}

/// Any number will do as long as every Outpost node uses the same one.
const MIGRATION_LOCK_KEY: i64 = 0x006f_7574_706f_7374;

/// Builds the pool requests use, without connecting; `wait_until_reachable` is the start-up
/// check. It is small on purpose (`database.pool_size`, twice the cores): each connection is
/// a PostgreSQL process, and on a busy machine many more of them than cores only take turns
/// on the CPU, while a write holds its connection through lock waits and the commit's flush.
/// Measured with `bench/run` on 2 cores and 1M issues at 8 connections: with 16 the OQL
/// list's p95 was 35–43 ms; with 3, 15.6–16.0 ms but creates fell to 246–267 req/s; with 4,
/// 18.0 ms and 348 creates/s; with 5, 22.2 ms and 302.
///
/// Its connections are not checked as r2d2 hands them out: `run` checks one only when it has
/// been idle a while (`checkout`). Everything else that takes this pool's connections runs
/// briefly at start-up or in a command, on connections it has just opened.
pub fn pool(config: &DatabaseConfig) -> DbPool {
    sized(config, config.pool_size, Checked::ByRun)
}

/// Connections the background work of a node holds at most at once: two per job worker (a
/// backup holds its lock on one while it works on another), two for the search indexer (a
/// file's text is read while a batch is applied), one each for the outbox dispatcher and
/// the scheduler. Connections open only when needed, so the headroom costs nothing idle.
fn background_pool_size(job_workers: usize) -> u32 {
    u32::try_from(job_workers).unwrap_or(u32::MAX).saturating_mul(2).saturating_add(4)
}

/// The background work's own pool, so that long jobs and a search rebuild never take the
/// connections requests wait for, and a burst of requests never stalls the jobs.
pub fn background_pool(config: &DatabaseConfig, job_workers: usize) -> DbPool {
    sized(config, background_pool_size(job_workers), Checked::AtEveryCheckout)
}

/// Who makes sure a pooled connection still works before it is used.
#[derive(PartialEq)]
enum Checked {
    /// r2d2, with a `SELECT 1` each time it hands one out: right for the background pool,
    /// whose few users call `get` in many places.
    AtEveryCheckout,
    /// `run`, and only for a connection idle longer than `USED_RECENTLY`.
    ByRun,
}

fn sized(config: &DatabaseConfig, size: u32, checked: Checked) -> DbPool {
    Pool::builder()
        .max_size(size)
        .test_on_check_out(checked == Checked::AtEveryCheckout)
        // r2d2's default of 30 s ties up threads while the database is down.
        .connection_timeout(Duration::from_secs(config.checkout_timeout_secs))
        .min_idle(Some(1))
        .connection_customizer(Box::new(CostOfReadingOutOfOrder))
        .build_unchecked(ConnectionManager::new(config.url.clone()))
}

/// Tells each new connection's planner that a page read out of order costs little more than
/// one read in order (`random_page_cost` 1.1 where PostgreSQL assumes 4, a spinning disk's
/// ratio): Outpost's working set sits in memory on SSD-backed machines, and at 4 the planner
/// walked the whole installation's `updated_at` index for a project's "updated in the last
/// 30 days, newest first" (188,000 rows of other projects passed over, 121 ms) instead of the
/// project's own index (1.5 ms), and sorted 13,000 rows for "ORDER BY key" instead of reading
/// the project's numbers in order (126 ms against 1.2). Set per connection, so it holds on a
/// PostgreSQL the installer did not set up, without touching the server's settings.
#[derive(Debug)]
struct CostOfReadingOutOfOrder;

impl diesel::r2d2::CustomizeConnection<PgConnection, diesel::r2d2::Error> for CostOfReadingOutOfOrder {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        sql_query("SET random_page_cost = 1.1").execute(conn).map(drop).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Retries for up to `patience` so that a database still starting does not fail start-up.
pub fn wait_until_reachable(pool: &DbPool, patience: Duration) -> Result<(), String> {
    let deadline = Instant::now() + patience;
    loop {
        match pool.get() {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(format!("cannot reach PostgreSQL: {e}")),
            Err(e) => {
                tracing::warn!(error = %e, "PostgreSQL not reachable yet; retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

/// Runs pending migrations under an advisory lock, so nodes starting together take turns.
/// Returns the names of the migrations that ran.
pub fn migrate(conn: &mut PgConnection) -> Result<Vec<String>, String> {
    sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
        .execute(conn)
        .map_err(|e| format!("cannot take the migration lock: {e}"))?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|done| done.iter().map(|m| m.to_string()).collect())
        .map_err(|e| format!("migration failed: {e}"));
    let unlocked = sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")).execute(conn);
    let done = result?;
    unlocked.map_err(|e| format!("cannot release the migration lock: {e}"))?;
    Ok(done)
}

/// A condition to AND into the WHERE of a statement whose commit need not wait for the disk:
/// run alone, its own transaction commits with `synchronous_commit` off; inside a caller's
/// transaction it is empty and the caller's commit waits as usual. Only for writes that a
/// crash may lose because they would be made again (a number no issue holds yet, a job's
/// claim or its end: the job runs once more, as after any crash mid-job). The log is flushed
/// in order, so the next commit that waits makes them durable too.
pub fn unflushed_when_alone(conn: &mut PgConnection) -> &'static str {
    use diesel::connection::{Connection, TransactionManager};
    let status = <PgConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn);
    match status.transaction_depth() {
        Ok(None) => " AND set_config('synchronous_commit', 'off', true) = 'off'",
        _ => "",
    }
}

/// Takes transaction-scoped advisory lock `key` if nobody holds it; it is released when the
/// transaction ends. Returns whether this transaction now holds it.
pub fn try_transaction_lock(conn: &mut PgConnection, key: i64) -> diesel::QueryResult<bool> {
    #[derive(diesel::QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
    }
    let lock: Locked = sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
        .bind::<diesel::sql_types::BigInt, _>(key)
        .get_result(conn)?;
    Ok(lock.locked)
}

/// A lock key for `name`, the same on every node and every version.
pub fn lock_key(name: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    i64::from_be_bytes([digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7]])
}

/// Ends a transaction early, so it rolls back: on purpose (an update that changed nothing,
/// a dry run, refusals that stop a batch), carrying why, or because something failed.
pub enum Abort<T = ()> {
    Deliberately(T),
    Failed(AppError),
}

impl<T> From<AppError> for Abort<T> {
    fn from(error: AppError) -> Self {
        Abort::Failed(error)
    }
}

impl<T> From<diesel::result::Error> for Abort<T> {
    fn from(error: diesel::result::Error) -> Self {
        Abort::Failed(error.into())
    }
}

/// What a request cost the database: how many statements it sent and how long they took,
/// summed over every `run` it made, whichever blocking thread ran them. The statement count
/// is what the N+1 test watches; both go into the `Server-Timing` header and the log line.
#[derive(Debug, Default)]
pub struct StatementTally {
    statements: AtomicU32,
    micros: AtomicU64,
}

impl StatementTally {
    pub fn statements(&self) -> u32 {
        self.statements.load(Ordering::Relaxed)
    }

    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.micros.load(Ordering::Relaxed))
    }
}

tokio::task_local! {
    static TALLY: Arc<StatementTally>;
}

/// Runs `request` with `tally` counting the statements of every `run` inside it.
pub async fn tallied<F: std::future::Future>(tally: Arc<StatementTally>, request: F) -> F::Output {
    TALLY.scope(tally, request).await
}

/// Diesel's hook on one connection, adding to the tally of the request that holds it.
struct Counting {
    tally: Arc<StatementTally>,
    started: Option<Instant>,
}

impl Instrumentation for Counting {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => {
                self.tally.statements.fetch_add(1, Ordering::Relaxed);
                self.started = Some(Instant::now());
            }
            InstrumentationEvent::FinishQuery { .. } => {
                if let Some(started) = self.started.take() {
                    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    self.tally.micros.fetch_add(micros, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
}

/// Runs `work` with a pooled connection on the blocking thread pool: diesel is synchronous
/// and must never block an actix worker. The wait for a connection is bounded by the pool's
/// checkout timeout.
pub async fn run<T, F>(pool: &DbPool, work: F) -> Result<T, AppError>
where
    F: FnOnce(&mut PgConnection) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    let tally = TALLY.try_with(Arc::clone).ok();
    crate::web::blocking(move || {
        let asked = Instant::now();
        let mut conn = checkout(&pool)?;
        crate::operations::metrics::record_pool_wait(asked.elapsed());
        // Always set, so a pooled connection never counts for the request that held it before.
        match tally {
            Some(tally) => conn.set_instrumentation(Counting { tally, started: None }),
            None => conn.set_instrumentation(None::<Counting>),
        }
        let done = work(&mut conn);
        // A connection whose work failed may have died under it, and diesel marks a dead one
        // broken when running a statement fails, not when preparing one to keep does: CI saw
        // such a connection fail every request for as long as they came within the window.
        // It is checked before its next use instead.
        let extensions = PooledConnection::extensions_mut(&mut conn);
        match done {
            Ok(_) => extensions.insert(GivenBack(Instant::now())),
            Err(_) => extensions.remove::<GivenBack>(),
        };
        done
    })
    .await
}

/// How long after a request gave its connection back the next one may use it without a
/// `SELECT 1` first. Under load a connection goes out again within microseconds, and r2d2's
/// check at every checkout was 2 of the issue page's 12 round trips to PostgreSQL and 3 of a
/// search's 9, while PostgreSQL used 57% of the CPU serving the issue view. A connection that
/// died within the window fails the one request that uses it; it is then checked before its
/// next use (`run`), found broken and closed. HikariCP makes the same trade with 500 ms.
const USED_RECENTLY: Duration = Duration::from_millis(500);

/// When a request last gave the connection back, kept with the connection in the pool.
struct GivenBack(Instant);

/// A connection from the request pool that works: one given back within `USED_RECENTLY` as
/// it is, any other after a `SELECT 1`. One whose check fails is marked broken by diesel, so
/// dropping it makes the pool close it, and the next is tried.
fn checkout(pool: &DbPool) -> Result<DbConn, AppError> {
    // Every connection the pool holds may have died with the server; the last try is a new one.
    let mut tries_left = pool.max_size() + 1;
    loop {
        let mut conn = pool.get()?;
        let given_back = PooledConnection::extensions(&conn).get::<GivenBack>();
        if given_back.is_some_and(|given_back| given_back.0.elapsed() < USED_RECENTLY) {
            return Ok(conn);
        }
        tries_left -= 1;
        match conn.ping() {
            Ok(()) => return Ok(conn),
            Err(e) if tries_left == 0 => return Err(AppError::Unavailable(format!("database: {e}"))),
            Err(_) => continue,
        }
    }
}

/// A statement whose text is the same on every call, kept prepared on each connection so
/// that PostgreSQL plans it once rather than on every request. Raw SQL and `dsl::sql`
/// pieces are otherwise parsed and planned each time: 0.2 to 0.7 ms apiece for the joins of
/// the issue page and the session lookup, more than running them. Only for fixed text:
/// every distinct text stays prepared for the connection's life.
///
/// Read it with `load`, `get_result` or, for a write, `rows_returned`; never `execute`: diesel
/// 2.3 runs an `execute` through a reference to the statement, and the reference's
/// `QueryFragment` asks the raw SQL inside rather than this wrapper whether it may be kept, so
/// the statement was parsed and planned on every call (the audit row of every change was).
#[derive(Debug, Clone, Copy)]
pub struct Prepared<Q>(pub Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    // No type to key on: diesel keys the prepared statement by its text and bind types.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, C> RunQueryDsl<C> for Prepared<Q> {}

impl<Q> Prepared<Q> {
    /// Runs a write that says what it wrote with `RETURNING` (without it, 0), and returns how
    /// many rows it returned: what `execute` would count, with the statement kept prepared.
    pub fn rows_returned<'query>(self, conn: &mut PgConnection) -> QueryResult<usize>
    where
        Self: LoadQuery<'query, PgConnection, Unread>,
    {
        self.load::<Unread>(conn).map(|rows| rows.len())
    }
}

/// A row `Prepared::rows_returned` counts without reading its columns.
pub struct Unread;

impl QueryableByName<Pg> for Unread {
    fn build<'a>(_row: &impl NamedRow<'a, Pg>) -> diesel::deserialize::Result<Unread> {
        Ok(Unread)
    }
}

/// The oldest PostgreSQL Outpost runs on (`server_version_num`).
pub const MIN_SERVER_VERSION: u32 = 150000;

/// Connects to `url` and checks what Outpost needs of a server it did not set up: PostgreSQL
/// 15 or newer, and a role that may create tables. What it found, or one sentence naming the
/// problem and its fix.
pub fn check_server(url: &str) -> Result<String, String> {
    use diesel::sql_types::{Bool, Text};
    use diesel::Connection;
    let mut conn =
        PgConnection::establish(url).map_err(|e| format!("database.url: cannot connect: {}", e.to_string().trim()))?;
    let setting = |conn: &mut PgConnection, name: &str| -> Result<String, String> {
        diesel::select(diesel::dsl::sql::<Text>(&format!("current_setting('{name}')")))
            .get_result(conn)
            .map_err(|e| format!("database.url: cannot read the server's version: {e}."))
    };
    let number = setting(&mut conn, "server_version_num")?;
    let version = setting(&mut conn, "server_version")?;
    if number.parse::<u32>().unwrap_or(0) < MIN_SERVER_VERSION {
        return Err(format!(
            "database.url: the server is PostgreSQL {version}; Outpost needs PostgreSQL 15 or newer: upgrade it, or use a local one."
        ));
    }
    let may_create: bool = diesel::select(diesel::dsl::sql::<Bool>(
        "has_database_privilege(current_database(), 'CREATE') AND has_schema_privilege('public', 'CREATE')",
    ))
    .get_result(&mut conn)
    .map_err(|e| format!("database.url: cannot read the role's privileges: {e}."))?;
    if !may_create {
        return Err(
            "database.url: the role may not create tables in this database; make it the database's owner (ALTER DATABASE … OWNER TO …) or grant it CREATE on the database and on schema public."
                .to_owned(),
        );
    }
    Ok(format!("PostgreSQL {version}; the role may create tables"))
}
