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
use tantivy::schema::{Facet, IndexRecordOption};
use tantivy::{Searcher, Term};

use super::engine::{assignee_facet, facet, Filters, Scope};
use super::query::Part;
use super::schema::Fields;

/// How much more a match in the title or the key counts than one in the body.
const TITLE_BOOST: f32 = 3.0;
const KEY_BOOST: f32 = 6.0;
/// A typo match counts less than the word as typed.
const TYPO_WEIGHT: f32 = 0.4;
/// A scope of at most this many projects and spaces narrows the query itself (a cheap read
/// of their few documents); a wider one is checked on each match's columns instead, since
/// reading which documents a scope of hundreds of projects holds cost more than the search.
const NARROW_SCOPE_PLACES: usize = 16;
/// A filter is selective when it admits less than this fraction (1/n) of the index.
const SELECTIVE_BELOW: u64 = 16;

/// The queries of one search.
pub struct Plan {
    /// What the words ask for, alone, for ranking. When the search is two plain words, this
    /// is the union of all their field terms, which Tantivy ranks with block skipping;
    /// `required` then holds the parts a ranked document must each match. A document holding
    /// every part scores the same under the union as under the parts' intersection (the sum
    /// of its matching terms' scores).
    pub words: Box<dyn Query>,
    pub required: Vec<Box<dyn Query>>,
    /// The words, the filters and a narrow scope: the query counting passes read.
    pub narrowed: BooleanQuery,
    /// The facet terms of each filter clause of `narrowed` (a document holds one of them).
    narrowing: Vec<Vec<Term>>,
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
    let parts: Vec<Box<dyn Query>> = parsed.iter().map(|part| part_query(fields, part, typos)).collect();
    let plain_words: Option<Vec<&String>> = parsed
        .iter()
        .map(|part| match part {
            Part::Word(word) if !typos.contains(word) => Some(word),
            _ => None,
        })
        .collect();
    let (words, required): (Box<dyn Query>, Vec<Box<dyn Query>>) = match plain_words {
        // Measured on the million-issue index: two common words rank in half the time this
        // way; three ranked slower than by intersection (their union is far larger than the
        // documents holding all three), so they keep the intersection.
        Some(plain) if plain.len() == 2 => {
            let terms = plain.into_iter().flat_map(|word| field_terms(fields, word));
            let union = BooleanQuery::new(terms.map(|term| (Occur::Should, term)).collect());
            (Box::new(union), parts.iter().map(|part| part.box_clone()).collect())
        }
        _ if parts.len() == 1 => (parts[0].box_clone(), Vec::new()),
        _ => (
            Box::new(BooleanQuery::new(parts.iter().map(|part| (Occur::Must, part.box_clone())).collect())),
            Vec::new(),
        ),
    };
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = parts.into_iter().map(|part| (Occur::Must, part)).collect();
    let mut narrowing: Vec<Vec<Term>> = Vec::new();
    let mut narrow_to = |query: Box<dyn Query>| clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(query, 0.0))));
    if let Scope::Only { projects, spaces } = scope {
        if projects.is_empty() && spaces.is_empty() {
            return None;
        }
        if projects.len() + spaces.len() <= NARROW_SCOPE_PLACES {
            let allowed: Vec<Term> = projects
                .iter()
                .map(|id| facet(&["project", &id.to_string()]))
                .chain(spaces.iter().map(|id| facet(&["space", &id.to_string()])))
                .map(|facet| Term::from_facet(fields.facets, &facet))
                .collect();
            narrowing.push(allowed.clone());
            narrow_to(Box::new(TermSetQuery::new(allowed)));
        }
    }
    let mut must_have = |facet: Facet| {
        let term = Term::from_facet(fields.facets, &facet);
        narrowing.push(vec![term.clone()]);
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
        narrow_to(Box::new(RangeQuery::new(lower, upper)));
    }
    Some(Plan { words, required, narrowed: BooleanQuery::new(clauses), narrowing })
}

fn boosted(query: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(query, boost))
}

fn term(field: tantivy::schema::Field, word: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, word), IndexRecordOption::WithFreqs))
}

fn phrase(field: tantivy::schema::Field, words: &[String]) -> Box<dyn Query> {
    Box::new(PhraseQuery::new(words.iter().map(|word| Term::from_field_text(field, word)).collect()))
}

/// A word in the title (counting more) or in the body.
fn field_terms(fields: &Fields, word: &str) -> [Box<dyn Query>; 2] {
    [boosted(term(fields.title, word), TITLE_BOOST), term(fields.body, word)]
}

/// A phrase in the title (counting more) or in the body.
fn field_phrases(fields: &Fields, words: &[String]) -> [Box<dyn Query>; 2] {
    [boosted(phrase(fields.title, words), TITLE_BOOST), phrase(fields.body, words)]
}

/// One part as a query over the title, body and key fields: any of them may match.
fn part_query(fields: &Fields, part: &Part, typos: &HashSet<String>) -> Box<dyn Query> {
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
            for (field, weight) in [(fields.title, TITLE_BOOST), (fields.body, 1.0)] {
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
    Box::new(BooleanQuery::new(any.into_iter().map(|query| (Occur::Should, query)).collect()))
}
