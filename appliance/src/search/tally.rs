//! Facet counts from columns: one pass over the matching documents, counting each document's
//! type, project, space, status and assignee by id. Tantivy's own facet collector turns every
//! counted value back into its path per segment, which costs most of a search once thousands
//! of assignees are counted; here only the few statuses and types are looked up by name.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use super::engine::{FacetCounts, Kind};

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

type Counts = HashMap<u64, u64, BuildHasherDefault<IdHasher>>;

/// The assignee column's value for an unassigned issue (ids start at 1).
pub const UNASSIGNED: u64 = 0;

#[derive(Default)]
pub struct Tallies {
    kinds: HashMap<String, u64>,
    projects: Counts,
    spaces: Counts,
    statuses: HashMap<String, u64>,
    assignees: Counts,
}

pub struct Tally;

pub struct SegmentTally {
    kind: Option<StrColumn>,
    status: Option<StrColumn>,
    project: Column<u64>,
    space: Column<u64>,
    assignee: Column<u64>,
    kind_counts: Vec<u64>,
    status_counts: Vec<u64>,
    projects: Counts,
    spaces: Counts,
    assignees: Counts,
}

impl Collector for Tally {
    type Fruit = Tallies;
    type Child = SegmentTally;

    fn for_segment(&self, _: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<SegmentTally> {
        let columns = reader.fast_fields();
        let kind = columns.str("kind")?;
        let status = columns.str("status")?;
        Ok(SegmentTally {
            kind_counts: vec![0; kind.as_ref().map_or(0, |column| column.num_terms())],
            status_counts: vec![0; status.as_ref().map_or(0, |column| column.num_terms())],
            kind,
            status,
            project: columns.u64("project")?,
            space: columns.u64("space")?,
            assignee: columns.u64("assignee")?,
            projects: Counts::default(),
            spaces: Counts::default(),
            assignees: Counts::default(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<Tallies>) -> tantivy::Result<Tallies> {
        let mut all = Tallies::default();
        for segment in segments {
            for (name, n) in segment.kinds {
                *all.kinds.entry(name).or_default() += n;
            }
            for (name, n) in segment.statuses {
                *all.statuses.entry(name).or_default() += n;
            }
            for (into, from) in [
                (&mut all.projects, segment.projects),
                (&mut all.spaces, segment.spaces),
                (&mut all.assignees, segment.assignees),
            ] {
                for (id, n) in from {
                    *into.entry(id).or_default() += n;
                }
            }
        }
        Ok(all)
    }
}

fn count_ord(column: &Option<StrColumn>, counts: &mut [u64], doc: DocId) {
    if let Some(ord) = column.as_ref().and_then(|column| column.ords().first(doc)) {
        if let Some(count) = counts.get_mut(ord as usize) {
            *count += 1;
        }
    }
}

fn named(column: Option<StrColumn>, counts: Vec<u64>) -> HashMap<String, u64> {
    let Some(column) = column else { return HashMap::new() };
    let mut names = HashMap::new();
    for (ord, n) in counts.into_iter().enumerate().filter(|(_, n)| *n > 0) {
        let mut name = String::new();
        if column.ord_to_str(ord as u64, &mut name).unwrap_or(false) {
            names.insert(name, n);
        }
    }
    names
}

impl SegmentCollector for SegmentTally {
    type Fruit = Tallies;

    fn collect(&mut self, doc: DocId, _: Score) {
        count_ord(&self.kind, &mut self.kind_counts, doc);
        count_ord(&self.status, &mut self.status_counts, doc);
        for (column, counts) in [
            (&self.project, &mut self.projects),
            (&self.space, &mut self.spaces),
            (&self.assignee, &mut self.assignees),
        ] {
            if let Some(value) = column.first(doc) {
                *counts.entry(value).or_default() += 1;
            }
        }
    }

    fn harvest(self) -> Tallies {
        Tallies {
            kinds: named(self.kind, self.kind_counts),
            statuses: named(self.status, self.status_counts),
            projects: self.projects,
            spaces: self.spaces,
            assignees: self.assignees,
        }
    }
}

/// Most first; ties by value, so the order is stable.
fn ranked<T: Ord + Clone>(counts: impl IntoIterator<Item = (T, u64)>) -> Vec<(T, u64)> {
    let mut counts: Vec<(T, u64)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

impl Tallies {
    pub fn into_facet_counts(self) -> FacetCounts {
        let ids = |counts: Counts| ranked(counts.into_iter().map(|(id, n)| (id as i64, n)));
        FacetCounts {
            kinds: ranked(self.kinds.into_iter().filter_map(|(name, n)| Some((Kind::parse(&name)?.as_str(), n))))
                .into_iter()
                .filter_map(|(name, n)| Some((Kind::parse(name)?, n)))
                .collect(),
            projects: ids(self.projects),
            spaces: ids(self.spaces),
            statuses: ranked(self.statuses),
            assignees: ranked(self.assignees.into_iter().map(|(id, n)| ((id != UNASSIGNED).then_some(id as i64), n))),
        }
    }
}
