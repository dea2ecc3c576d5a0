//! The best hits of the documents a search found (`found`), and their facet counts, in one of
//! two ways:
//!
//! - `rank_and_count_all`, for a search that found few: each document found is scored (its
//!   scorer sent straight to it), kept if among the best, and counted under every facet.
//! - `rank` and `count_sample`, for a search that found many: only the ranking, which lets
//!   Tantivy skip the blocks of documents that cannot score above the worst hit kept so far,
//!   and the facets of a sample. One word's beginning, whose scores are a few constants, is
//!   ranked by `rank_by_beginning` instead.
//!
//! Ties in score go to the document indexed first, as Tantivy's `TopDocs` does, so both ways
//! give the same page.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use tantivy::query::Weight;
use tantivy::{DocAddress, DocId, DocSet, Score, Searcher, COLLECT_BLOCK_BUFFER_LEN};

use super::found::Found;
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

/// Scores every document found (at most `Effort::exact_up_to` of them) as the sum of the
/// scores of the `scored` queries matching it, keeping the `limit` best, and counts each under
/// every facet.
pub fn rank_and_count_all(
    searcher: &Searcher,
    scored: &[Box<dyn Weight>],
    found: &Found,
    limit: usize,
) -> tantivy::Result<(Best, Tallies)> {
    let mut best = Best::new(limit);
    let mut tallies = Tallies::default();
    let mut ids = IdCounts::default();
    for (ordinal, reader) in searcher.segment_readers().iter().enumerate() {
        let docs: Vec<DocId> = found.in_segment(ordinal).docs().collect();
        if docs.is_empty() {
            continue;
        }
        let mut scorers =
            scored.iter().map(|weight| weight.scorer(reader, 1.0)).collect::<tantivy::Result<Vec<_>>>()?;
        for doc in &docs {
            let mut score = 0.0;
            for scorer in &mut scorers {
                let at = if scorer.doc() < *doc { scorer.seek(*doc) } else { scorer.doc() };
                if at == *doc {
                    score += scorer.score();
                }
            }
            best.offer(score, DocAddress { segment_ord: ordinal as u32, doc_id: *doc });
        }
        let mut tally = SegmentTally::open(found.columns(ordinal), &mut ids);
        tally_all(&mut tally, &docs, 1);
        tallies.add(tally.harvest());
    }
    tallies.add_ids(ids);
    tallies.total = found.total;
    tallies.exact = true;
    Ok((best, tallies))
}

/// Counts one document found in `every` under each facet, standing for `every`: the same
/// documents every time, so a search repeated on an unchanged index gives the same figures.
/// Reading the columns was most of the cost of a search finding hundreds of thousands; taking
/// every n-th document found, rather than windows of documents, keeps the estimate good for a
/// project whose documents sit together in the index.
pub fn count_sample(found: &Found, every: u64) -> Tallies {
    let every = every.max(1);
    let mut tallies = Tallies::default();
    let mut ids = IdCounts::default();
    let mut seen = 0;
    for ordinal in 0..found.segment_count() {
        let bits = found.in_segment(ordinal);
        let mut tally = SegmentTally::open(found.columns(ordinal), &mut ids);
        tally_all(&mut tally, &bits.every_nth(every, seen), every);
        tallies.add(tally.harvest());
        seen += bits.count();
    }
    tallies.add_ids(ids);
    tallies.total = found.total;
    tallies.exact = false;
    tallies
}

fn tally_all(tally: &mut SegmentTally, docs: &[DocId], stands_for: u64) {
    for block in docs.chunks(COLLECT_BLOCK_BUFFER_LEN) {
        tally.collect_block(block, stands_for);
    }
}

/// The `limit` best documents found, each scoring the sum of the `scores` of the fields it
/// holds the search's beginning in (`Found::beginning_in_segment`, in the same order).
/// Documents are read in order and ties go to the first, so once every document kept has the
/// highest score possible, no later one can enter.
pub fn rank_by_beginning(found: &Found, scores: &[Score], limit: usize) -> Best {
    let highest: Score = scores.iter().sum();
    let mut best = Best::new(limit);
    for ordinal in 0..found.segment_count() {
        let holding = found.beginning_in_segment(ordinal);
        for doc in found.in_segment(ordinal).docs() {
            let score = holding.iter().zip(scores).filter(|(bits, _)| bits.contains(doc)).map(|(_, score)| score).sum();
            best.offer(score, DocAddress { segment_ord: ordinal as u32, doc_id: doc });
            if best.threshold() >= highest {
                return best;
            }
        }
    }
    best
}

/// The `limit` best documents found that `weight` matches, scoring only those that may still
/// beat the worst one kept.
pub fn rank(searcher: &Searcher, weight: &dyn Weight, found: &Found, limit: usize) -> tantivy::Result<Best> {
    let mut best = Best::new(limit);
    for (ordinal, reader) in searcher.segment_readers().iter().enumerate() {
        let segment_ord = ordinal as u32;
        let admitted = found.in_segment(ordinal);
        weight.for_each_pruning(best.threshold(), reader, &mut |doc, score| {
            if admitted.contains(doc) {
                best.offer(score, DocAddress { segment_ord, doc_id: doc });
            }
            best.threshold()
        })?;
    }
    Ok(best)
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
