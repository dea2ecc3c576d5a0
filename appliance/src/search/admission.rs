//! Whether a document may be listed, read from its columns: the reader's scope and the
//! search's filters, the same rules the facet clauses of the query express.
//!
//! Ranking a big result set leaves those clauses out of the query, because Tantivy skips
//! hopeless blocks of documents (block-max WAND) only for a query of words alone; each
//! candidate is admitted here instead. Counting passes use it for a wide scope, whose facet
//! clause would cost a read of most of the index per search.

use std::ops::Range;

use chrono::NaiveDate;
use tantivy::columnar::Column;
use tantivy::fastfield::AliveBitSet;
use tantivy::{DocId, SegmentReader};

use super::engine::{Filters, Scope};
use super::tally::UNASSIGNED;

/// The admission rules of one search, for any segment.
pub struct Admission<'a> {
    pub scope: &'a Scope,
    pub filters: &'a Filters,
}

/// A column and the values a document must hold in it (any of them).
struct Wanted {
    column: Column<u64>,
    values: Vec<u64>,
}

impl Wanted {
    fn holds(&self, doc: DocId) -> bool {
        self.column.first(doc).is_some_and(|value| self.values.binary_search(&value).is_ok())
    }
}

/// Whether a document of one segment may be listed: not deleted, and within the rules.
pub struct SegmentAdmission<'r> {
    alive: Option<&'r AliveBitSet>,
    /// `None` when the search has no scope or filter to check.
    rules: Option<Rules>,
}

/// The rules of one search read against one segment's columns.
struct Rules {
    /// Nothing in the segment can be admitted (a filter value the segment does not hold).
    none: bool,
    /// Each must hold; an empty list admits every document.
    all_of: Vec<Wanted>,
    /// The scope: a document in one of the projects or in one of the spaces.
    scope: Option<(Wanted, Wanted)>,
    /// Seconds since the epoch, the end excluded.
    updated: Option<(Column<tantivy::DateTime>, Range<i64>)>,
}

fn day_start(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp()
}

impl Admission<'_> {
    pub fn for_segment<'r>(&self, reader: &'r SegmentReader) -> tantivy::Result<SegmentAdmission<'r>> {
        let checked = !matches!(self.scope, Scope::Everything) || self.filters.any();
        let rules = if checked { Some(self.rules(reader)?) } else { None };
        Ok(SegmentAdmission { alive: reader.alive_bitset(), rules })
    }

    fn rules(&self, reader: &SegmentReader) -> tantivy::Result<Rules> {
        let columns = reader.fast_fields();
        let mut admission = Rules { none: false, all_of: Vec::new(), scope: None, updated: None };
        let sorted = |values: &[i64]| {
            let mut values: Vec<u64> = values.iter().map(|id| *id as u64).collect();
            values.sort_unstable();
            values
        };
        if let Scope::Only { projects, spaces } = self.scope {
            admission.scope = Some((
                Wanted { column: columns.u64("project")?, values: sorted(projects) },
                Wanted { column: columns.u64("space")?, values: sorted(spaces) },
            ));
        }
        let filters = self.filters;
        for (name, text) in [("kind", filters.kind.map(|kind| kind.as_str())), ("status", filters.status.as_deref())] {
            let Some(text) = text else { continue };
            let ordinal = match columns.str(name)? {
                Some(column) => column.dictionary().term_ord(text)?.map(|ord| (column.ords().clone(), ord)),
                None => None,
            };
            match ordinal {
                Some((column, ord)) => admission.all_of.push(Wanted { column, values: vec![ord] }),
                None => admission.none = true,
            }
        }
        let ids = [
            ("project", filters.project_id.map(|id| id as u64)),
            ("space", filters.space_id.map(|id| id as u64)),
            ("assignee", filters.assignee_id.map(|assignee| assignee.map_or(UNASSIGNED, |id| id as u64))),
        ];
        for (name, id) in ids {
            if let Some(id) = id {
                admission.all_of.push(Wanted { column: columns.u64(name)?, values: vec![id] });
            }
        }
        if filters.updated_from.is_some() || filters.updated_to.is_some() {
            let from = filters.updated_from.map_or(i64::MIN, day_start);
            let to = filters.updated_to.and_then(|date| date.succ_opt()).map_or(i64::MAX, day_start);
            admission.updated = Some((columns.date("updated")?, from..to));
        }
        Ok(admission)
    }
}

impl SegmentAdmission<'_> {
    pub fn admits(&self, doc: DocId) -> bool {
        self.alive.is_none_or(|alive| alive.is_alive(doc)) && self.rules.as_ref().is_none_or(|rules| rules.admit(doc))
    }
}

impl Rules {
    fn admit(&self, doc: DocId) -> bool {
        if self.none || !self.all_of.iter().all(|wanted| wanted.holds(doc)) {
            return false;
        }
        if let Some((projects, spaces)) = &self.scope {
            if !projects.holds(doc) && !spaces.holds(doc) {
                return false;
            }
        }
        match &self.updated {
            Some((column, range)) => {
                column.first(doc).is_some_and(|updated| range.contains(&updated.into_timestamp_secs()))
            }
            None => true,
        }
    }
}
