//! This node's indexer: it opens the index (building it from PostgreSQL when it is missing,
//! damaged, of an older schema or older than the newest rebuild request), then follows the
//! outbox, refreshing the issues and pages each event names.
//!
//! Its position is written into every Tantivy commit, with the documents, so a crash or
//! `kill -9` resumes from exactly what was committed: later events are applied again, and
//! since applying one re-reads its issue or page and replaces every document it owns,
//! applying twice changes nothing.
//!
//! Outbox ids are handed out when a row is written but become visible when its transaction
//! commits, so a lower id can appear after a higher one. The indexer keeps such a hole open
//! (its position stays below it) until every transaction that was running when it saw the
//! hole has ended: by then the row is visible or it never will be.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use tantivy::indexer::{LogMergePolicy, NoMergePolicy};
use tantivy::{Index, IndexWriter, Term};

use super::documents::{self, Issues, Owner, Pages, SearchDoc, ATTACHMENT_TEXT_BYTES};
use super::schema::{self, SCHEMA_VERSION};
use super::{live_of, open_live, requested_generation, Live, SearchIndex, Stamp, Status};
use crate::config::StorageConfig;
use crate::db::DbPool;
use crate::jobs::worker::Stop;
use crate::keys::Keyring;
use crate::schema::{attachments, comments, outbox};
use crate::storage::{ObjectKey, ObjectStore, Storage};

/// Outbox events read per step.
const EVENTS_PER_STEP: i64 = 1000;
/// Issues or pages read from PostgreSQL per rebuild batch.
const BUILD_BATCH: i64 = 2000;
/// Memory for documents not yet written to a segment: following needs little, a rebuild more.
const FOLLOW_MEMORY: usize = 32_000_000;
const BUILD_MEMORY: usize = 200_000_000;
const IDLE_POLL: Duration = Duration::from_millis(200);
/// The shortest time between two commits while changes keep coming. A commit writes a new
/// segment, reloads the readers and sets off merges: committing after every step made
/// indexing 16% of the machine's CPU while issues were created at 290 a second (perf), a few
/// documents per commit. Spaced, a commit carries what arrived in the meantime; a change is
/// still searchable within half a second.
const COMMIT_SPACING: Duration = Duration::from_millis(400);
/// How often the indexer asks whether a rebuild was requested.
const REBUILD_POLL: Duration = Duration::from_secs(2);

type Result<T> = std::result::Result<T, String>;

fn describe(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// Reads the text of stored files for the index, from this node's object store, opened with
/// their data keys.
pub struct FileText {
    runtime: tokio::runtime::Runtime,
    storage: Option<Storage>,
    pool: DbPool,
    keys: Arc<Keyring>,
}

impl FileText {
    /// Opens the store; when it cannot be, files are indexed by name only (and a warning says so).
    pub fn open(config: &StorageConfig, pool: &DbPool, keys: &Arc<Keyring>) -> Result<FileText> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(describe)?;
        let storage = match runtime.block_on(Storage::open(config)) {
            Ok(storage) => Some(storage),
            Err(e) => {
                tracing::warn!(error = %e, "search: the file store cannot be opened; files are indexed by name only");
                None
            }
        };
        Ok(FileText { runtime, storage, pool: pool.clone(), keys: keys.clone() })
    }

    fn read(&self, key: &str) -> Option<String> {
        use futures_util::StreamExt;
        let storage = self.storage.as_ref()?;
        let key = ObjectKey::new(key).ok()?;
        // The indexer runs on its own thread: plain blocking queries are fine here.
        let mut conn = self.pool.get().ok()?;
        let data_key_id: Option<i64> = attachments::table
            .filter(attachments::object_key.eq(key.as_str()))
            .select(attachments::data_key_id)
            .first::<Option<i64>>(&mut conn)
            .ok()?;
        let data_key = data_key_id.map(|id| self.keys.data_key(&mut conn, id)).transpose().ok()?;
        self.runtime.block_on(async {
            let stream = storage.get(&key).await.ok()?;
            let mut stream = match &data_key {
                Some(data_key) => crate::keys::stream::open(data_key, key.as_str(), stream).ok()?,
                None => stream,
            };
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                bytes.extend_from_slice(&chunk.ok()?);
                if bytes.len() >= ATTACHMENT_TEXT_BYTES {
                    bytes.truncate(ATTACHMENT_TEXT_BYTES);
                    break;
                }
            }
            Some(String::from_utf8_lossy(&bytes).into_owned())
        })
    }
}

/// The writing side of this node's index.
pub struct Indexer {
    search: SearchIndex,
    pool: DbPool,
    files: FileText,
    live: Arc<Live>,
    writer: IndexWriter,
    /// What the last commit recorded.
    stamp: Stamp,
    /// Events up to here have been applied, except those in `holes`.
    applied: i64,
    /// Outbox ids not yet visible: start → (end, exclusive; the snapshot xmax when first seen).
    holes: BTreeMap<i64, (i64, i64)>,
}

impl Indexer {
    /// Opens this node's index, building it first when it is missing, damaged, of an older
    /// schema, or older than the newest rebuild request.
    pub fn open(search: &SearchIndex, pool: &DbPool, files: FileText) -> Result<Indexer> {
        std::fs::create_dir_all(search.root())
            .map_err(|e| format!("cannot create the search folder {}: {e}", search.root().display()))?;
        let mut conn = pool.get().map_err(describe)?;
        let generation = requested_generation(&mut conn).map_err(describe)?;
        drop(conn);
        let reopened = match current_folder(search.root()) {
            None => {
                tracing::info!(folder = %search.root().display(), "search: there is no index yet; building it");
                None
            }
            Some(folder) => match reopen(&folder) {
                // Waited for by the caller's retries: a rebuild beside it would delete its folder.
                Err(Unopened::Held) => return Err(Unopened::Held.into()),
                Err(Unopened::Outdated { schema }) => {
                    tracing::info!(
                        from = schema,
                        to = SCHEMA_VERSION,
                        "search: the index has an older schema; rebuilding it"
                    );
                    None
                }
                Ok((live, writer, stamp)) if stamp.generation < generation => {
                    tracing::info!(generation, "search: a rebuild was requested; rebuilding the index");
                    drop((live, writer));
                    None
                }
                Ok(opened) => Some(opened),
                Err(Unopened::Unreadable(e)) => {
                    tracing::warn!(folder = %folder.display(), error = %e, "search: the index cannot be read; rebuilding it");
                    None
                }
            },
        };
        let (live, writer, stamp) = match reopened {
            Some(opened) => opened,
            None => build(search, pool, &files, generation)?,
        };
        let live = Arc::new(live);
        search.swap_in(live.clone(), stamp);
        remove_other_folders(search.root(), &live.folder);
        tracing::info!(documents = live.documents(), position = stamp.position, "search: the index is open");
        Ok(Indexer {
            search: search.clone(),
            pool: pool.clone(),
            files,
            live,
            writer,
            applied: stamp.position,
            stamp,
            holes: BTreeMap::new(),
        })
    }

    pub fn stamp(&self) -> Stamp {
        self.stamp
    }

    /// Builds a new index when a rebuild has been requested since this one was built, then
    /// swaps it in. Searches use the current index meanwhile. Returns whether it rebuilt.
    pub fn rebuild_if_requested(&mut self) -> Result<bool> {
        let mut conn = self.pool.get().map_err(describe)?;
        let generation = requested_generation(&mut conn).map_err(describe)?;
        drop(conn);
        if generation <= self.stamp.generation {
            return Ok(false);
        }
        tracing::info!(generation, "search: a rebuild was requested; searches use the current index until it is done");
        let (live, writer, stamp) = build(&self.search, &self.pool, &self.files, generation)?;
        let old = std::mem::replace(&mut self.live, Arc::new(live));
        self.writer = writer;
        self.stamp = stamp;
        self.applied = stamp.position;
        self.holes.clear();
        self.search.swap_in(self.live.clone(), stamp);
        remove_other_folders(self.search.root(), &self.live.folder);
        drop(old);
        Ok(true)
    }

    /// Applies every event there is now. Returns how many were applied.
    pub fn catch_up(&mut self) -> Result<usize> {
        let mut total = 0;
        loop {
            let applied = self.step()?;
            total += applied;
            if applied == 0 {
                return Ok(total);
            }
        }
    }

    /// Applies the next events (and any that filled a hole) and commits. Returns how many.
    pub fn step(&mut self) -> Result<usize> {
        let mut conn = self.pool.get().map_err(describe)?;
        let (xmin, xmax) = snapshot(&mut conn)?;
        let mut events: Vec<Event> = Vec::new();
        if !self.holes.is_empty() {
            let window = read_events(&mut conn, self.stamp.position, Some(self.applied))?;
            events.extend(window.into_iter().filter(|event| self.in_hole(event.id)));
        }
        let filled: Vec<i64> = events.iter().map(|event| event.id).collect();
        let fresh = read_events(&mut conn, self.applied, None)?;
        events.extend(fresh.iter().cloned());
        if !events.is_empty() {
            self.apply(&mut conn, &events)?;
        }
        for id in filled {
            self.fill_hole(id);
        }
        let mut expected = self.applied + 1;
        for event in &fresh {
            if event.id > expected {
                self.holes.insert(expected, (event.id, xmax));
            }
            expected = event.id + 1;
        }
        self.applied = self.applied.max(expected - 1);
        self.holes.retain(|_, (_, seen)| xmin < *seen);
        let position = self.holes.keys().next().map_or(self.applied, |start| start - 1);
        if !events.is_empty() || position != self.stamp.position {
            self.commit(Stamp { position, ..self.stamp })?;
        }
        Ok(events.len())
    }

    fn in_hole(&self, id: i64) -> bool {
        self.holes.range(..=id).next_back().is_some_and(|(_, (end, _))| id < *end)
    }

    /// Splits the hole `id` was in around it; both parts keep when the hole was first seen.
    fn fill_hole(&mut self, id: i64) {
        let Some((&start, &(end, seen))) = self.holes.range(..=id).next_back() else { return };
        self.holes.remove(&start);
        if start < id {
            self.holes.insert(start, (id, seen));
        }
        if id + 1 < end {
            self.holes.insert(id + 1, (end, seen));
        }
    }

    fn apply(&mut self, conn: &mut PgConnection, events: &[Event]) -> Result<()> {
        let mut issues = BTreeSet::new();
        let mut pages = BTreeSet::new();
        let mut comment_ids = Vec::new();
        let mut projects = BTreeSet::new();
        let mut spaces = BTreeSet::new();
        for event in events {
            match event.entity_type.as_str() {
                "issue" => {
                    issues.insert(event.entity_id);
                }
                "comment" => comment_ids.push(event.entity_id),
                "page" => {
                    pages.insert(event.entity_id);
                }
                // Generated data arrives in bulk: one event per project for its issues, one
                // per space for its pages.
                "project" if event.topic == "project.generated" => {
                    projects.insert(event.entity_id);
                }
                "space" if event.topic == "space.generated" => {
                    spaces.insert(event.entity_id);
                }
                _ => {}
            }
        }
        let of_comments: Vec<i64> = comments::table
            .filter(comments::id.eq_any(&comment_ids))
            .select(comments::issue_id)
            .load(conn)
            .map_err(describe)?;
        issues.extend(of_comments);
        let files = &self.files;
        let mut read_text = |key: &str| files.read(key);
        let issues: Vec<i64> = issues.into_iter().collect();
        let pages: Vec<i64> = pages.into_iter().collect();
        for chunk in issues.chunks(BUILD_BATCH as usize) {
            let docs = documents::issue_documents(conn, Issues::Ids(chunk), &mut read_text).map_err(describe)?;
            replace(&self.writer, &self.live, chunk.iter().map(|id| Owner::Issue(*id)), docs)?;
        }
        for chunk in pages.chunks(BUILD_BATCH as usize) {
            let docs = documents::page_documents(conn, Pages::Ids(chunk), &mut read_text).map_err(describe)?;
            replace(&self.writer, &self.live, chunk.iter().map(|id| Owner::Page(*id)), docs)?;
        }
        for project in projects {
            self.replace_in_batches(|after| {
                let which = Issues::Range { project: Some(project), after, limit: BUILD_BATCH };
                documents::issue_documents(conn, which, &mut read_text)
            })?;
        }
        for space in spaces {
            self.replace_in_batches(|after| {
                let which = Pages::Range { space: Some(space), after, limit: BUILD_BATCH };
                documents::page_documents(conn, which, &mut read_text)
            })?;
        }
        Ok(())
    }

    /// Replaces the documents `batch` reads, one batch after another: `batch(after)` reads
    /// the owners after id `after`, in id order, until it reads none.
    fn replace_in_batches(&self, mut batch: impl FnMut(i64) -> QueryResult<Vec<SearchDoc>>) -> Result<()> {
        let mut after = 0;
        loop {
            let docs = batch(after).map_err(describe)?;
            let owners: BTreeSet<Owner> = docs.iter().map(|doc| doc.owner).collect();
            let Some(last) = owners.iter().next_back().map(|owner| owner.id()) else { break };
            replace(&self.writer, &self.live, owners.into_iter(), docs)?;
            after = last;
        }
        Ok(())
    }

    fn commit(&mut self, stamp: Stamp) -> Result<()> {
        commit(&mut self.writer, stamp)?;
        self.live.reader.reload().map_err(describe)?;
        self.stamp = stamp;
        self.search.record(stamp);
        Ok(())
    }
}

/// Replaces every document of `owners` with `docs` (which may be none: the owner is gone).
fn replace(writer: &IndexWriter, live: &Live, owners: impl Iterator<Item = Owner>, docs: Vec<SearchDoc>) -> Result<()> {
    for owner in owners {
        writer.delete_term(Term::from_field_text(live.fields.owner, &owner.term()));
    }
    for doc in docs {
        writer.add_document(doc.into_tantivy(&live.fields)).map_err(describe)?;
    }
    Ok(())
}

fn commit(writer: &mut IndexWriter, stamp: Stamp) -> Result<()> {
    let payload = serde_json::to_string(&stamp).map_err(describe)?;
    let mut prepared = writer.prepare_commit().map_err(describe)?;
    prepared.set_payload(&payload);
    prepared.commit().map_err(describe)?;
    Ok(())
}

#[derive(QueryableByName, Queryable, Clone, Debug)]
#[diesel(table_name = outbox)]
struct Event {
    id: i64,
    topic: String,
    entity_type: String,
    entity_id: i64,
}

/// Events after `after` (up to `through`, or the next `EVENTS_PER_STEP`), in id order.
fn read_events(conn: &mut PgConnection, after: i64, through: Option<i64>) -> Result<Vec<Event>> {
    let query = outbox::table
        .filter(outbox::id.gt(after))
        .order(outbox::id)
        .select((outbox::id, outbox::topic, outbox::entity_type, outbox::entity_id))
        .into_boxed();
    match through {
        Some(through) => query.filter(outbox::id.le(through)).load(conn),
        None => query.limit(EVENTS_PER_STEP).load(conn),
    }
    .map_err(describe)
}

#[derive(QueryableByName)]
struct Snapshot {
    #[diesel(sql_type = BigInt)]
    xmin: i64,
    #[diesel(sql_type = BigInt)]
    xmax: i64,
}

/// The oldest transaction still running, and the next transaction id to be handed out.
fn snapshot(conn: &mut PgConnection) -> Result<(i64, i64)> {
    let snapshot: Snapshot = diesel::sql_query(
        "SELECT pg_snapshot_xmin(s)::text::bigint AS xmin, pg_snapshot_xmax(s)::text::bigint AS xmax \
         FROM pg_current_snapshot() AS s",
    )
    .get_result(conn)
    .map_err(describe)?;
    Ok((snapshot.xmin, snapshot.xmax))
}

/// The outbox position a rebuild starts from: the newest event, once every transaction that
/// might still write an older one has ended, so what the rebuild reads includes them all.
fn starting_position(conn: &mut PgConnection) -> Result<i64> {
    let newest: Option<i64> = outbox::table.select(diesel::dsl::max(outbox::id)).first(conn).map_err(describe)?;
    let (_, xmax) = snapshot(conn)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while snapshot(conn)?.0 < xmax {
        if Instant::now() > deadline {
            tracing::warn!("search: a transaction has been open for over a minute; the rebuild starts anyway and the indexer catches up after it");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(newest.unwrap_or(0))
}

const CURRENT: &str = "current";

/// The folder `current` names, if it names one.
fn current_folder(root: &Path) -> Option<PathBuf> {
    let name = std::fs::read_to_string(root.join(CURRENT)).ok()?;
    let name = name.trim();
    (!name.is_empty() && !name.contains('/')).then(|| root.join(name))
}

/// Points `current` at `folder`: written beside and renamed over, so it is never half there.
fn make_current(root: &Path, folder: &Path) -> Result<()> {
    let name = folder.file_name().and_then(|name| name.to_str()).ok_or("the index folder has no name")?;
    let temporary = root.join(format!("{CURRENT}.new"));
    std::fs::write(&temporary, name).map_err(describe)?;
    std::fs::File::open(&temporary).and_then(|file| file.sync_all()).map_err(describe)?;
    std::fs::rename(&temporary, root.join(CURRENT)).map_err(describe)?;
    std::fs::File::open(root).and_then(|dir| dir.sync_all()).map_err(describe)
}

/// Removes index folders other than `keep`: replaced indexes and rebuilds cut short.
fn remove_other_folders(root: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && path != keep && entry.file_name().to_string_lossy().starts_with("index-") {
            if let Err(e) = std::fs::remove_dir_all(&path) {
                tracing::warn!(folder = %path.display(), error = %e, "search: cannot remove an old index folder");
            }
        }
    }
}

/// Why an existing index was not reopened.
#[derive(Debug)]
enum Unopened {
    /// Another process writes to it: a node still stopping while the next one starts, or two
    /// nodes given one folder. Its folder must stay, so it is waited for, not rebuilt.
    Held,
    /// Written by an older version of this code (`SCHEMA_VERSION`): it is rebuilt.
    Outdated { schema: u32 },
    /// Damaged, never completed, or unreadable: it is rebuilt.
    Unreadable(String),
}

impl From<tantivy::TantivyError> for Unopened {
    fn from(error: tantivy::TantivyError) -> Self {
        match error {
            tantivy::TantivyError::LockFailure(..) => Unopened::Held,
            other => Unopened::Unreadable(other.to_string()),
        }
    }
}

impl From<Unopened> for String {
    fn from(unopened: Unopened) -> String {
        match unopened {
            Unopened::Held => "another Outpost process holds this search index (a node still stopping, or \
                               another node given the same search.index_dir, which each node needs of its own)"
                .to_owned(),
            Unopened::Outdated { schema } => format!("it has schema {schema}, not {SCHEMA_VERSION}"),
            Unopened::Unreadable(why) => why,
        }
    }
}

/// Opens an existing index for searching and writing, with the stamp of its last commit.
fn reopen(folder: &Path) -> std::result::Result<(Live, IndexWriter, Stamp), Unopened> {
    let index = Index::open_in_dir(folder)?;
    schema::register_analyzer(&index);
    // The lock first: an index another process writes to is waited for, whatever it holds.
    let writer = writer_of(&index, 1, FOLLOW_MEMORY)?;
    let payload = index.load_metas()?.payload.ok_or(Unopened::Unreadable("it was never completed".to_owned()))?;
    let stamp: Stamp =
        serde_json::from_str(&payload).map_err(|e| Unopened::Unreadable(format!("its stamp is unreadable: {e}")))?;
    if stamp.schema != SCHEMA_VERSION {
        return Err(Unopened::Outdated { schema: stamp.schema });
    }
    let live = live_of(index, folder)?;
    // A reader opened before a crash's leftovers were cleaned sees the last commit only.
    live.reader.reload()?;
    Ok((live, writer, stamp))
}

/// Tantivy's default merge policy never merges a segment for its deleted documents: on the
/// million-issue benchmark, comments re-index their whole issue, and three segments came to
/// hold 66–82% deleted documents that every search still read past.
const DELETED_SHARE_BEFORE_MERGE: f32 = 0.3;

fn writer_of(index: &Index, threads: usize, memory: usize) -> std::result::Result<IndexWriter, Unopened> {
    let writer = index.writer_with_num_threads(threads, memory)?;
    let mut policy = LogMergePolicy::default();
    policy.set_del_docs_ratio_before_merge(DELETED_SHARE_BEFORE_MERGE);
    writer.set_merge_policy(Box::new(policy));
    Ok(writer)
}

/// Merges a built index into one segment: a search pays for every segment (its own look-ups,
/// ranking and counting), and a rebuilt index otherwise stays in the tens of segments its
/// build wrote.
fn merge_into_one(index: &Index, writer: &mut IndexWriter) -> Result<()> {
    let segments = index.searchable_segment_ids().map_err(describe)?;
    if segments.len() > 1 {
        let started = Instant::now();
        tracing::info!(segments = segments.len(), "search: merging the built index into one segment");
        writer.merge(&segments).wait().map_err(describe)?;
        tracing::info!(seconds = format!("{:.1}", started.elapsed().as_secs_f64()), "search: merged");
    }
    Ok(())
}

/// Builds a complete index for `generation` in a new folder and makes it current.
/// A build that fails leaves nothing behind: its retries would otherwise fill the disk with
/// unfinished indexes (a million issues' is several gigabytes).
fn build(search: &SearchIndex, pool: &DbPool, files: &FileText, generation: i64) -> Result<(Live, IndexWriter, Stamp)> {
    let folder = search.root().join(format!("index-{generation}-{}", chrono::Utc::now().timestamp_millis()));
    std::fs::create_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let built = build_in(&folder, search, pool, files, generation);
    if built.is_err() {
        if let Err(e) = std::fs::remove_dir_all(&folder) {
            tracing::warn!(folder = %folder.display(), error = %e, "search: cannot remove a failed build's folder");
        }
    }
    built
}

fn build_in(
    folder: &Path,
    search: &SearchIndex,
    pool: &DbPool,
    files: &FileText,
    generation: i64,
) -> Result<(Live, IndexWriter, Stamp)> {
    let started = Instant::now();
    let (fields_schema, fields) = schema::schema();
    let index = Index::create_in_dir(folder, fields_schema).map_err(describe)?;
    schema::register_analyzer(&index);
    let mut conn = pool.get().map_err(describe)?;
    let position = starting_position(&mut conn)?;
    let total = documents::count_all(&mut conn).map_err(describe)?.max(0) as u64;
    let serving = search.live().is_some();
    let progress = |done: u64| {
        if !serving {
            search.set_status(Status::Building { done, total });
        }
    };
    progress(0);
    let mut writer = writer_of(&index, 2, BUILD_MEMORY).map_err(String::from)?;
    // Merged once, at the end (`merge_into_one`): merges along the way would be redone.
    writer.set_merge_policy(Box::new(NoMergePolicy));
    let mut done = 0u64;
    let mut last_report = Instant::now();
    let mut read_text = |key: &str| files.read(key);
    let mut add = |docs: Vec<SearchDoc>, done: &mut u64| -> Result<()> {
        *done += docs.len() as u64;
        for doc in docs {
            writer.add_document(doc.into_tantivy(&fields)).map_err(describe)?;
        }
        progress(*done);
        if last_report.elapsed() > Duration::from_secs(5) {
            last_report = Instant::now();
            tracing::info!(
                done = *done,
                total,
                "search: building the index, {}% done",
                (*done * 100).checked_div(total).unwrap_or(100)
            );
        }
        Ok(())
    };
    let mut after = 0;
    loop {
        let which = Issues::Range { project: None, after, limit: BUILD_BATCH };
        let docs = documents::issue_documents(&mut conn, which, &mut read_text).map_err(describe)?;
        let Some(last) = docs
            .iter()
            .filter_map(|doc| match doc.owner {
                Owner::Issue(id) => Some(id),
                Owner::Page(_) => None,
            })
            .max()
        else {
            break;
        };
        add(docs, &mut done)?;
        after = last;
    }
    let mut after = 0;
    loop {
        let docs = documents::page_documents(
            &mut conn,
            Pages::Range { space: None, after, limit: BUILD_BATCH },
            &mut read_text,
        )
        .map_err(describe)?;
        let Some(last) = docs
            .iter()
            .filter_map(|doc| match doc.owner {
                Owner::Page(id) => Some(id),
                Owner::Issue(_) => None,
            })
            .max()
        else {
            break;
        };
        add(docs, &mut done)?;
        after = last;
    }
    let stamp = Stamp { schema: SCHEMA_VERSION, generation, position };
    commit(&mut writer, stamp)?;
    merge_into_one(&index, &mut writer)?;
    writer.wait_merging_threads().map_err(describe)?;
    make_current(search.root(), folder)?;
    let live = open_live(folder).map_err(describe)?;
    let writer = writer_of(&live.index, 1, FOLLOW_MEMORY).map_err(String::from)?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        documents = done,
        seconds = format!("{seconds:.1}"),
        per_second = (done as f64 / seconds.max(0.001)) as u64,
        "search: the index is built"
    );
    Ok((live, writer, stamp))
}

/// The indexer thread of a running node: opens (or builds) the index, then follows the
/// outbox until stopped. Failures are logged and retried with a growing pause, never fatal.
pub fn spawn(
    search: SearchIndex,
    pool: DbPool,
    storage: StorageConfig,
    keys: Arc<Keyring>,
    stop: Stop,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("outpost-indexer".into()).spawn(move || {
        let mut pause = Duration::from_secs(2);
        let mut indexer = loop {
            let opened = FileText::open(&storage, &pool, &keys).and_then(|files| Indexer::open(&search, &pool, files));
            match opened {
                Ok(indexer) => break indexer,
                Err(e) => {
                    tracing::error!(error = %e, "search: cannot open or build the index; trying again");
                    if search.live().is_none() {
                        search.set_status(Status::Failed(format!("{e}.")));
                    }
                    stop.sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(60));
                    if stop.requested() {
                        return;
                    }
                }
            }
        };
        let mut asked = Instant::now();
        while !stop.requested() {
            if asked.elapsed() >= REBUILD_POLL {
                asked = Instant::now();
                if let Err(e) = indexer.rebuild_if_requested() {
                    tracing::error!(error = %e, "search: the requested rebuild failed; searches keep using the current index");
                }
            }
            let stepped = Instant::now();
            match indexer.step() {
                Ok(0) => stop.sleep(IDLE_POLL),
                // A full step leaves more to catch up on: no pause then.
                Ok(applied) if applied < EVENTS_PER_STEP as usize => {
                    stop.sleep(COMMIT_SPACING.saturating_sub(stepped.elapsed()));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "search: cannot index the latest changes; trying again shortly");
                    stop.sleep(Duration::from_secs(2));
                }
            }
        }
    })
}
