//! Running a search on the index: the parsed query, the filters and the reader's permission
//! scope become one Tantivy query, so that the total, every page of hits and every facet count
//! already leave out what the reader may not see.

use std::collections::HashSet;
use std::ops::Range;

use chrono::{DateTime, NaiveDate, Utc};
use tantivy::query::{EnableScoring, Query};
use tantivy::schema::{Facet, Value};
use tantivy::{DocAddress, Searcher, TantivyDocument, Term};

use super::found::Found;
use super::plan::build;
use super::query::{Parsed, Part, TYPO_TOLERANT_FROM};
use super::ranking;
use super::schema::{self, Fields};
use super::Live;
use crate::web::markdown::escape_html;

/// A word found in fewer documents than this, as typed, is probably misspelt: it also matches
/// with one typo. (Words the index knows well match as typed, which is also much faster.)
const TYPOS_BELOW_DOCUMENTS: u64 = 5;
const SNIPPET_CHARS: usize = 200;
/// How much of a body the passage is chosen from.
const SNIPPET_SOURCE_CHARS: usize = 20_000;

/// How much work a search does before its counts become estimates.
#[derive(Clone, Copy, Debug)]
pub struct Effort {
    /// A search finding at most this many documents has each scored and counted under every
    /// facet; a larger one is still counted exactly, but its facets only on a sample, and it
    /// is ranked in a pass with block skipping.
    pub exact_up_to: u64,
    /// Past `exact_up_to`, the facets of one document found in this many (at least) are
    /// counted, each for this many: the same documents every time, so a search repeated on an
    /// unchanged index gives the same figures.
    pub every: u64,
    /// And of no more than about this many documents: a search finding more samples them
    /// further apart.
    pub sampled_at_most: u64,
}

impl Effort {
    /// A search reads the facets of at most about 10,000 documents, exactly or as a sample.
    /// On the million-issue benchmark, sampling every 16th of the 710,000 documents `deploy`
    /// finds took 2.4 of its 6.6 ms; the facets' estimates are shown to two digits.
    pub const DEFAULT: Effort = Effort { exact_up_to: 10_000, every: 16, sampled_at_most: 10_000 };

    /// How far apart the documents sampled are when a search finds `total`.
    pub fn spacing(&self, total: u64) -> u64 {
        self.every.max(total.div_ceil(self.sampled_at_most.max(1))).max(1)
    }
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
    let Some(plan) = build(&live.fields, (&parsed.parts, &matcher.typos), filters, scope) else {
        return Ok(Results::empty());
    };
    let found = Found::of(&searcher, &plan.must, &live.segments)?;
    let best_needed = page * per_page;
    let scoring = EnableScoring::enabled_from_searcher(&searcher);
    let (best, tallies) = if found.total <= effort.exact_up_to {
        let scored = plan.scored.iter().map(|query| query.weight(scoring)).collect::<tantivy::Result<Vec<_>>>()?;
        ranking::rank_and_count_all(&searcher, &scored, &found, best_needed)?
    } else {
        let tallies = ranking::count_sample(&found, effort.spacing(found.total));
        let best = if let Some(scores) = &plan.beginning {
            ranking::rank_by_beginning(&found, scores, best_needed)
        } else {
            let ranked =
                if plan.selective(&searcher)? { plan.narrowed.weight(scoring)? } else { plan.words.weight(scoring)? };
            ranking::rank(&searcher, ranked.as_ref(), &found, best_needed)?
        };
        (best, tallies)
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
    let Some(plan) = build(&live.fields, (&parsed.parts, &matcher.typos), filters, scope) else { return Ok(0) };
    Ok(Found::of(&searcher, &plan.must, &live.segments)?.total)
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

/// Each word of `text` as the index reads it, and where it is in `text`.
fn each_word(text: &str, mut visit: impl FnMut(&str, Range<usize>)) {
    let mut analyzer = schema::analyzer();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        let token = stream.token();
        visit(&token.text, token.offset_from..token.offset_to);
    }
}

/// A stretch of a text, and where in it the words are that the search matched.
#[derive(Default)]
struct Passage {
    start: usize,
    end: usize,
    marks: Vec<Range<usize>>,
}

impl Passage {
    /// The passage of `text` escaped, with its matched words in `<mark>`.
    fn to_html(&self, text: &str) -> String {
        let mut html = String::with_capacity(self.end - self.start + 16);
        let mut written = self.start;
        for mark in &self.marks {
            html.push_str(&escape_html(&text[written..mark.start]));
            html.push_str("<mark>");
            html.push_str(&escape_html(&text[mark.clone()]));
            html.push_str("</mark>");
            written = mark.end;
        }
        html.push_str(&escape_html(&text[written..self.end]));
        html
    }
}

/// `text` escaped, with every word the search matched in `<mark>`.
fn highlight(text: &str, matcher: &Matcher) -> String {
    let mut whole = Passage { start: 0, end: text.len(), marks: Vec::new() };
    each_word(text, |word, at| {
        if matcher.matches(word) {
            whole.marks.push(at);
        }
    });
    whole.to_html(text)
}

/// The body's best passage around the words the search matched in it, typos and prefixes
/// included: the body is cut at words into passages of at most `SNIPPET_CHARS` bytes, and the
/// first with most matched words is shown, as Tantivy's snippets choose.
///
/// Why not Tantivy's generator: it is told the words to mark as a list, which took a pass over
/// the body before its own (a page's body is thousands of words). Reading the body once,
/// matching each word as it comes, took `depl*` (whose hits are long pages) from 7.9 to 7.0
/// ms of CPU a search on the million-issue benchmark.
fn snippet(body: &str, matcher: &Matcher) -> String {
    // The passage comes from the body's beginning: long pages would cost every search time.
    let body = match body.char_indices().nth(SNIPPET_SOURCE_CHARS) {
        Some((end, _)) => &body[..end],
        None => body,
    };
    let (mut best, mut reading) = (Passage::default(), Passage::default());
    each_word(body, |word, at| {
        if at.end - reading.start > SNIPPET_CHARS {
            let next = Passage { start: at.start, end: at.start, marks: Vec::new() };
            let read = std::mem::replace(&mut reading, next);
            if read.marks.len() > best.marks.len() {
                best = read;
            }
        }
        reading.end = at.end;
        if matcher.matches(word) {
            reading.marks.push(at);
        }
    });
    if reading.marks.len() > best.marks.len() {
        best = reading;
    }
    if best.marks.is_empty() {
        let start: String = body.chars().take(SNIPPET_CHARS).collect();
        let ellipsis = if start.len() < body.len() { "…" } else { "" };
        return format!("{}{ellipsis}", escape_html(start.trim_end()));
    }
    best.to_html(body)
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
        snippet_html: snippet(&text(fields.body), matcher),
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

    #[test]
    fn a_snippet_is_the_first_passage_with_most_matched_words() {
        let parsed = parse("deploy").unwrap();
        let matcher = Matcher { parsed: &parsed, typos: HashSet::new() };
        let filler = "word ".repeat(60);
        let body = format!("one deploy {filler}deploy <&> deploy {filler}deploy twice deploy {filler}");
        let html = snippet(&body, &matcher);
        assert!(html.contains("<mark>deploy</mark> &lt;&amp;&gt; <mark>deploy</mark>"), "{html}");
        assert!(!html.contains("one") && !html.contains("twice"), "one passage, the first of two as good: {html}");
        assert!(html.starts_with("word") && html.ends_with("word"), "cut at words: {html}");
        let passage = html.replace("<mark>", "").replace("</mark>", "").replace("&lt;&amp;&gt;", "<&>");
        assert!(passage.len() <= SNIPPET_CHARS, "{} bytes", passage.len());
        assert_eq!(snippet("nothing to see", &matcher), "nothing to see");
        let long = "<long> ".repeat(40);
        assert_eq!(snippet(&long, &matcher), format!("{}…", escape_html(long[..SNIPPET_CHARS].trim_end())));
    }
}
