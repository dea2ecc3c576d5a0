//! Full-text search over issues, comments, pages and files: an embedded Tantivy index per
//! node, under `search.index_dir`, fed from the outbox by this node's indexer thread and
//! rebuilt from PostgreSQL whenever it is missing, damaged, of an older schema, or asked for.
//!
//! On disk: `current` names the live index folder; a rebuild writes a new folder beside it and
//! switches `current` when it is complete, so searches use the old index until then and a
//! rebuild cut short leaves only a folder that the next start removes.

pub mod bench;
pub mod documents;
pub mod engine;
pub mod found;
pub mod handlers;
pub mod indexer;
pub mod names;
pub mod plan;
pub mod query;
pub mod ranking;
pub mod schema;
pub mod segments;
pub mod spelling;
pub mod tally;

#[cfg(test)]
mod effort_tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use tantivy::{Index, IndexReader, ReloadPolicy};

use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::schema::search_rebuilds;
use schema::Fields;

/// An open index that searches read from.
pub struct Live {
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Fields,
    pub folder: PathBuf,
    pub segments: segments::SegmentCache,
}

impl Live {
    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

/// What the indexer writes with every commit, read back at start-up: which code built the
/// index, for which rebuild request, and up to which outbox event it is complete.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stamp {
    pub schema: u32,
    pub generation: i64,
    pub position: i64,
}

/// What the search page says while there is no index to search.
#[derive(Clone, Debug)]
pub enum Status {
    Opening,
    Building { done: u64, total: u64 },
    Ready,
    Failed(String),
}

/// This node's index, shared by the HTTP workers (reading) and the indexer (writing).
#[derive(Clone)]
pub struct SearchIndex {
    shared: Arc<Shared>,
}

struct Shared {
    root: PathBuf,
    live: RwLock<Option<Arc<Live>>>,
    status: Mutex<Status>,
    /// The stamp of the live index's last commit.
    indexed: Mutex<Option<Stamp>>,
    /// One turn per core: searches beyond that wait their turn rather than share the cores.
    lane: tokio::sync::Semaphore,
}

impl SearchIndex {
    /// A handle on the index under `root`; nothing is opened until the indexer starts.
    pub fn new(root: &Path) -> SearchIndex {
        SearchIndex {
            shared: Arc::new(Shared {
                root: root.to_owned(),
                live: RwLock::new(None),
                status: Mutex::new(Status::Opening),
                indexed: Mutex::new(None),
                lane: tokio::sync::Semaphore::new(crate::config::cores() as usize),
            }),
        }
    }

    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// Runs `search` (Tantivy's part of a search) on the blocking pool once a core is free for
    /// it.
    ///
    /// Why: a search is pure CPU, 4 to 12 ms on the million-issue benchmark. Eight at once on
    /// two cores shared them, so each took four times its own time and every one finished late;
    /// taking turns, a search waits for those ahead of it and then runs at full speed, and the
    /// blocking pool's other threads (the database work of every page) are not crowded out.
    pub async fn in_turn<T: Send + 'static>(
        &self,
        search: impl FnOnce() -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let _turn = (self.shared.lane.acquire().await).map_err(|e| AppError::internal(format!("search lane: {e}")))?;
        crate::web::blocking(search).await
    }

    /// The index to search, if one is open.
    pub fn live(&self) -> Option<Arc<Live>> {
        self.shared.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn status(&self) -> Status {
        self.shared.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_status(&self, status: Status) {
        *self.shared.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }

    /// Makes `live`, complete up to `stamp`, the index searches read from; the one it replaces
    /// goes when its last search ends.
    fn swap_in(&self, live: Arc<Live>, stamp: Stamp) {
        *self.shared.live.write().unwrap_or_else(|e| e.into_inner()) = Some(live);
        self.record(stamp);
        self.set_status(Status::Ready);
    }

    fn record(&self, stamp: Stamp) {
        *self.shared.indexed.lock().unwrap_or_else(|e| e.into_inner()) = Some(stamp);
    }

    /// Up to which outbox event, and for which rebuild, the live index is complete.
    pub fn indexed(&self) -> Option<Stamp> {
        *self.shared.indexed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A sentence for the reader while the index is not there.
    pub fn unavailable_reason(&self) -> String {
        match self.status() {
            Status::Opening => "The search index is being opened; try again in a moment.".into(),
            Status::Building { done, total } => format!(
                "The search index is being built ({}% of {total} documents); results appear when it is ready.",
                (done * 100).checked_div(total).unwrap_or(0).min(100)
            ),
            Status::Ready => "The search index is ready.".into(),
            Status::Failed(reason) => {
                format!("Search is unavailable: {reason} The indexer tries again; an administrator can see more in the log.")
            }
        }
    }
}

/// Opens the index in `folder` for searching, with our analyzer.
fn open_live(folder: &Path) -> tantivy::Result<Live> {
    live_of(Index::open_in_dir(folder)?, folder)
}

/// `index`, opened from `folder`, ready for searching.
fn live_of(index: Index, folder: &Path) -> tantivy::Result<Live> {
    schema::register_analyzer(&index);
    let fields = fields_of(&index)?;
    let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
    Ok(Live { index, reader, fields, folder: folder.to_owned(), segments: Default::default() })
}

/// The fields of an opened index; an index from other code lacks some and is refused.
fn fields_of(index: &Index) -> tantivy::Result<Fields> {
    let (expected, fields) = schema::schema();
    if index.schema() != expected {
        return Err(tantivy::TantivyError::SchemaError("the index has different fields".into()));
    }
    Ok(fields)
}

/// The newest rebuild request, or 0 when there has been none.
pub fn requested_generation(conn: &mut PgConnection) -> QueryResult<i64> {
    search_rebuilds::table
        .select(diesel::dsl::max(search_rebuilds::generation))
        .first::<Option<i64>>(conn)
        .map(|generation| generation.unwrap_or(0))
}

/// Asks every node to rebuild its index from the database (`outpost reindex`, the admin
/// page). Searches keep using the old index until the new one is complete.
pub fn request_rebuild(conn: &mut PgConnection, actor: &Actor, reason: &str) -> Result<i64, AppError> {
    conn.transaction(|conn| {
        let generation: i64 = diesel::insert_into(search_rebuilds::table)
            .values((search_rebuilds::requested_by.eq(actor.user_id), search_rebuilds::reason.eq(reason)))
            .returning(search_rebuilds::generation)
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Change {
                action: "search.rebuild_requested",
                entity_type: "installation",
                entity_id: 0,
                before: None,
                after: Some(serde_json::json!({ "generation": generation, "reason": reason })),
            },
        )?;
        Ok(generation)
    })
}
