//! What searches read from a segment again and again, kept for as long as the index holds the
//! segment: its facet columns, opened, and the documents of the scopes searched in and the
//! filters used lately.
//!
//! Why: opening the five facet columns (finding each in the segment's column directory and
//! reading its codec) cost 0.65 ms on the million-issue benchmark's largest segment, and an
//! index being written to holds a score of small segments; a search finding 40,000 documents
//! spent more time opening columns than counting. A reader's scope of hundreds of projects
//! is the same bits search after search; a filter such as `type=issue` (a million documents
//! on the benchmark, 1.5 ms to read) is too, and so is a common word: `error` and `timeout`
//! took 2.5 ms to read (Lucene's query cache keeps such sets for the same reason), and a
//! common beginning: `depl*`'s postings were a seventh of its search (perf).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tantivy::columnar::{Column, StrColumn};
use tantivy::index::SegmentId;
use tantivy::{Searcher, SegmentReader, Term};

use super::found::{holding_a_term_beginning, holding_any, Bits, COMMON_IN_ONE_OF};

/// How many sets of documents (a scope's, a filter's, a common word's or beginning's) are kept
/// for each segment, the latest used: each costs a bit per document of the segment (560 kB for
/// the benchmark's 4.5 million).
const SETS_KEPT: usize = 32;

#[derive(Default)]
pub struct SegmentCache {
    kept: Mutex<HashMap<SegmentId, Arc<Kept>>>,
}

/// What is kept of one segment.
pub struct Kept {
    pub columns: FacetColumns,
    /// Sets of documents, and what they hold; latest first.
    sets: Mutex<Vec<(Held, Arc<Bits>)>>,
}

/// What the documents of a set hold.
#[derive(Clone, Copy, Debug)]
pub enum Wanted<'a> {
    /// Any of these terms: a scope's or a filter's facets, a common word in each field.
    AnyOf(&'a [Term]),
    /// A term of the term's field beginning with its text (a search's `depl*`, in one field).
    Beginning(&'a Term),
}

/// A `Wanted` of a kept set (looking one up copies no terms: a scope holds up to a thousand).
#[derive(Debug)]
enum Held {
    AnyOf(Vec<Term>),
    Beginning(Term),
}

impl Held {
    fn of(wanted: Wanted) -> Held {
        match wanted {
            Wanted::AnyOf(terms) => Held::AnyOf(terms.to_vec()),
            Wanted::Beginning(term) => Held::Beginning(term.clone()),
        }
    }

    fn is(&self, wanted: Wanted) -> bool {
        match (self, wanted) {
            (Held::AnyOf(held), Wanted::AnyOf(terms)) => held == terms,
            (Held::Beginning(held), Wanted::Beginning(term)) => held == term,
            _ => false,
        }
    }
}

/// The columns facets are counted from.
#[derive(Clone)]
pub struct FacetColumns {
    pub kind: Option<StrColumn>,
    pub status: Option<StrColumn>,
    /// Project, space and assignee ids.
    pub ids: [Column<u64>; 3],
}

impl SegmentCache {
    /// What is kept of each of the searcher's segments, in its order. Segments it no longer
    /// holds (merged away) are forgotten.
    pub fn of(&self, searcher: &Searcher) -> tantivy::Result<Vec<Arc<Kept>>> {
        let readers = searcher.segment_readers();
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let held = |id: &SegmentId| readers.iter().any(|reader| reader.segment_id() == *id);
        if kept.len() > readers.len() || !kept.keys().all(held) {
            kept.retain(|id, _| held(id));
        }
        readers
            .iter()
            .map(|reader| match kept.get(&reader.segment_id()) {
                Some(segment) => Ok(segment.clone()),
                None => {
                    let segment = Arc::new(Kept { columns: FacetColumns::open(reader)?, sets: Mutex::default() });
                    kept.insert(reader.segment_id(), segment.clone());
                    Ok(segment)
                }
            })
            .collect()
    }
}

impl FacetColumns {
    fn open(reader: &SegmentReader) -> tantivy::Result<FacetColumns> {
        let columns = reader.fast_fields();
        Ok(FacetColumns {
            kind: columns.str("kind")?,
            status: columns.str("status")?,
            ids: [columns.u64("project")?, columns.u64("space")?, columns.u64("assignee")?],
        })
    }
}

impl Kept {
    /// The documents of `reader` (this segment) holding `wanted`, deleted ones included. A set
    /// of terms is kept for the next search asking for the same; a beginning only when it is
    /// common (rare ones read fast, and would push out the scopes' and filters' sets).
    pub fn holding(&self, reader: &SegmentReader, wanted: Wanted) -> tantivy::Result<Arc<Bits>> {
        let lock = || self.sets.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut sets = lock();
            if let Some(at) = sets.iter().position(|(held, _)| held.is(wanted)) {
                let latest = sets.remove(at);
                let bits = latest.1.clone();
                sets.insert(0, latest);
                return Ok(bits);
            }
        }
        // Read without the lock: other searches of this segment go on meanwhile.
        let bits = Arc::new(match wanted {
            Wanted::AnyOf(terms) => holding_any(reader, terms)?,
            Wanted::Beginning(beginning) => holding_a_term_beginning(reader, beginning)?,
        });
        let worth_keeping = match wanted {
            Wanted::AnyOf(_) => true,
            Wanted::Beginning(_) => bits.count() >= u64::from(reader.max_doc() / COMMON_IN_ONE_OF),
        };
        if worth_keeping {
            let mut sets = lock();
            sets.insert(0, (Held::of(wanted), bits.clone()));
            sets.truncate(SETS_KEPT);
        }
        Ok(bits)
    }
}
