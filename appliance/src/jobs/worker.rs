//! The background runtime of one node: `jobs.workers` worker threads claiming jobs, the outbox
//! dispatcher, the scheduler and the audit log's sealer. Workers are plain threads because
//! every handler is synchronous (diesel, SMTP, outgoing HTTP) and must never block the HTTP
//! workers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::queue::{self, Failure, Job};
use super::{handlers, outbox, schedule};
use crate::config::Config;
use crate::db::DbPool;

/// What a job handler may use.
#[derive(Clone)]
pub struct Context {
    pub pool: DbPool,
    pub config: Arc<Config>,
    /// The customer-managed keys, for jobs that open what is sealed (webhook secrets).
    pub keys: Arc<crate::keys::Keyring>,
}

impl Context {
    pub fn conn(&self) -> Result<crate::db::DbConn, Failure> {
        self.pool.get().map_err(|e| Failure::retry(format!("no database connection: {e}")))
    }
}

/// A shared "please stop" flag.
#[derive(Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Runs `step` until a stop is requested: again at once while it says more is waiting,
    /// after `idle` when it found nothing, and two seconds after a failure, which `failed`
    /// reports.
    pub fn repeat(&self, idle: Duration, mut step: impl FnMut() -> Result<bool, String>, failed: impl Fn(&str)) {
        while !self.requested() {
            match step() {
                Ok(true) => {}
                Ok(false) => self.sleep(idle),
                Err(e) => {
                    failed(&e);
                    self.sleep(Duration::from_secs(2));
                }
            }
        }
    }

    /// Sleeps for `duration`, waking early when a stop is requested.
    pub fn sleep(&self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while !self.requested() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50).min(deadline - Instant::now()));
        }
    }
}

/// How long an idle worker or dispatcher waits before looking again.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// The running background threads of this node.
pub struct Runtime {
    stop: Stop,
    threads: Vec<JoinHandle<()>>,
}

impl Runtime {
    pub fn start(context: Context) -> std::io::Result<Runtime> {
        let stop = Stop::default();
        let mut threads = Vec::new();
        let host = hostname();
        for n in 0..context.config.jobs.workers {
            let (context, stop) = (context.clone(), stop.clone());
            let name = format!("{host}:{}:worker-{n}", std::process::id());
            threads.push(std::thread::Builder::new().name(format!("outpost-worker-{n}")).spawn(move || {
                work_until_stopped(&context, &name, &stop);
            })?);
        }
        {
            let (context, stop) = (context.clone(), stop.clone());
            threads.push(std::thread::Builder::new().name("outpost-dispatcher".to_owned()).spawn(move || {
                dispatch_until_stopped(&context, &stop);
            })?);
        }
        threads.push(schedule::spawn(context.clone(), stop.clone())?);
        threads.push(crate::audit::sealer::spawn(context.pool.clone(), stop.clone())?);
        tracing::info!(workers = context.config.jobs.workers, "background jobs are running");
        Ok(Runtime { stop, threads })
    }

    /// Asks every thread to stop and waits for them; a job in progress finishes first.
    pub fn stop(self) {
        self.stop.request();
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// From the system call, not /proc/sys: the unit's ProcSubset=pid hides /proc/sys.
fn hostname() -> String {
    nix::unistd::gethostname().map(|h| h.to_string_lossy().trim().to_owned()).unwrap_or_else(|_| "node".into())
}

fn work_until_stopped(context: &Context, worker: &str, stop: &Stop) {
    let lease = Duration::from_secs(context.config.jobs.lease_seconds);
    stop.repeat(
        IDLE_POLL,
        || run_one(context, worker, lease),
        |e| tracing::warn!(worker, error = %e, "the job queue is unreachable; trying again shortly"),
    );
}

fn dispatch_until_stopped(context: &Context, stop: &Stop) {
    stop.repeat(
        IDLE_POLL,
        || dispatch_batch(context).map(|dispatched| dispatched > 0),
        |e| tracing::warn!(error = %e, "cannot dispatch outbox events; trying again shortly"),
    );
}

/// Returns jobs of dead workers to the queue, then turns one batch of outbox events into jobs.
/// Returns how many events it dispatched.
fn dispatch_batch(context: &Context) -> Result<usize, String> {
    let mut conn = context.pool.get().map_err(|e| e.to_string())?;
    queue::release_expired(&mut conn).map_err(|e| e.to_string())?;
    outbox::dispatch(&mut conn, outbox::BATCH).map_err(|e| e.to_string())
}

/// Claims and runs one job. Returns whether there was one.
pub fn run_one(context: &Context, worker: &str, lease: Duration) -> Result<bool, String> {
    let claimed = {
        let mut conn = context.pool.get().map_err(|e| e.to_string())?;
        queue::claim(&mut conn, worker, lease).map_err(|e| e.to_string())?
    };
    let Some(job) = claimed else { return Ok(false) };
    let started = Instant::now();
    // A handler that panics fails its attempt instead of taking the worker thread with it.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handlers::perform(context, &job)))
        .unwrap_or_else(|_| Err(Failure::retry(format!("the {} handler panicked; see the log", job.kind))));
    let mut conn = context.pool.get().map_err(|e| e.to_string())?;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(()) => {
            if !queue::succeed(&mut conn, job.id, worker).map_err(|e| e.to_string())? {
                tracing::warn!(job = job.id, kind = %job.kind, "finished a job whose lease had run out");
            }
            tracing::debug!(job = job.id, kind = %job.kind, elapsed_ms, "job done");
        }
        Err(failure) => record_failure(&mut conn, &job, worker, &failure, elapsed_ms)?,
    }
    Ok(true)
}

fn record_failure(
    conn: &mut diesel::PgConnection,
    job: &Job,
    worker: &str,
    failure: &Failure,
    elapsed_ms: u64,
) -> Result<(), String> {
    let state = queue::fail(conn, job, worker, failure).map_err(|e| e.to_string())?;
    let (id, kind, attempt, error) = (job.id, job.kind.as_str(), job.attempts, failure.message.as_str());
    match state.as_deref() {
        Some("dead") => tracing::error!(job = id, kind, attempt, elapsed_ms, error, "job failed for good"),
        Some(_) => tracing::warn!(job = id, kind, attempt, elapsed_ms, error, "job failed; it will be retried"),
        None => tracing::warn!(job = id, kind, error, "a job failed after its lease ran out"),
    }
    Ok(())
}

/// Dispatches the outbox and runs every job that is ready, until nothing is left, then seals
/// the audit rows all that wrote: what the background threads do, in the caller's thread.
/// Used by tests and `outpost jobs run`. Returns how many jobs ran.
pub fn drain(context: &Context) -> Result<usize, String> {
    let mut ran = 0;
    loop {
        while dispatch_batch(context)? > 0 {}
        let lease = Duration::from_secs(context.config.jobs.lease_seconds);
        if !run_one(context, "drain", lease)? {
            let mut conn = context.pool.get().map_err(|e| e.to_string())?;
            crate::audit::sealer::seal_all(&mut conn).map_err(|e| e.to_string())?;
            return Ok(ran);
        }
        ran += 1;
    }
}
