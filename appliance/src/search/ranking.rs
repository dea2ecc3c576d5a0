//! The best hits of a search, in one of two ways:
//!
//! - `rank_and_count`, for a search that finds few documents: every match is scored, kept if
//!   among the best, and counted, in the one pass (a phrase is costly to match; matching it
//!   once for the count and again for the ranking doubled the time of such searches). Past a
//!   limit it stops scoring, counts the rest and reads the facets of a sample of them.
//! - `rank`, for a search that finds many: only the ranking, which lets Tantivy skip the
//!   blocks of documents that cannot score above the worst hit kept so far.
//!
//! Ties in score go to the document indexed first, as Tantivy's `TopDocs` does, so both ways
//! give the same page.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use tantivy::query::{Scorer, Weight};
use tantivy::{DocAddress, DocId, DocSet, Score, Searcher, COLLECT_BLOCK_BUFFER_LEN, TERMINATED};

use super::admission::Admission;
use super::engine::Effort;
use super::tally::{IdCounts, SegmentTally, Tallies};

#[derive(Clone, Copy, Debug)]
struct Candidate {
    score: Score,
    address: DocAddress,
}

/// Better first: the higher score, then the document indexed first.
impl Ord for Candidate {
    fn cmp(&self, other: &Candidate) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.address.cmp(&self.address))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Candidate) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Candidate) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

/// The `limit` best documents offered so far.
pub struct Best {
    limit: usize,
    /// The worst kept on top.
    kept: BinaryHeap<Reverse<Candidate>>,
}

impl Best {
    pub fn new(limit: usize) -> Best {
        Best { limit, kept: BinaryHeap::with_capacity(limit + 1) }
    }

    fn offer(&mut self, score: Score, address: DocAddress) {
        if self.limit == 0 {
            return;
        }
        let candidate = Candidate { score, address };
        if self.kept.len() < self.limit {
            self.kept.push(Reverse(candidate));
        } else if self.kept.peek().is_some_and(|Reverse(worst)| candidate > *worst) {
            self.kept.pop();
            self.kept.push(Reverse(candidate));
        }
    }

    /// The score a later document must beat to be kept. Documents are offered in the order
    /// they were indexed, so a later one with the score of the worst kept loses the tie.
    fn threshold(&self) -> Score {
        match self.kept.peek() {
            Some(Reverse(worst)) if self.kept.len() == self.limit => worst.score,
            _ => Score::MIN,
        }
    }

    /// The kept documents and their scores, best first, without the first `skip`.
    pub fn into_page(self, skip: usize) -> Vec<(Score, DocAddress)> {
        let mut kept: Vec<Candidate> = self.kept.into_iter().map(|Reverse(candidate)| candidate).collect();
        kept.sort_unstable_by(|a, b| b.cmp(a));
        kept.into_iter().skip(skip).map(|candidate| (candidate.score, candidate.address)).collect()
    }
}

/// What a counting pass found. The total is always exact.
pub enum Counted {
    /// Every match was counted under each facet; the best of them were kept.
    Exact(Best, Tallies),
    /// More than `Effort::exact_up_to` matched: past them, the facets were counted on a sample.
    Estimated(Tallies),
}

/// Scores and counts every document `weight` matches and `admission` admits, keeping the
/// `limit` best, until more than `effort.exact_up_to` are found; past them it only counts
/// them, following `counting` (the same query without scores, which reads no term
/// frequencies), and reads the facet columns of one match in `effort.every`, standing for
/// `every`.
/// Reading the columns was most of the cost of a search finding hundreds of thousands; taking
/// every n-th match, rather than windows of documents, keeps the estimate good for a project
/// whose documents sit together in the index.
pub fn rank_and_count(
    searcher: &Searcher,
    (weight, counting): (&dyn Weight, &dyn Weight),
    admission: &Admission,
    limit: usize,
    effort: &Effort,
) -> tantivy::Result<Counted> {
    let Effort { exact_up_to, every } = *effort;
    let every = every.max(1);
    let mut best = Best::new(limit);
    let mut tallies = Tallies::default();
    let mut ids = IdCounts::default();
    let mut found: u64 = 0;
    for (ordinal, reader) in searcher.segment_readers().iter().enumerate() {
        let segment_ord = ordinal as u32;
        let admitted = admission.for_segment(reader)?;
        let mut tally = SegmentTally::open(reader, &mut ids)?;
        let mut block = Block { docs: Vec::with_capacity(COLLECT_BLOCK_BUFFER_LEN), stands_for: 1 };
        let mut scoring = found <= exact_up_to;
        let mut scorer = if scoring { weight } else { counting }.scorer(reader, 1.0)?;
        let mut doc = scorer.doc();
        while doc != TERMINATED {
            if admitted.admits(doc) {
                found += 1;
                if found <= exact_up_to {
                    best.offer(scorer.score(), DocAddress { segment_ord, doc_id: doc });
                    block.push(&mut tally, doc, 1);
                } else if found.is_multiple_of(every) {
                    block.push(&mut tally, doc, every);
                }
            }
            if scoring && found > exact_up_to {
                scoring = false;
                scorer = counting.scorer(reader, 1.0)?;
                doc = if scorer.doc() > doc { scorer.doc() } else { scorer.seek(doc + 1) };
                continue;
            }
            doc = scorer.advance();
        }
        block.flush(&mut tally);
        tallies.add(tally.harvest());
    }
    tallies.add_ids(ids);
    tallies.total = found;
    tallies.exact = found <= exact_up_to;
    Ok(if tallies.exact { Counted::Exact(best, tallies) } else { Counted::Estimated(tallies) })
}

/// Documents waiting to be counted, each standing for `stands_for`.
struct Block {
    docs: Vec<DocId>,
    stands_for: u64,
}

impl Block {
    fn push(&mut self, tally: &mut SegmentTally, doc: DocId, stands_for: u64) {
        if stands_for != self.stands_for {
            self.flush(tally);
            self.stands_for = stands_for;
        }
        self.docs.push(doc);
        if self.docs.len() == COLLECT_BLOCK_BUFFER_LEN {
            self.flush(tally);
        }
    }

    fn flush(&mut self, tally: &mut SegmentTally) {
        tally.collect_block(&self.docs, self.stands_for);
        self.docs.clear();
    }
}

/// The `limit` best documents `weight` matches, `admission` admits and each of `required`
/// matches too, scoring only those that may still beat the worst one kept.
pub fn rank(
    searcher: &Searcher,
    weight: &dyn Weight,
    admission: &Admission,
    required: &[Box<dyn Weight>],
    limit: usize,
) -> tantivy::Result<Best> {
    let mut best = Best::new(limit);
    for (ordinal, reader) in searcher.segment_readers().iter().enumerate() {
        let segment_ord = ordinal as u32;
        let admitted = admission.for_segment(reader)?;
        let mut holders = required.iter().map(|part| part.scorer(reader, 1.0)).collect::<tantivy::Result<Vec<_>>>()?;
        weight.for_each_pruning(best.threshold(), reader, &mut |doc, score| {
            let kept = admitted.admits(doc) && holders.iter_mut().all(|holder| holds(holder.as_mut(), doc));
            if kept {
                best.offer(score, DocAddress { segment_ord, doc_id: doc });
            }
            best.threshold()
        })?;
    }
    Ok(best)
}

/// Whether `scorer` matches `doc`; it is asked about documents in increasing order.
fn holds(scorer: &mut dyn Scorer, doc: DocId) -> bool {
    let at = if scorer.doc() < doc { scorer.seek(doc) } else { scorer.doc() };
    at == doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_are_kept_ties_going_to_the_document_indexed_first() {
        let at = |doc_id| DocAddress { segment_ord: 0, doc_id };
        let mut best = Best::new(3);
        for (doc, score) in [(0, 1.0), (1, 5.0), (2, 3.0), (3, 5.0), (4, 0.5), (5, 3.0), (6, 4.0)] {
            best.offer(score, at(doc));
        }
        assert_eq!(best.threshold(), 4.0);
        assert_eq!(
            best.into_page(1),
            vec![(5.0, at(3)), (4.0, at(6))],
            "5.0 (doc 1), 5.0 (doc 3), 4.0; the first skipped"
        );
        let mut none = Best::new(0);
        none.offer(1.0, at(0));
        assert!(none.into_page(0).is_empty());
    }
}
