//! What one node changes, the others hear of: PostgreSQL triggers `NOTIFY outpost_changes`
//! with what changed (migration 000024) when a transaction commits, whoever made it (any node,
//! or an administrator in psql), and each serving node's listener thread drops what it
//! remembered of it. A node remembers nothing while its listener is not connected, so it never
//! serves what it may have missed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::jobs::worker::Stop;

pub const CHANNEL: &str = "outpost_changes";

static LISTENING: AtomicBool = AtomicBool::new(false);
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// How often the listener looks for notifications (a local read, no round trip) and proves
/// its connection with a query.
const POLL: Duration = Duration::from_millis(50);
const PROVE: Duration = Duration::from_secs(10);

/// Whether this node hears of changes now: only then may it remember what it read.
pub fn listening() -> bool {
    LISTENING.load(Ordering::Acquire)
}

/// A counter that moves with every change heard (and every reconnection). Read it before
/// reading from the database and remember what was read only if it has not moved since:
/// otherwise a change may have landed in between.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Forgets everything remembered about `what` (or everything, for `None`).
fn forget(what: Option<&str>) {
    GENERATION.fetch_add(1, Ordering::AcqRel);
    match what {
        Some("license") | None => crate::license::forget(),
        Some(other) => tracing::debug!(change = other, "heard of a change nothing here remembers"),
    }
}

/// What this node changed itself, forgotten at once (after its commit), without waiting for
/// the notification.
pub fn changed_here(what: &str) {
    forget(Some(what));
}

/// Listens on its own connection (not the pool's) until `stop`, reconnecting after failures.
pub fn spawn_listener(database_url: String, stop: Stop) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("outpost-changes".into()).spawn(move || {
        while !stop.requested() {
            match listen(&database_url, &stop) {
                Ok(()) => {}
                Err(error) => tracing::warn!(%error, "the change listener lost its connection; reconnecting"),
            }
            LISTENING.store(false, Ordering::Release);
            forget(None);
            stop.sleep(Duration::from_secs(1));
        }
    })
}

fn listen(database_url: &str, stop: &Stop) -> Result<(), String> {
    let mut conn = PgConnection::establish(database_url).map_err(|e| e.to_string())?;
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn).map_err(|e| e.to_string())?;
    // Whatever was remembered before this connection listened may be stale.
    forget(None);
    LISTENING.store(true, Ordering::Release);
    tracing::info!("listening for changes made by other nodes");
    let mut proven = Instant::now();
    while !stop.requested() {
        for notification in conn.notifications_iter() {
            let notification = notification.map_err(|e| e.to_string())?;
            forget(Some(&notification.payload));
        }
        if proven.elapsed() >= PROVE {
            diesel::sql_query("SELECT 1").execute(&mut conn).map_err(|e| e.to_string())?;
            proven = Instant::now();
        }
        stop.sleep(POLL);
    }
    Ok(())
}
