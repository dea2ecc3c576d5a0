//! What a person typed into the search box, read into parts: words, `prefix*` words, "quoted
//! phrases" and issue keys. Reading never fails on odd input: a missing closing quote or stray
//! punctuation becomes a notice. It refuses only what cannot be searched, with a sentence.

use super::schema::words;

/// The longest search accepted, in characters.
pub const MAX_CHARS: usize = 500;

/// A prefix shorter than this would match most of the dictionary.
const SHORTEST_PREFIX: usize = 2;

/// Words too common to narrow anything down. They are kept inside "phrases", where they matter.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "if", "in", "into", "is", "it", "no", "not",
    "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will",
    "with",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// One analysed word; words of `TYPO_TOLERANT_FROM` letters or more also match one typo.
    Word(String),
    /// Every word beginning with this.
    Prefix(String),
    /// These words next to each other, in this order.
    Phrase(Vec<String>),
    /// An issue key as typed (upper-cased), matched as the key or as the words of a mention.
    Key { key: String, words: Vec<String> },
}

/// Words this long or longer also match with one letter wrong, missing, extra or swapped.
pub const TYPO_TOLERANT_FROM: usize = 5;

#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    pub parts: Vec<Part>,
    /// Sentences about how the input was read ("the closing quote was missing").
    pub notices: Vec<String>,
}

impl Parsed {
    /// The issue key when the whole search is one, to open that issue straight away.
    pub fn only_key(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Key { key, .. }] => Some(key),
            _ => None,
        }
    }

    /// The search written back as it would be typed: words, `prefix*`, "phrases", keys.
    pub fn text(&self) -> String {
        let written: Vec<String> = self
            .parts
            .iter()
            .map(|part| match part {
                Part::Word(word) => word.clone(),
                Part::Prefix(prefix) => format!("{prefix}*"),
                Part::Phrase(words) => format!("\"{}\"", words.join(" ")),
                Part::Key { key, .. } => key.clone(),
            })
            .collect();
        written.join(" ")
    }

    /// Every word the search looks for, for highlighting.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.parts
            .iter()
            .flat_map(|part| match part {
                Part::Word(word) | Part::Prefix(word) => std::slice::from_ref(word).iter(),
                Part::Phrase(words) | Part::Key { words, .. } => words.iter(),
            })
            .map(String::as_str)
    }
}

pub fn parse(text: &str) -> Result<Parsed, String> {
    let length = text.chars().count();
    if length > MAX_CHARS {
        return Err(format!("The search is {length} characters long; the most it may be is {MAX_CHARS}."));
    }
    let text = text.trim();
    if text.is_empty() {
        return Err("Type a word to search for.".into());
    }
    let mut parts = Vec::new();
    let mut notices = Vec::new();
    let mut dropped = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after_quote) = rest.strip_prefix('"') {
            let (inside, after) = match after_quote.find('"') {
                Some(end) => (&after_quote[..end], &after_quote[end + 1..]),
                None => {
                    notices
                        .push("The closing quotation mark was missing, so the rest was searched as one phrase.".into());
                    (after_quote, "")
                }
            };
            let phrase = words(inside);
            match phrase.len() {
                0 => {}
                1 => parts.push(Part::Word(phrase.into_iter().next().unwrap_or_default())),
                _ => parts.push(Part::Phrase(phrase)),
            }
            rest = after.trim_start();
            continue;
        }
        let end = rest.find(|c: char| c.is_whitespace() || c == '"').unwrap_or(rest.len());
        read_token(&rest[..end], &mut parts, &mut notices, &mut dropped);
        rest = rest[end..].trim_start();
    }
    if parts.is_empty() {
        return Err(if dropped.is_empty() {
            format!("“{text}” has no letters or digits to search for.")
        } else {
            format!("“{}” are words too common to search for; add a more specific word.", dropped.join(" "))
        });
    }
    Ok(Parsed { parts, notices })
}

fn read_token(token: &str, parts: &mut Vec<Part>, notices: &mut Vec<String>, dropped: &mut Vec<String>) {
    if is_issue_key(token) {
        parts.push(Part::Key { key: token.to_uppercase(), words: words(token) });
        return;
    }
    let mut found = words(token);
    if token.ends_with('*') {
        if let Some(last) = found.pop() {
            let whole = found.is_empty();
            if last.chars().count() >= SHORTEST_PREFIX {
                push_words(found, parts, dropped);
                parts.push(Part::Prefix(last));
            } else {
                notices.push(format!(
                    "“{token}” is too short to search as a beginning; a prefix needs {SHORTEST_PREFIX} letters."
                ));
                if !whole {
                    push_words(found, parts, dropped);
                }
                push_words(vec![last], parts, dropped);
            }
            return;
        }
    }
    push_words(found, parts, dropped);
}

fn push_words(found: Vec<String>, parts: &mut Vec<Part>, dropped: &mut Vec<String>) {
    for word in found {
        if STOP_WORDS.contains(&word.as_str()) {
            dropped.push(word);
        } else if !parts.contains(&Part::Word(word.clone())) {
            parts.push(Part::Word(word));
        }
    }
}

/// PROJECT-NUMBER: letters and digits starting with a letter, a hyphen, digits.
pub fn is_issue_key(token: &str) -> bool {
    let Some((project, number)) = token.split_once('-') else { return false };
    project.starts_with(|c: char| c.is_ascii_alphabetic())
        && project.chars().all(|c| c.is_ascii_alphanumeric())
        && project.len() <= 10
        && !number.is_empty()
        && number.len() <= 12
        && number.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> Vec<Part> {
        parse(text).unwrap().parts
    }

    fn word(w: &str) -> Part {
        Part::Word(w.into())
    }

    #[test]
    fn words_prefixes_phrases_and_keys_are_told_apart() {
        assert_eq!(parts("Deploy  failed"), [word("deploy"), word("failed")]);
        assert_eq!(parts("deploy*"), [Part::Prefix("deploy".into())]);
        assert_eq!(parts("\"disk full\" node"), [Part::Phrase(vec!["disk".into(), "full".into()]), word("node")]);
        assert_eq!(parts("ops-42"), [Part::Key { key: "OPS-42".into(), words: vec!["ops".into(), "42".into()] }]);
        assert_eq!(parse("OPS-42").unwrap().only_key(), Some("OPS-42"));
        assert_eq!(parse("OPS-42 crash").unwrap().only_key(), None);
        assert_eq!(parse("Deploy* \"disk  FULL\" ops-42 the").unwrap().text(), "deploy* \"disk full\" OPS-42");
    }

    #[test]
    fn stop_words_are_dropped_outside_phrases_and_kept_inside() {
        assert_eq!(parts("the disk"), [word("disk")]);
        assert_eq!(parts("\"out of memory\""), [Part::Phrase(vec!["out".into(), "of".into(), "memory".into()])]);
        assert_eq!(
            parse("the of and").unwrap_err(),
            "“the of and” are words too common to search for; add a more specific word."
        );
    }

    #[test]
    fn odd_input_is_read_with_a_notice_or_refused_with_a_sentence() {
        let unbalanced = parse("\"disk full").unwrap();
        assert_eq!(unbalanced.parts, [Part::Phrase(vec!["disk".into(), "full".into()])]);
        assert_eq!(unbalanced.notices.len(), 1);
        assert_eq!(parse("   ").unwrap_err(), "Type a word to search for.");
        assert_eq!(parse("!!! ***").unwrap_err(), "“!!! ***” has no letters or digits to search for.");
        assert_eq!(parts("(deploy) && [failed]; <script>"), [word("deploy"), word("failed"), word("script")]);
        let long = "a".repeat(MAX_CHARS + 1);
        assert_eq!(parse(&long).unwrap_err(), "The search is 501 characters long; the most it may be is 500.");
        let short_prefix = parse("d* disk").unwrap();
        assert_eq!(short_prefix.parts, [word("d"), word("disk")]);
        assert_eq!(short_prefix.notices.len(), 1);
        assert_eq!(parts("\"\" disk"), [word("disk")], "an empty phrase is nothing");
    }

    #[test]
    fn issue_keys_have_a_project_a_hyphen_and_a_number() {
        assert!(is_issue_key("OPS-42") && is_issue_key("a1-7"));
        assert!(!is_issue_key("-42") && !is_issue_key("OPS-") && !is_issue_key("1OPS-4") && !is_issue_key("re-run"));
    }
}
