//! Facet counts from columns, a block of matching documents at a time, counting each
//! document's type, project, space, status and assignee by id or by the column's ordinal.
//! Only the values that get listed are turned back into names.
//!
//! A search that finds a large part of a big index counts its facets on a sample
//! (`ranking::rank_and_count`): each document counted stands for several.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use tantivy::columnar::{Column, ColumnBlockAccessor, StrColumn};
use tantivy::DocId;

use super::engine::{FacetCounts, Kind, Ranked};
use super::segments::FacetColumns;

/// How many values of each facet a search lists: the ones with most hits.
pub const FACET_VALUES: usize = 10;

/// The assignee column's value for an unassigned issue (ids start at 1).
pub const UNASSIGNED: u64 = 0;

/// Ids below this are counted in a plain array the size of the column's largest value;
/// a column with larger ids (never in practice) is counted in a hash map.
const ARRAY_COUNTED_BELOW: u64 = 1 << 20;

/// Ids are already well spread; hashing them again would only cost time.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 << 8 | u64::from(*byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap = HashMap<u64, u64, BuildHasherDefault<IdHasher>>;

/// Hits per value of one column.
enum Counter {
    Array(Vec<u64>),
    Map(IdMap),
}

impl Default for Counter {
    fn default() -> Counter {
        Counter::Array(Vec::new())
    }
}

impl Counter {
    fn for_values_up_to(largest: u64) -> Counter {
        let mut counter = Counter::default();
        counter.fit(largest);
        counter
    }

    /// Makes room for values up to `largest`.
    fn fit(&mut self, largest: u64) {
        match self {
            Counter::Array(_) if largest >= ARRAY_COUNTED_BELOW => {
                let counted = std::mem::take(self).into_counted();
                *self = Counter::Map(counted);
            }
            Counter::Array(counts) if counts.len() <= largest as usize => counts.resize(largest as usize + 1, 0),
            _ => {}
        }
    }

    fn add(&mut self, value: u64, weight: u64) {
        match self {
            Counter::Array(counts) => {
                if let Some(count) = counts.get_mut(value as usize) {
                    *count += weight;
                }
            }
            Counter::Map(counts) => *counts.entry(value).or_default() += weight,
        }
    }

    fn into_counted(self) -> IdMap {
        match self {
            Counter::Array(counts) => {
                counts.into_iter().enumerate().filter(|(_, n)| *n > 0).map(|(value, n)| (value as u64, n)).collect()
            }
            Counter::Map(counts) => counts,
        }
    }
}

/// Every matching document counted under each facet.
pub struct Tallies {
    /// Documents found (set by the pass that found them: a segment's counts may be sampled).
    pub total: u64,
    /// Whether the facets were counted for every document, not on a sample.
    pub exact: bool,
    kinds: HashMap<String, u64>,
    projects: IdMap,
    spaces: IdMap,
    statuses: HashMap<String, u64>,
    assignees: IdMap,
}

/// Hits per project, space and assignee over every segment of one search: ids mean the same
/// in every segment, so one array each serves them all (an array per segment, sized to the
/// largest id, cost more than a search finding a few thousand documents).
#[derive(Default)]
pub struct IdCounts {
    projects: Counter,
    spaces: Counter,
    assignees: Counter,
}

/// One column being counted; a text column by its ordinals.
struct Counted {
    column: Column<u64>,
    counter: Counter,
}

impl Counted {
    fn new(column: Column<u64>) -> Counted {
        let counter = Counter::for_values_up_to(column.max_value());
        Counted { column, counter }
    }

    fn of_text(column: &Option<StrColumn>) -> Option<Counted> {
        column.as_ref().map(|column| Counted::new(column.ords().clone()))
    }
}

pub struct SegmentTally<'a> {
    kind_names: Option<StrColumn>,
    status_names: Option<StrColumn>,
    kinds: Option<Counted>,
    statuses: Option<Counted>,
    /// The project, space and assignee columns, counted into `ids`.
    id_columns: [Column<u64>; 3],
    ids: &'a mut IdCounts,
    /// The values of a block of documents, read in one go: most facet columns are optional
    /// (a page has no status), and their rows are found for a whole block at once.
    block: ColumnBlockAccessor<u64>,
}

impl Default for Tallies {
    fn default() -> Tallies {
        Tallies {
            total: 0,
            exact: true,
            kinds: HashMap::new(),
            projects: IdMap::default(),
            spaces: IdMap::default(),
            statuses: HashMap::new(),
            assignees: IdMap::default(),
        }
    }
}

impl Tallies {
    /// Adds a segment's counts by type and status.
    pub fn add(&mut self, segment: Tallies) {
        for (into, from) in [(&mut self.kinds, segment.kinds), (&mut self.statuses, segment.statuses)] {
            for (name, n) in from {
                *into.entry(name).or_default() += n;
            }
        }
    }

    /// Takes in the search's counts by project, space and assignee.
    pub fn add_ids(&mut self, ids: IdCounts) {
        self.projects = ids.projects.into_counted();
        self.spaces = ids.spaces.into_counted();
        self.assignees = ids.assignees.into_counted();
    }
}

/// The counts by ordinal, by the names the ordinals stand for.
fn named(column: Option<StrColumn>, counted: Option<Counted>) -> HashMap<String, u64> {
    let (Some(column), Some(counted)) = (column, counted) else { return HashMap::new() };
    let mut names = HashMap::new();
    for (ord, n) in counted.counter.into_counted() {
        let mut name = String::new();
        if column.ord_to_str(ord, &mut name).unwrap_or(false) {
            names.insert(name, n);
        }
    }
    names
}

impl<'a> SegmentTally<'a> {
    pub fn open(columns: &FacetColumns, ids: &'a mut IdCounts) -> SegmentTally<'a> {
        let FacetColumns { kind, status, ids: id_columns } = columns.clone();
        for (counter, column) in [&mut ids.projects, &mut ids.spaces, &mut ids.assignees].into_iter().zip(&id_columns) {
            counter.fit(column.max_value());
        }
        SegmentTally {
            kinds: Counted::of_text(&kind),
            statuses: Counted::of_text(&status),
            kind_names: kind,
            status_names: status,
            id_columns,
            ids,
            block: ColumnBlockAccessor::default(),
        }
    }

    /// Counts `docs` (at most `COLLECT_BLOCK_BUFFER_LEN`), each standing for `weight` documents.
    pub fn collect_block(&mut self, docs: &[DocId], weight: u64) {
        let texts = [self.kinds.as_mut(), self.statuses.as_mut()].into_iter().flatten();
        let texts = texts.map(|counted| (&counted.column, &mut counted.counter));
        let ids = &mut *self.ids;
        let ids = self.id_columns.iter().zip([&mut ids.projects, &mut ids.spaces, &mut ids.assignees]);
        for (column, counter) in texts.chain(ids) {
            self.block.fetch_block(docs, column);
            for value in self.block.iter_vals() {
                counter.add(value, weight);
            }
        }
    }

    pub fn harvest(self) -> Tallies {
        Tallies {
            kinds: named(self.kind_names, self.kinds),
            statuses: named(self.status_names, self.statuses),
            ..Tallies::default()
        }
    }
}

/// The `FACET_VALUES` values with most hits, ties by value so the order is stable, and how
/// many more have hits.
fn ranked<T: Ord>(counts: impl IntoIterator<Item = (T, u64)>) -> Ranked<T> {
    let mut counts: Vec<(T, u64)> = counts.into_iter().collect();
    counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let more = counts.len().saturating_sub(FACET_VALUES);
    counts.truncate(FACET_VALUES);
    Ranked { values: counts, more }
}

impl Tallies {
    pub fn into_facet_counts(self) -> FacetCounts {
        let ids = |counts: IdMap| ranked(counts.into_iter().map(|(id, n)| (id as i64, n)));
        let mut kinds: Vec<(Kind, u64)> =
            self.kinds.into_iter().filter_map(|(name, n)| Some((Kind::parse(&name)?, n))).collect();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.as_str().cmp(b.0.as_str())));
        FacetCounts {
            kinds,
            projects: ids(self.projects),
            spaces: ids(self.spaces),
            statuses: ranked(self.statuses),
            assignees: ranked(self.assignees.into_iter().map(|(id, n)| ((id != UNASSIGNED).then_some(id as i64), n))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_facet_lists_the_values_with_most_hits_and_counts_the_rest() {
        let counts = (1..=25u64).map(|id| (id as i64, id % 7));
        let ranked = ranked(counts);
        assert_eq!(ranked.values.len(), FACET_VALUES);
        assert_eq!(ranked.values[..3], [(6, 6), (13, 6), (20, 6)], "most first, ties by value");
        assert_eq!(ranked.more, 25 - FACET_VALUES);
        let few = super::ranked([(Some(2), 1), (None, 3)]);
        assert_eq!((few.values, few.more), (vec![(None, 3), (Some(2), 1)], 0));
    }

    #[test]
    fn large_ids_are_counted_too() {
        let mut counter = Counter::for_values_up_to(u64::MAX);
        counter.add(u64::MAX - 1, 1);
        counter.add(u64::MAX - 1, 16);
        let mut small = Counter::for_values_up_to(9);
        small.add(9, 1);
        assert_eq!(counter.into_counted().get(&(u64::MAX - 1)), Some(&17));
        assert_eq!(small.into_counted().get(&9), Some(&1));
    }

    #[test]
    fn one_counter_grows_with_the_segments_of_a_search_keeping_its_counts() {
        let mut counter = Counter::for_values_up_to(9);
        counter.add(9, 2);
        counter.fit(20);
        counter.add(20, 1);
        counter.add(9, 1);
        counter.fit(ARRAY_COUNTED_BELOW);
        counter.add(ARRAY_COUNTED_BELOW, 5);
        let counted = counter.into_counted();
        assert_eq!((counted[&9], counted[&20], counted[&ARRAY_COUNTED_BELOW], counted.len()), (3, 1, 5, 3));
    }
}
