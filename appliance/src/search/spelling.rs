//! "Did you mean …": when a search finds nothing, each of its words that the index does not
//! know is replaced by a word it does know, one or two letters away, that the most documents
//! contain. The corrected search is offered only when it finds something the reader may see
//! under the same filters, so a suggestion never reveals a word from a project they cannot read.

use std::collections::HashMap;
use std::sync::LazyLock;

use levenshtein_automata::{Distance, LevenshteinAutomatonBuilder, DFA};
use tantivy::Searcher;
use tantivy_fst::Automaton;

use super::engine::{self, Filters, Scope};
use super::query::{Parsed, Part};
use super::Live;

/// Words shorter than this have too many neighbours one letter away to guess from.
const SHORTEST_CORRECTED: usize = 3;
/// Words this long or longer may be two letters away from what was meant.
const TWO_EDITS_FROM: usize = 6;
/// Spellings tried per word, most likely first.
const CANDIDATES: usize = 3;

/// Building these is the costly part (a table of every edit state), so each is built once.
static ONE_EDIT: LazyLock<LevenshteinAutomatonBuilder> = LazyLock::new(|| LevenshteinAutomatonBuilder::new(1, true));
static TWO_EDITS: LazyLock<LevenshteinAutomatonBuilder> = LazyLock::new(|| LevenshteinAutomatonBuilder::new(2, true));

/// The index's term dictionary walked by a Levenshtein automaton: only words within reach.
struct Within(DFA);

impl Automaton for Within {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(self.0.distance(*state), Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != levenshtein_automata::SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

/// The corrected search, when some word was unknown and the correction finds something.
pub fn suggest(live: &Live, parsed: &Parsed, filters: &Filters, scope: &Scope) -> tantivy::Result<Option<Parsed>> {
    let searcher = live.reader.searcher();
    let mut alternatives: Vec<Vec<String>> = Vec::new();
    let mut any_unknown = false;
    for part in &parsed.parts {
        let mut choices = Vec::new();
        if let Part::Word(word) = part {
            if word.chars().count() >= SHORTEST_CORRECTED && engine::documents_with(&searcher, &live.fields, word)? == 0
            {
                choices = spellings(&searcher, live, word)?;
                any_unknown |= !choices.is_empty();
            }
        }
        alternatives.push(choices);
    }
    if !any_unknown {
        return Ok(None);
    }
    // Try the likeliest spelling of every unknown word together, then the next likeliest.
    for rank in 0..CANDIDATES {
        let parts: Vec<Part> = parsed
            .parts
            .iter()
            .zip(&alternatives)
            .map(|(part, choices)| match choices.get(rank).or(choices.last()) {
                Some(spelling) => Part::Word(spelling.clone()),
                None => part.clone(),
            })
            .collect();
        let corrected = Parsed { parts, notices: Vec::new() };
        if corrected.parts != parsed.parts && engine::count(live, &corrected, filters, scope)? > 0 {
            return Ok(Some(corrected));
        }
    }
    Ok(None)
}

/// Known words near `word`: the fewest edits first, then those in the most documents.
fn spellings(searcher: &Searcher, live: &Live, word: &str) -> tantivy::Result<Vec<String>> {
    let builder = if word.chars().count() >= TWO_EDITS_FROM { &*TWO_EDITS } else { &*ONE_EDIT };
    let judge = builder.build_dfa(word);
    let mut found: HashMap<String, (u8, u64)> = HashMap::new();
    for segment in searcher.segment_readers() {
        for field in [live.fields.title, live.fields.body] {
            let inverted = segment.inverted_index(field)?;
            let automaton = Within(builder.build_dfa(word));
            let mut terms = inverted.terms().search(automaton).into_stream()?;
            while terms.advance() {
                let Ok(term) = std::str::from_utf8(terms.key()) else { continue };
                let edits = match judge.eval(term) {
                    Distance::Exact(edits) => edits,
                    Distance::AtLeast(_) => continue,
                };
                let entry = found.entry(term.to_owned()).or_insert((edits, 0));
                entry.1 += u64::from(terms.value().doc_freq);
            }
        }
    }
    let mut ranked: Vec<(String, (u8, u64))> = found.into_iter().collect();
    ranked.sort_by(|(a, (a_edits, a_docs)), (b, (b_edits, b_docs))| {
        a_edits.cmp(b_edits).then(b_docs.cmp(a_docs)).then(a.cmp(b))
    });
    Ok(ranked.into_iter().take(CANDIDATES).map(|(term, _)| term).collect())
}
