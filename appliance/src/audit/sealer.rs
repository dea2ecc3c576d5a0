//! Sealing committed audit rows into the hash chain (migration `000029`): each node runs a
//! sealer thread that calls `audit_log_seal_pending` a few times a second. PostgreSQL does the
//! sealing, one sealer at a time across nodes; writers never wait for it.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Integer;

use crate::db::DbPool;
use crate::jobs::worker::Stop;

/// Rows sealed per transaction: a burst of writes is sealed in a few short transactions
/// rather than one long one that other nodes' sealers would queue behind.
pub const BATCH: i32 = 1000;

/// How long an idle sealer waits before looking again: how long a row may stay unsealed.
const IDLE_POLL: Duration = Duration::from_millis(100);

#[derive(QueryableByName)]
struct Sealed {
    #[diesel(sql_type = Integer)]
    sealed: i32,
}

/// Seals up to `max_rows` committed rows, oldest first, and returns how many it sealed.
/// Inside a caller's transaction, rows written earlier in it are sealed too.
pub fn seal_pending(conn: &mut PgConnection, max_rows: i32) -> QueryResult<usize> {
    let done: Sealed = crate::db::Prepared(
        diesel::sql_query("SELECT audit_log_seal_pending($1) AS sealed").bind::<Integer, _>(max_rows),
    )
    .get_result(conn)?;
    Ok(done.sealed as usize)
}

/// Seals everything that is waiting, batch by batch. Returns how many rows it sealed.
pub fn seal_all(conn: &mut PgConnection) -> QueryResult<usize> {
    let mut total = 0;
    loop {
        let sealed = seal_pending(conn, BATCH)?;
        total += sealed;
        if sealed < BATCH as usize {
            return Ok(total);
        }
    }
}

/// Runs this node's sealer on its own thread until `stop`.
pub fn spawn(pool: DbPool, stop: Stop) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("outpost-sealer".to_owned()).spawn(move || {
        stop.repeat(
            IDLE_POLL,
            || {
                let mut conn = pool.get().map_err(|e| e.to_string())?;
                let sealed = seal_pending(&mut conn, BATCH).map_err(|e| e.to_string())?;
                Ok(sealed == BATCH as usize)
            },
            |e| tracing::warn!(error = %e, "cannot seal the audit log; trying again shortly"),
        );
    })
}
