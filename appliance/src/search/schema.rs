//! The shape of the search index: its fields, how text is cut into words, and the version
//! number that says when an index on disk no longer fits this code and must be rebuilt.

use tantivy::schema::{
    DateOptions, FacetOptions, Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST,
    STORED, STRING,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, BoxTokenStream, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, Token,
    TokenStream, Tokenizer,
};
use tantivy::Index;

/// Raise this whenever a field, an analyzer or what goes into a document changes: every node
/// then rebuilds its index at start-up.
/// 2: the word-pair fields (`title_pairs`, `body_pairs`).
pub const SCHEMA_VERSION: u32 = 2;

/// The analyzer of every searchable text field: words split at anything that is not a letter
/// or digit, lower-cased, accents folded ("café" finds "cafe"). No stemming: prefix and typo
/// matching work on the words as written.
pub const ANALYZER: &str = "outpost";
/// The analyzer of the word-pair fields: each two neighbouring words as one term (`pair`).
pub const PAIRS_ANALYZER: &str = "outpost_pairs";

/// Words longer than this are not indexed (hashes, base64 blobs).
const LONGEST_WORD: usize = 40;

pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(LONGEST_WORD))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Two neighbouring words as the one term of a pair field: `"disk full"`. Words never hold a
/// space, so no pair can be read two ways.
pub fn pair(first: &str, second: &str) -> String {
    format!("{first} {second}")
}

/// The words of `analyzer()`, each with the word after it as one term: a phrase of two words
/// is then one term's documents, not two words' positions compared document by document
/// (measured on the million-issue index: "disk full" took 17 ms of reading positions).
/// Words are neighbours when their positions are: a word dropped as too long parts the two
/// around it, as it does for a phrase.
#[derive(Clone)]
pub struct PairTokenizer {
    words: TextAnalyzer,
}

pub struct PairStream<'a> {
    words: BoxTokenStream<'a>,
    previous: Option<Token>,
    pair: Token,
}

impl Tokenizer for PairTokenizer {
    type TokenStream<'a> = PairStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> PairStream<'a> {
        PairStream { words: self.words.token_stream(text), previous: None, pair: Token::default() }
    }
}

impl TokenStream for PairStream<'_> {
    fn advance(&mut self) -> bool {
        while self.words.advance() {
            let word = self.words.token().clone();
            let previous = self.previous.replace(word);
            let (Some(first), Some(second)) = (previous, self.previous.as_ref()) else { continue };
            if first.position + 1 != second.position {
                continue;
            }
            self.pair = Token {
                offset_from: first.offset_from,
                offset_to: second.offset_to,
                position: first.position,
                text: pair(&first.text, &second.text),
                position_length: 2,
            };
            return true;
        }
        false
    }

    fn token(&self) -> &Token {
        &self.pair
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.pair
    }
}

pub fn pairs_analyzer() -> TextAnalyzer {
    TextAnalyzer::from(PairTokenizer { words: analyzer() })
}

/// The fields, by name, of an index built with `schema()`.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    /// "issue:42" or "page:7": every document of one issue or page, so that refreshing the
    /// issue or page replaces all of them at once.
    pub owner: Field,
    /// issue, comment, page or attachment.
    pub kind: Field,
    /// The facets again, as columns for counting (`tally`): the project's or space's id,
    /// the status name, and its assignee's id (`tally::UNASSIGNED` when none).
    pub project: Field,
    pub space: Field,
    pub status: Field,
    pub assignee: Field,
    /// The id of the issue, comment, page or attachment the document is.
    pub entity_id: Field,
    /// The issue key, lower-cased, matched whole.
    pub key: Field,
    /// Shown as the hit's heading: the issue key, or the space key for pages.
    pub label: Field,
    pub title: Field,
    pub body: Field,
    /// The title's and the body's neighbouring words as pairs (`pair`), for phrases.
    pub title_pairs: Field,
    pub body_pairs: Field,
    /// Where the hit leads.
    pub url: Field,
    /// A line under the hit: the project or space, and for comments and files what they belong to.
    pub context: Field,
    /// Facet paths /type/…, /project/ID, /space/ID, /status/NAME, /assignee/ID|none; also
    /// the permission filter, since every document is in exactly one project or space.
    pub facets: Field,
    pub updated: Field,
}

pub fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let words =
        TextFieldIndexing::default().set_tokenizer(ANALYZER).set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let text = TextOptions::default().set_indexing_options(words).set_stored();
    let pairs = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(PAIRS_ANALYZER).set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        owner: builder.add_text_field("owner", STRING),
        kind: builder.add_text_field("kind", STRING | STORED | FAST),
        project: builder.add_u64_field("project", FAST),
        space: builder.add_u64_field("space", FAST),
        status: builder.add_text_field("status", STRING | FAST),
        assignee: builder.add_u64_field("assignee", FAST),
        entity_id: builder.add_u64_field("entity_id", NumericOptions::default().set_stored()),
        key: builder.add_text_field("key", STRING),
        label: builder.add_text_field("label", STORED),
        title: builder.add_text_field("title", text.clone()),
        body: builder.add_text_field("body", text),
        title_pairs: builder.add_text_field("title_pairs", pairs.clone()),
        body_pairs: builder.add_text_field("body_pairs", pairs),
        url: builder.add_text_field("url", STORED),
        context: builder.add_text_field("context", STORED),
        facets: builder.add_facet_field("facets", FacetOptions::default()),
        updated: builder.add_date_field("updated", DateOptions::default().set_indexed().set_fast().set_stored()),
    };
    (builder.build(), fields)
}

/// Tantivy keeps analyzers in memory only: every opened or created index needs ours again.
pub fn register_analyzer(index: &Index) {
    index.tokenizers().register(ANALYZER, analyzer());
    index.tokenizers().register(PAIRS_ANALYZER, pairs_analyzer());
}

/// The index's words of `text`, as the analyzer cuts them.
pub fn words(text: &str) -> Vec<String> {
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut words = Vec::new();
    while stream.advance() {
        words.push(stream.token().text.clone());
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_cased_folded_and_split_at_punctuation() {
        assert_eq!(words("Café-Deploy: OPS-42 naïve"), ["cafe", "deploy", "ops", "42", "naive"]);
        assert_eq!(words(&"x".repeat(41)), Vec::<String>::new(), "over-long words are dropped");
    }

    fn pairs(text: &str) -> Vec<(String, usize)> {
        let mut analyzer = pairs_analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut pairs = Vec::new();
        while stream.advance() {
            pairs.push((stream.token().text.clone(), stream.token().position));
        }
        pairs
    }

    #[test]
    fn pairs_are_neighbouring_words_never_across_a_dropped_one() {
        let pair = |text: &str, position| (text.to_owned(), position);
        assert_eq!(pairs("Disk full: node-3"), [pair("disk full", 0), pair("full node", 1), pair("node 3", 2)]);
        assert_eq!(pairs(&format!("disk {} full now", "x".repeat(41))), [pair("full now", 2)]);
        assert_eq!(pairs("alone"), []);
    }
}
