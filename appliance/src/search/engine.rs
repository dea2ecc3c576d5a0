//! Running a search on the index: the parsed query, the filters and the reader's permission
//! scope become one Tantivy query, so that the total, every page of hits and every facet count
//! already leave out what the reader may not see.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

use chrono::{DateTime, NaiveDate, Utc};
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, EnableScoring, FuzzyTermQuery, Occur, PhraseQuery, Query, RangeQuery,
    TermQuery, TermSetQuery,
};
use tantivy::schema::{Facet, IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, Searcher, TantivyDocument, Term};

use super::admission::Admission;
use super::query::{Parsed, Part, TYPO_TOLERANT_FROM};
use super::ranking::{self, Counted};
use super::schema::{self, Fields};
use super::Live;
use crate::web::markdown::escape_html;

/// How much more a match in the title or the key counts than one in the body.
const TITLE_BOOST: f32 = 3.0;
const KEY_BOOST: f32 = 6.0;
/// A typo match counts less than the word as typed.
const TYPO_WEIGHT: f32 = 0.4;
/// A word found in fewer documents than this, as typed, is probably misspelt: it also matches
/// with one typo. (Words the index knows well match as typed, which is also much faster.)
const TYPOS_BELOW_DOCUMENTS: u64 = 5;
const SNIPPET_CHARS: usize = 200;
/// How much of a body the passage is chosen from.
const SNIPPET_SOURCE_CHARS: usize = 20_000;
/// A scope of at most this many projects and spaces narrows the query itself (a cheap read
/// of their few documents); a wider one is checked on each match's columns instead, since
/// reading which documents a scope of hundreds of projects holds cost more than the search.
const NARROW_SCOPE_PLACES: usize = 16;
/// A filter is selective when it admits less than this fraction (1/n) of the index.
const SELECTIVE_BELOW: u64 = 16;

/// How much work a search does before its counts become estimates.
#[derive(Clone, Copy, Debug)]
pub struct Effort {
    /// A search finding at most this many documents is counted exactly, every match scored
    /// and counted under each facet in one pass; a larger one is still counted, but its
    /// facets only on a sample, and it is ranked in a pass with block skipping.
    pub exact_up_to: u64,
    /// Past `exact_up_to`, the facets of one match in this many are counted, each for this
    /// many: the same matches every time, so a search repeated on an unchanged index gives
    /// the same figures.
    pub every: u64,
}

impl Effort {
    /// On the million-issue benchmark, a search finding 710,000 documents reads the facets of
    /// 10,000 + 44,000 of them.
    pub const DEFAULT: Effort = Effort { exact_up_to: 10_000, every: 16 };
}

/// The projects and spaces whose documents a reader may see.
#[derive(Clone, Debug)]
pub enum Scope {
    Everything,
    Only { projects: Vec<i64>, spaces: Vec<i64> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Issue,
    Comment,
    Page,
    Attachment,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Issue, Kind::Comment, Kind::Page, Kind::Attachment];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Issue => "issue",
            Kind::Comment => "comment",
            Kind::Page => "page",
            Kind::Attachment => "attachment",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// Narrowing a search down; each is also a facet.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub kind: Option<Kind>,
    pub project_id: Option<i64>,
    pub space_id: Option<i64>,
    pub status: Option<String>,
    /// `Some(None)`: unassigned.
    pub assignee_id: Option<Option<i64>>,
    pub updated_from: Option<NaiveDate>,
    /// Inclusive: the whole day counts.
    pub updated_to: Option<NaiveDate>,
}

impl Filters {
    pub fn any(&self) -> bool {
        self.kind.is_some()
            || self.project_id.is_some()
            || self.space_id.is_some()
            || self.status.is_some()
            || self.assignee_id.is_some()
            || self.updated_from.is_some()
            || self.updated_to.is_some()
    }
}

pub fn facet(path: &[&str]) -> Facet {
    Facet::from_path(path.iter().copied())
}

pub fn assignee_facet(assignee_id: Option<i64>) -> Facet {
    match assignee_id {
        Some(id) => facet(&["assignee", &id.to_string()]),
        None => facet(&["assignee", "none"]),
    }
}

#[derive(Clone, Debug)]
pub struct Hit {
    pub kind: Kind,
    pub entity_id: i64,
    pub label: String,
    /// Escaped, with the matched words in `<mark>`.
    pub title_html: String,
    /// Escaped, with the matched words in `<mark>`; the text's start when no word matched it.
    pub snippet_html: String,
    pub url: String,
    pub context: String,
    pub updated: DateTime<Utc>,
    /// How well it matches (BM25): only its order means anything.
    pub score: f32,
}

/// How many hits each facet value has under the search and its filters.
#[derive(Clone, Debug, Default)]
pub struct FacetCounts {
    /// Every type with hits.
    pub kinds: Vec<(Kind, u64)>,
    pub projects: Ranked<i64>,
    pub spaces: Ranked<i64>,
    pub statuses: Ranked<String>,
    /// `None`: unassigned.
    pub assignees: Ranked<Option<i64>>,
}

impl FacetCounts {
    /// Every count through `round` (estimates are shown rounded).
    fn round_to(&mut self, round: fn(u64) -> u64) {
        let counts = (self.kinds.iter_mut().map(|(_, n)| n))
            .chain(self.projects.values.iter_mut().map(|(_, n)| n))
            .chain(self.spaces.values.iter_mut().map(|(_, n)| n))
            .chain(self.statuses.values.iter_mut().map(|(_, n)| n))
            .chain(self.assignees.values.iter_mut().map(|(_, n)| n));
        for n in counts {
            *n = round(*n);
        }
    }
}

/// The values of a facet with most hits, most first (`tally::FACET_VALUES` of them), and how
/// many other values have hits: an installation has thousands of assignees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ranked<T> {
    pub values: Vec<(T, u64)>,
    pub more: usize,
}

impl<T> Default for Ranked<T> {
    fn default() -> Ranked<T> {
        Ranked { values: Vec::new(), more: 0 }
    }
}

#[derive(Clone, Debug)]
pub struct Results {
    pub total: usize,
    /// Whether the facet counts were counted, not estimated from a sample (then rounded to
    /// two significant digits).
    pub facets_exact: bool,
    pub hits: Vec<Hit>,
    pub facets: FacetCounts,
}

impl Results {
    fn empty() -> Results {
        Results { total: 0, facets_exact: true, hits: Vec::new(), facets: FacetCounts::default() }
    }
}

/// `n` to two significant digits: an estimate shown with more would claim a precision it has not.
pub fn about(n: u64) -> u64 {
    let mut unit = 1;
    while n / unit >= 100 {
        unit *= 10;
    }
    (n + unit / 2) / unit * unit
}

/// The queries of one search.
struct Plan {
    /// What the words ask for, alone, for ranking. When the search is two plain words, this
    /// is the union of all their field terms, which Tantivy ranks with block skipping;
    /// `required` then holds the parts a ranked document must each match. A document holding
    /// every part scores the same under the union as under the parts' intersection (the sum
    /// of its matching terms' scores).
    words: Box<dyn Query>,
    required: Vec<Box<dyn Query>>,
    /// The words, the filters and a narrow scope: the query counting passes read.
    narrowed: BooleanQuery,
    /// The facet terms of each filter clause of `narrowed` (a document holds one of them).
    narrowing: Vec<Vec<Term>>,
}

impl Plan {
    /// Whether a filter clause admits so little of the index that following its documents
    /// beats skipping blocks of the words' documents.
    fn selective(&self, searcher: &Searcher) -> tantivy::Result<bool> {
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

/// Runs the search and returns page `page` (from 1) of `per_page` hits.
pub fn run(
    live: &Live,
    parsed: &Parsed,
    filters: &Filters,
    scope: &Scope,
    paging: (usize, usize),
) -> tantivy::Result<Results> {
    run_with(Effort::DEFAULT, live, parsed, filters, scope, paging)
}

/// `run` with the given effort (tests use a small one to reach estimates on small indexes).
pub fn run_with(
    effort: Effort,
    live: &Live,
    parsed: &Parsed,
    filters: &Filters,
    scope: &Scope,
    (page, per_page): (usize, usize),
) -> tantivy::Result<Results> {
    let searcher = live.reader.searcher();
    let matcher = Matcher { parsed, typos: typo_tolerant(&searcher, &live.fields, parsed)? };
    let Some(plan) = build(&live.fields, &matcher, filters, scope) else { return Ok(Results::empty()) };
    let admission = Admission { scope, filters };
    let best_needed = page * per_page;
    let scoring = EnableScoring::enabled_from_searcher(&searcher);
    let narrowed = plan.narrowed.weight(scoring)?;
    let counting = plan.narrowed.weight(EnableScoring::disabled_from_searcher(&searcher))?;
    let weights = (narrowed.as_ref(), counting.as_ref());
    let (best, tallies) = match ranking::rank_and_count(&searcher, weights, &admission, best_needed, &effort)? {
        Counted::Exact(best, tallies) => (best, tallies),
        Counted::Estimated(tallies) => {
            let best = if plan.selective(&searcher)? {
                ranking::rank(&searcher, narrowed.as_ref(), &admission, &[], best_needed)?
            } else {
                let words = plan.words.weight(scoring)?;
                let required = (plan.required.iter())
                    .map(|part| part.weight(EnableScoring::disabled_from_searcher(&searcher)))
                    .collect::<tantivy::Result<Vec<_>>>()?;
                ranking::rank(&searcher, words.as_ref(), &admission, &required, best_needed)?
            };
            (best, tallies)
        }
    };
    let hits = best
        .into_page((page - 1) * per_page)
        .into_iter()
        .map(|(score, address)| hit(&searcher, &live.fields, (score, address), &matcher))
        .collect::<tantivy::Result<Vec<_>>>()?;
    let (total, facets_exact) = (tallies.total as usize, tallies.exact);
    let mut facets = tallies.into_facet_counts();
    if !facets_exact {
        facets.round_to(about);
    }
    Ok(Results { total, facets_exact, hits, facets })
}

/// How many documents the search finds in `scope` under `filters`, without ranking.
pub fn count(live: &Live, parsed: &Parsed, filters: &Filters, scope: &Scope) -> tantivy::Result<u64> {
    let searcher = live.reader.searcher();
    let matcher = Matcher { parsed, typos: typo_tolerant(&searcher, &live.fields, parsed)? };
    let Some(plan) = build(&live.fields, &matcher, filters, scope) else { return Ok(0) };
    let admission = Admission { scope, filters };
    let counting = plan.narrowed.weight(EnableScoring::disabled_from_searcher(&searcher))?;
    let weights = (counting.as_ref(), counting.as_ref());
    Ok(match ranking::rank_and_count(&searcher, weights, &admission, 0, &Effort::DEFAULT)? {
        Counted::Exact(_, tallies) | Counted::Estimated(tallies) => tallies.total,
    })
}

/// The words of the search that also match with one typo: long enough, and rare as typed.
fn typo_tolerant(searcher: &Searcher, fields: &Fields, parsed: &Parsed) -> tantivy::Result<HashSet<String>> {
    let mut tolerant = HashSet::new();
    for part in &parsed.parts {
        let Part::Word(word) = part else { continue };
        if word.chars().count() < TYPO_TOLERANT_FROM {
            continue;
        }
        if documents_with(searcher, fields, word)? < TYPOS_BELOW_DOCUMENTS {
            tolerant.insert(word.clone());
        }
    }
    Ok(tolerant)
}

/// How many documents hold `word` as typed, in their title or body (counted once per field).
pub(super) fn documents_with(searcher: &Searcher, fields: &Fields, word: &str) -> tantivy::Result<u64> {
    Ok(searcher.doc_freq(&Term::from_field_text(fields.title, word))?
        + searcher.doc_freq(&Term::from_field_text(fields.body, word))?)
}

/// What the search looks for, to build the query and to mark what matched in a hit.
struct Matcher<'a> {
    parsed: &'a Parsed,
    /// Words that also match with one typo.
    typos: HashSet<String>,
}

impl Matcher<'_> {
    /// Whether `word` from a document is what any part looks for, typos and prefixes included.
    fn matches(&self, word: &str) -> bool {
        self.parsed.parts.iter().any(|part| match part {
            Part::Word(wanted) => wanted == word || (self.typos.contains(wanted) && within_one_edit(wanted, word)),
            Part::Prefix(prefix) => word.starts_with(prefix.as_str()),
            Part::Phrase(words) | Part::Key { words, .. } => words.iter().any(|wanted| wanted == word),
        })
    }
}

/// The queries, or `None` when the scope allows nothing at all. Filter clauses score zero,
/// so a document scores the same under both queries.
fn build(fields: &Fields, matcher: &Matcher, filters: &Filters, scope: &Scope) -> Option<Plan> {
    let parsed = &matcher.parsed.parts;
    let parts: Vec<Box<dyn Query>> = parsed.iter().map(|part| part_query(fields, part, &matcher.typos)).collect();
    let plain_words: Option<Vec<&String>> = parsed
        .iter()
        .map(|part| match part {
            Part::Word(word) if !matcher.typos.contains(word) => Some(word),
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
        Part::Phrase(words) => {
            any.push(boosted(phrase(fields.title, words), TITLE_BOOST));
            any.push(phrase(fields.body, words));
        }
        Part::Key { key, words } => {
            any.push(boosted(
                Box::new(TermQuery::new(
                    Term::from_field_text(fields.key, &key.to_lowercase()),
                    IndexRecordOption::Basic,
                )),
                KEY_BOOST,
            ));
            any.push(boosted(phrase(fields.title, words), TITLE_BOOST));
            any.push(phrase(fields.body, words));
        }
    }
    Box::new(BooleanQuery::new(any.into_iter().map(|query| (Occur::Should, query)).collect()))
}

/// Levenshtein distance at most one, a swap of neighbours counting as one.
fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[..a.len() - suffix.min(a.len())], &b[..b.len() - suffix.min(b.len())]);
    a.len() <= 1 && b.len() <= 1 || (a.len() == 2 && b.len() == 2 && a[0] == b[1] && a[1] == b[0])
}

/// `text` escaped, with every word the search matched in `<mark>`.
fn highlight(text: &str, matcher: &Matcher) -> String {
    let mut analyzer = schema::analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut html = String::with_capacity(text.len() + 16);
    let mut written = 0;
    while stream.advance() {
        let token = stream.token();
        if matcher.matches(&token.text) {
            html.push_str(&escape_html(&text[written..token.offset_from]));
            html.push_str("<mark>");
            html.push_str(&escape_html(&text[token.offset_from..token.offset_to]));
            html.push_str("</mark>");
            written = token.offset_to;
        }
    }
    html.push_str(&escape_html(&text[written..]));
    html
}

/// The body's best passage around the words the search matched in it, typos and prefixes
/// included (Tantivy's own generator would only know the words as typed).
fn snippet(body: &str, matcher: &Matcher, field: tantivy::schema::Field) -> String {
    // The passage comes from the body's beginning: long pages would cost every search time.
    let body = match body.char_indices().nth(SNIPPET_SOURCE_CHARS) {
        Some((end, _)) => &body[..end],
        None => body,
    };
    let matched: BTreeMap<String, f32> =
        schema::words(body).into_iter().filter(|word| matcher.matches(word)).map(|word| (word, 1.0)).collect();
    if matched.is_empty() {
        let start: String = body.chars().take(SNIPPET_CHARS).collect();
        let ellipsis = if start.len() < body.len() { "…" } else { "" };
        return format!("{}{ellipsis}", escape_html(start.trim_end()));
    }
    let generator = SnippetGenerator::new(matched, schema::analyzer(), field, SNIPPET_CHARS);
    let mut snippet = generator.snippet(body);
    snippet.set_snippet_prefix_postfix("<mark>", "</mark>");
    snippet.to_html()
}

fn hit(
    searcher: &Searcher,
    fields: &Fields,
    (score, address): (f32, DocAddress),
    matcher: &Matcher,
) -> tantivy::Result<Hit> {
    let doc: TantivyDocument = searcher.doc(address)?;
    let text = |field| doc.get_first(field).and_then(|value| value.as_str()).unwrap_or_default().to_owned();
    let kind = Kind::parse(&text(fields.kind)).unwrap_or(Kind::Issue);
    let entity_id = doc.get_first(fields.entity_id).and_then(|value| value.as_u64()).unwrap_or_default() as i64;
    let updated = doc
        .get_first(fields.updated)
        .and_then(|value| value.as_datetime())
        .and_then(|date| DateTime::from_timestamp(date.into_timestamp_secs(), 0))
        .unwrap_or_default();
    Ok(Hit {
        kind,
        entity_id,
        label: text(fields.label),
        title_html: highlight(&text(fields.title), matcher),
        snippet_html: snippet(&text(fields.body), matcher, fields.body),
        url: text(fields.url),
        context: text(fields.context),
        updated,
        score,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::query::parse;

    #[test]
    fn one_edit_means_one_letter_wrong_missing_extra_or_swapped() {
        for (a, b) in [
            ("deploy", "deploy"),
            ("deploy", "depley"),
            ("deploy", "deply"),
            ("deploy", "deploys"),
            ("deploy", "edploy"),
        ] {
            assert!(within_one_edit(a, b), "{a} ~ {b}");
        }
        for (a, b) in [("deploy", "delpoyed"), ("deploy", "dpelyo"), ("deploy", "deplyment")] {
            assert!(!within_one_edit(a, b), "{a} !~ {b}");
        }
    }

    #[test]
    fn highlighting_escapes_the_text_and_marks_what_matched() {
        let parsed = parse("deploy* \"disk full\" <b>").unwrap();
        let matcher = Matcher { parsed: &parsed, typos: HashSet::new() };
        assert_eq!(
            highlight("<b>Deployment</b> failed: disk full & more", &matcher),
            "&lt;<mark>b</mark>&gt;<mark>Deployment</mark>&lt;/<mark>b</mark>&gt; failed: <mark>disk</mark> <mark>full</mark> &amp; more"
        );
        let typo = parse("kubernetes").unwrap();
        let tolerant = Matcher { parsed: &typo, typos: HashSet::from(["kubernetes".to_owned()]) };
        assert_eq!(highlight("kubernets nodes", &tolerant), "<mark>kubernets</mark> nodes");
        let exact = Matcher { parsed: &typo, typos: HashSet::new() };
        assert_eq!(highlight("kubernets nodes", &exact), "kubernets nodes");
    }
}
