//! What one search asks of Tantivy: the query counting passes read (the words, the filters
//! and a narrow scope, each filter scoring zero) and the query ranking reads (the words alone,
//! in the shape Tantivy can rank with block skipping).

use std::collections::HashSet;
use std::ops::Bound;

use chrono::NaiveDate;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery,
    TermSetQuery,
};
use tantivy::schema::{Facet, Field, IndexRecordOption};
use tantivy::{Score, Searcher, Term};

use super::engine::{assignee_facet, facet, Filters, Scope};
use super::query::Part;
use super::schema::{self, Fields};

/// How much more a match in the title or the key counts than one in the body.
const TITLE_BOOST: f32 = 3.0;
const KEY_BOOST: f32 = 6.0;
/// A typo match counts less than the word as typed.
const TYPO_WEIGHT: f32 = 0.4;
/// A scope of at most this many projects and spaces is also a clause of the narrowed query,
/// which ranks a search that a filter or the scope makes selective; a wider scope would cost
/// that query more to read (Tantivy's term set) than it saves.
const NARROW_SCOPE_PLACES: usize = 16;
/// A filter is selective when it admits less than this fraction (1/n) of the index.
const SELECTIVE_BELOW: u64 = 16;

/// The fields a word's beginning is looked for in, and what a document holding it there
/// scores: Tantivy scores a term matched by its beginning with the query's boost alone.
fn beginning_scores(fields: &Fields) -> [(Field, Score); 2] {
    [(fields.title, TITLE_BOOST), (fields.body, 1.0)]
}

/// The queries of one search.
pub struct Plan {
    /// What the words ask for, alone, for ranking. When the search is two plain words, this
    /// is the union of all their field terms, which Tantivy ranks with block skipping (the
    /// documents found hold both words: a document holding every part scores the same under
    /// the union as under the parts' intersection, the sum of its matching terms' scores).
    pub words: Box<dyn Query>,
    /// The queries, one per part and field, whose scores add up to a found document's score
    /// under `words`: read one by one, each is sent straight to the documents found (a union
    /// scorer sent to a document reads its neighbours too, and a phrase's costly positions).
    pub scored: Vec<Box<dyn Query>>,
    /// When the search is one word's beginning: what a document holding it scores in each
    /// field, in the order of its `Matching::Prefix` terms. Such scores are a handful of
    /// constants, so ranking reads the documents found in order and stops once it holds
    /// enough of the best score.
    pub beginning: Option<[Score; 2]>,
    /// The words, the filters and a narrow scope: ranking reads it when a filter is selective.
    pub narrowed: BooleanQuery,
    /// The facet terms of each filter clause of `narrowed` (a document holds one of them).
    narrowing: Vec<Vec<Term>>,
    /// What a document found matches, every one of them: each part, the scope, each filter.
    pub must: Vec<Matching>,
}

/// One condition on the documents found, in the form cheapest to read whole (`found`).
pub enum Matching {
    /// Any of these terms: a word as typed, in the title or the body; a two-word phrase.
    AnyTerm(Vec<Term>),
    /// Any of these facet terms: the projects and spaces of a reader's scope, or a filter's
    /// value, asked for search after search (their documents are kept per segment).
    Facets(Vec<Term>),
    /// A term beginning with one of these, each in its own field.
    Prefix(Vec<Term>),
    /// Whatever the query matches: a word also with typos, a phrase, a key, a date range.
    Query(Box<dyn Query>),
}

impl Plan {
    /// Whether a filter clause admits so little of the index that following its documents
    /// beats skipping blocks of the words' documents.
    pub fn selective(&self, searcher: &Searcher) -> tantivy::Result<bool> {
        let documents = searcher.num_docs();
        for terms in &self.narrowing {
            let mut holding = 0;
            for term in terms {
                holding += searcher.doc_freq(term)?;
            }
            if holding * SELECTIVE_BELOW < documents {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The queries, or `None` when the scope allows nothing at all. Filter clauses score zero,
/// so a document scores the same under both queries.
pub fn build(
    fields: &Fields,
    (parsed, typos): (&[Part], &HashSet<String>),
    filters: &Filters,
    scope: &Scope,
) -> Option<Plan> {
    let leaves: Vec<Vec<Box<dyn Query>>> = parsed.iter().map(|part| part_leaves(fields, part, typos)).collect();
    let parts: Vec<Box<dyn Query>> = leaves.iter().map(|leaves| part_query(leaves)).collect();
    let plain_words: Option<Vec<&String>> = parsed
        .iter()
        .map(|part| match part {
            Part::Word(word) if !typos.contains(word) => Some(word),
            _ => None,
        })
        .collect();
    let words: Box<dyn Query> = match plain_words {
        // Measured on the million-issue index: two common words rank in half the time this
        // way; three ranked slower than by intersection (their union is far larger than the
        // documents holding all three), so they keep the intersection.
        Some(plain) if plain.len() == 2 => {
            let terms = plain.into_iter().flat_map(|word| field_terms(fields, word));
            Box::new(BooleanQuery::new(terms.map(|term| (Occur::Should, term)).collect()))
        }
        _ if parts.len() == 1 => parts[0].box_clone(),
        _ => Box::new(BooleanQuery::new(parts.iter().map(|part| (Occur::Must, part.box_clone())).collect())),
    };
    let mut must: Vec<Matching> = (parsed.iter().zip(&parts))
        .map(|(part, query)| match part {
            Part::Word(word) if !typos.contains(word) => {
                Matching::AnyTerm([fields.title, fields.body].map(|field| Term::from_field_text(field, word)).into())
            }
            Part::Prefix(prefix) => {
                Matching::Prefix(beginning_scores(fields).map(|(field, _)| Term::from_field_text(field, prefix)).into())
            }
            Part::Phrase(words) if words.len() == 2 => Matching::AnyTerm(
                [fields.title_pairs, fields.body_pairs]
                    .map(|field| Term::from_field_text(field, &schema::pair(&words[0], &words[1])))
                    .into(),
            ),
            _ => Matching::Query(query.box_clone()),
        })
        .collect();
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = parts.into_iter().map(|part| (Occur::Must, part)).collect();
    let mut narrowing: Vec<Vec<Term>> = Vec::new();
    let mut narrow_to = |query: Box<dyn Query>| clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(query, 0.0))));
    if let Scope::Only { projects, spaces } = scope {
        if projects.is_empty() && spaces.is_empty() {
            return None;
        }
        let allowed: Vec<Term> = projects
            .iter()
            .map(|id| facet(&["project", &id.to_string()]))
            .chain(spaces.iter().map(|id| facet(&["space", &id.to_string()])))
            .map(|facet| Term::from_facet(fields.facets, &facet))
            .collect();
        if allowed.len() <= NARROW_SCOPE_PLACES {
            narrowing.push(allowed.clone());
            narrow_to(Box::new(TermSetQuery::new(allowed.clone())));
        }
        must.push(Matching::Facets(allowed));
    }
    let mut must_have = |facet: Facet| {
        let term = Term::from_facet(fields.facets, &facet);
        narrowing.push(vec![term.clone()]);
        must.push(Matching::Facets(vec![term.clone()]));
        narrow_to(Box::new(TermQuery::new(term, IndexRecordOption::Basic)));
    };
    if let Some(kind) = filters.kind {
        must_have(facet(&["type", kind.as_str()]));
    }
    if let Some(id) = filters.project_id {
        must_have(facet(&["project", &id.to_string()]));
    }
    if let Some(id) = filters.space_id {
        must_have(facet(&["space", &id.to_string()]));
    }
    if let Some(status) = &filters.status {
        must_have(facet(&["status", status]));
    }
    if let Some(assignee) = filters.assignee_id {
        must_have(assignee_facet(assignee));
    }
    if filters.updated_from.is_some() || filters.updated_to.is_some() {
        let day = |date: NaiveDate| {
            let start = date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp();
            // Tantivy keeps nanoseconds in an i64 (years 1678 to 2262); days beyond that range
            // are clamped to it, which changes no answer, since nothing was changed then.
            let seconds = start.clamp(i64::MIN / 1_000_000_000 + 1, i64::MAX / 1_000_000_000 - 1);
            Term::from_field_date(fields.updated, tantivy::DateTime::from_timestamp_secs(seconds))
        };
        let lower = filters.updated_from.map_or(Bound::Unbounded, |date| Bound::Included(day(date)));
        let upper = filters
            .updated_to
            .and_then(|date| date.succ_opt())
            .map_or(Bound::Unbounded, |date| Bound::Excluded(day(date)));
        let range: Box<dyn Query> = Box::new(RangeQuery::new(lower, upper));
        must.push(Matching::Query(range.box_clone()));
        narrow_to(range);
    }
    let scored = leaves.into_iter().flatten().collect();
    let beginning = match parsed {
        [Part::Prefix(_)] => Some(beginning_scores(fields).map(|(_, score)| score)),
        _ => None,
    };
    Some(Plan { words, scored, beginning, narrowed: BooleanQuery::new(clauses), narrowing, must })
}

fn boosted(query: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(query, boost))
}

fn term(field: Field, word: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, word), IndexRecordOption::WithFreqs))
}

/// A phrase in one field, as its word pairs (`schema::PairTokenizer`), which score it; past two
/// words also as positions, checked only where every pair is (`Intersection` reads the
/// rarest first), since pairs need not follow one another.
fn phrase((words_field, pairs_field): (Field, Field), words: &[String]) -> Box<dyn Query> {
    let mut pairs: Vec<Box<dyn Query>> =
        words.windows(2).map(|two| term(pairs_field, &schema::pair(&two[0], &two[1]))).collect();
    if pairs.len() == 1 {
        return pairs.remove(0);
    }
    let positions = PhraseQuery::new(words.iter().map(|word| Term::from_field_text(words_field, word)).collect());
    pairs.push(Box::new(ConstScoreQuery::new(Box::new(positions), 0.0)));
    Box::new(BooleanQuery::new(pairs.into_iter().map(|query| (Occur::Must, query)).collect()))
}

/// A word in the title (counting more) or in the body.
fn field_terms(fields: &Fields, word: &str) -> [Box<dyn Query>; 2] {
    [boosted(term(fields.title, word), TITLE_BOOST), term(fields.body, word)]
}

/// A phrase in the title (counting more) or in the body.
fn field_phrases(fields: &Fields, words: &[String]) -> [Box<dyn Query>; 2] {
    [
        boosted(phrase((fields.title, fields.title_pairs), words), TITLE_BOOST),
        phrase((fields.body, fields.body_pairs), words),
    ]
}

/// One part as a query over the title, body and key fields: any of them may match.
fn part_query(leaves: &[Box<dyn Query>]) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(leaves.iter().map(|query| (Occur::Should, query.box_clone())).collect()))
}

/// The queries of one part for each field, each weighted by its boost.
fn part_leaves(fields: &Fields, part: &Part, typos: &HashSet<String>) -> Vec<Box<dyn Query>> {
    let mut any: Vec<Box<dyn Query>> = Vec::new();
    match part {
        Part::Word(word) => {
            any.extend(field_terms(fields, word));
            if typos.contains(word) {
                for (field, weight) in [(fields.title, TITLE_BOOST), (fields.body, 1.0)] {
                    let typo = FuzzyTermQuery::new(Term::from_field_text(field, word), 1, true);
                    any.push(boosted(Box::new(typo), weight * TYPO_WEIGHT));
                }
            }
        }
        Part::Prefix(prefix) => {
            for (field, weight) in beginning_scores(fields) {
                let beginning = FuzzyTermQuery::new_prefix(Term::from_field_text(field, prefix), 0, false);
                any.push(boosted(Box::new(beginning), weight));
            }
        }
        Part::Phrase(words) => any.extend(field_phrases(fields, words)),
        Part::Key { key, words } => {
            any.push(boosted(
                Box::new(TermQuery::new(
                    Term::from_field_text(fields.key, &key.to_lowercase()),
                    IndexRecordOption::Basic,
                )),
                KEY_BOOST,
            ));
            any.extend(field_phrases(fields, words));
        }
    }
    any
}
