//! Which documents a search finds, as one bit per document of each segment. Each part of the
//! search, the reader's scope and each filter is read as whole posting lists ORed into bits;
//! the bits of all of them are ANDed, and the total is a count of ones.
//!
//! Why: counting a common word match by match through Tantivy's union scorer, and checking
//! each match's scope on its columns, was most of a search's time (perf of `deploy` on the
//! million-issue benchmark: 60%). A posting list read a block of 128 documents at a time costs
//! about a nanosecond a document; the bits then also admit a ranked candidate in one test.

use std::sync::Arc;

use tantivy::postings::BlockSegmentPostings;
use tantivy::query::{EnableScoring, Weight};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, Searcher, SegmentReader, Term};
use tantivy_common::BitSet;

use super::plan::Matching;
use super::segments::{FacetColumns, Kept, SegmentCache, Wanted};

/// A set of a segment's documents.
pub struct Bits {
    words: Vec<u64>,
}

impl Bits {
    fn none(max_doc: DocId) -> Bits {
        Bits { words: vec![0; (max_doc as usize).div_ceil(64)] }
    }

    fn insert(&mut self, doc: DocId) {
        self.words[doc as usize / 64] |= 1 << (doc % 64);
    }

    pub fn contains(&self, doc: DocId) -> bool {
        self.words.get(doc as usize / 64).is_some_and(|word| word & (1 << (doc % 64)) != 0)
    }

    pub fn count(&self) -> u64 {
        self.words.iter().map(|word| u64::from(word.count_ones())).sum()
    }

    fn is_empty(&self) -> bool {
        self.words.iter().all(|word| *word == 0)
    }

    fn keep_also_in(&mut self, other: &Bits) {
        for (word, other) in self.words.iter_mut().zip(&other.words) {
            *word &= other;
        }
    }

    fn add_all_of(&mut self, other: &Bits) {
        for (word, other) in self.words.iter_mut().zip(&other.words) {
            *word |= other;
        }
    }

    fn add_postings(&mut self, mut postings: BlockSegmentPostings) {
        loop {
            let docs = postings.docs();
            if docs.is_empty() {
                return;
            }
            for doc in docs {
                self.insert(*doc);
            }
            postings.advance();
        }
    }

    /// The documents in increasing order.
    pub fn docs(&self) -> impl Iterator<Item = DocId> + '_ {
        self.words.iter().enumerate().flat_map(|(at, word)| ones(*word).map(move |bit| (at * 64) as DocId + bit))
    }

    /// Every `every`-th document, counting on from `seen` documents already passed over in
    /// earlier segments: the n-th document is taken when n is a multiple of `every`. Only the
    /// words holding a taken document are looked into.
    pub fn every_nth(&self, every: u64, seen: u64) -> Vec<DocId> {
        let mut taken = Vec::new();
        let mut seen = seen;
        let mut next = (seen / every + 1) * every;
        for (at, word) in self.words.iter().enumerate() {
            let ones_here = u64::from(word.count_ones());
            // The ones of this word not yet passed over, and how many were before them.
            let (mut rest, mut before) = (*word, seen);
            while seen + ones_here >= next {
                for _ in 1..next - before {
                    rest &= rest - 1;
                }
                taken.push((at * 64) as DocId + rest.trailing_zeros());
                rest &= rest - 1;
                before = next;
                next += every;
            }
            seen += ones_here;
        }
        taken
    }
}

/// The positions of a word's ones, lowest first.
fn ones(mut word: u64) -> impl Iterator<Item = DocId> {
    std::iter::from_fn(move || {
        (word != 0).then(|| {
            let bit = word.trailing_zeros();
            word &= word - 1;
            bit
        })
    })
}

/// The documents of each segment that a search finds, in the searcher's segment order, and
/// what is kept of each segment.
pub struct Found {
    segments: Vec<SegmentFound>,
    pub total: u64,
}

struct SegmentFound {
    bits: Bits,
    kept: Arc<Kept>,
    /// For the search's first `Matching::Prefix`, the documents holding the beginning in each
    /// of its fields, in its order (deleted ones included): what ranking a beginning scores.
    beginning: Vec<Arc<Bits>>,
}

impl Found {
    /// The documents alive in each segment that every one of `must` matches.
    pub fn of(searcher: &Searcher, must: &[Matching], cache: &SegmentCache) -> tantivy::Result<Found> {
        let readings = (must.iter())
            .map(|matching| {
                Ok(match matching {
                    Matching::AnyTerm(terms) => Reading::AnyTerm(terms),
                    Matching::Facets(terms) => Reading::Facets(terms),
                    Matching::Prefix(beginnings) => Reading::Prefix(beginnings),
                    Matching::Query(query) => {
                        Reading::Weight(query.weight(EnableScoring::disabled_from_searcher(searcher))?)
                    }
                })
            })
            .collect::<tantivy::Result<Vec<_>>>()?;
        let mut segments = Vec::with_capacity(searcher.segment_readers().len());
        for (reader, kept) in searcher.segment_readers().iter().zip(cache.of(searcher)?) {
            segments.push(segment_found(reader, &readings, kept)?);
        }
        let total = segments.iter().map(|segment| segment.bits.count()).sum();
        Ok(Found { segments, total })
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    pub fn in_segment(&self, ordinal: usize) -> &Bits {
        &self.segments[ordinal].bits
    }

    pub fn columns(&self, ordinal: usize) -> &FacetColumns {
        &self.segments[ordinal].kept.columns
    }

    /// The documents of a segment holding the search's (first) beginning, field by field in
    /// the order of its `Matching::Prefix` terms; none when a search ended early in the segment.
    pub fn beginning_in_segment(&self, ordinal: usize) -> &[Arc<Bits>] {
        &self.segments[ordinal].beginning
    }
}

/// A `Matching` made ready for reading segments.
enum Reading<'a> {
    AnyTerm(&'a [Term]),
    Facets(&'a [Term]),
    Prefix(&'a [Term]),
    Weight(Box<dyn Weight>),
}

fn segment_found(reader: &SegmentReader, readings: &[Reading], kept: Arc<Kept>) -> tantivy::Result<SegmentFound> {
    let mut found: Option<Bits> = None;
    let mut beginning: Option<Vec<Arc<Bits>>> = None;
    for reading in readings {
        // Bits read for this search, or kept for the segment (a scope's, a filter's, a common word's
        // or beginning's).
        let (read, kept_bits);
        let matched: &Bits = match reading {
            Reading::AnyTerm(terms) if common(reader, terms)? => {
                kept_bits = kept.holding(reader, Wanted::AnyOf(terms))?;
                &kept_bits
            }
            Reading::AnyTerm(terms) => {
                read = holding_any(reader, terms)?;
                &read
            }
            Reading::Facets(terms) => {
                kept_bits = kept.holding(reader, Wanted::AnyOf(terms))?;
                &kept_bits
            }
            Reading::Prefix(beginnings) => {
                let fields = (beginnings.iter())
                    .map(|beginning| kept.holding(reader, Wanted::Beginning(beginning)))
                    .collect::<tantivy::Result<Vec<_>>>()?;
                let mut any = Bits::none(reader.max_doc());
                fields.iter().for_each(|field| any.add_all_of(field));
                beginning.get_or_insert(fields);
                read = any;
                &read
            }
            Reading::Weight(weight) => {
                let mut bits = Bits::none(reader.max_doc());
                weight.for_each_no_score(reader, &mut |docs| docs.iter().for_each(|doc| bits.insert(*doc)))?;
                read = bits;
                &read
            }
        };
        let found = found.get_or_insert_with(|| Bits { words: vec![u64::MAX; matched.words.len()] });
        found.keep_also_in(matched);
        if found.is_empty() {
            break;
        }
    }
    let mut found = found.unwrap_or_else(|| Bits::none(reader.max_doc()));
    if let Some(alive) = reader.alive_bitset() {
        // Word by word: checking each document found cost more than finding them (perf).
        let mut alive_words = BitSet::with_max_value_and_full(reader.max_doc());
        alive_words.intersect_update(alive.bitset());
        for (bucket, word) in found.words.iter_mut().enumerate() {
            *word &= u64::from_le_bytes(alive_words.tinyset(bucket as u32).into_bytes());
        }
    }
    Ok(SegmentFound { bits: found, kept, beginning: beginning.unwrap_or_default() })
}

/// A word (or a beginning) is common in a segment when one document in this many holds it.
pub(super) const COMMON_IN_ONE_OF: u32 = 64;

/// Whether `terms` are held by so many of the segment's documents that reading them costs
/// more than keeping their bits (`Kept::holding`) for the next search.
fn common(reader: &SegmentReader, terms: &[Term]) -> tantivy::Result<bool> {
    let mut holding = 0;
    for term in terms {
        holding += reader.inverted_index(term.field())?.doc_freq(term)?;
    }
    Ok(holding >= reader.max_doc() / COMMON_IN_ONE_OF)
}

/// The documents holding any of `terms` (of any fields).
pub(super) fn holding_any(reader: &SegmentReader, terms: &[Term]) -> tantivy::Result<Bits> {
    let mut bits = Bits::none(reader.max_doc());
    for term in terms {
        let postings = reader.inverted_index(term.field())?.read_block_postings(term, IndexRecordOption::Basic)?;
        if let Some(postings) = postings {
            bits.add_postings(postings);
        }
    }
    Ok(bits)
}

/// The documents holding a term of `beginning`'s field that begins with its text.
pub(super) fn holding_a_term_beginning(reader: &SegmentReader, beginning: &Term) -> tantivy::Result<Bits> {
    let mut bits = Bits::none(reader.max_doc());
    let index = reader.inverted_index(beginning.field())?;
    let prefix = beginning.serialized_value_bytes();
    let mut terms = index.terms().range().ge(prefix).into_stream()?;
    while terms.advance() && terms.key().starts_with(prefix) {
        bits.add_postings(index.read_block_postings_from_terminfo(terms.value(), IndexRecordOption::Basic)?);
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(docs: &[DocId], max_doc: DocId) -> Bits {
        let mut bits = Bits::none(max_doc);
        docs.iter().for_each(|doc| bits.insert(*doc));
        bits
    }

    #[test]
    fn documents_come_back_in_order_and_are_counted() {
        let found = bits(&[0, 3, 63, 64, 65, 190, 199], 200);
        assert_eq!(found.docs().collect::<Vec<_>>(), [0, 3, 63, 64, 65, 190, 199]);
        assert_eq!(found.count(), 7);
        assert!(found.contains(63) && !found.contains(62) && !found.contains(10_000));
        let mut both = bits(&[3, 64, 100], 200);
        both.keep_also_in(&found);
        assert_eq!(both.docs().collect::<Vec<_>>(), [3, 64]);
    }

    #[test]
    fn every_nth_document_is_taken_counting_on_across_segments() {
        let docs: Vec<DocId> = (0..300).filter(|doc| doc % 3 != 0).collect();
        let found = bits(&docs, 300);
        let expected: Vec<DocId> = docs.iter().copied().skip(4).step_by(5).collect();
        assert_eq!(found.every_nth(5, 0), expected);
        // Three documents were seen before: the 2nd here is the 5th in all.
        let expected: Vec<DocId> = docs.iter().copied().skip(1).step_by(5).collect();
        assert_eq!(found.every_nth(5, 3), expected);
        assert_eq!(found.every_nth(1, 0), docs);
    }
}
