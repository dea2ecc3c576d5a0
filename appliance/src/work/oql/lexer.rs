//! OQL's lexer: characters to tokens (words, quoted strings, operators, punctuation), each
//! with its span, and the words errors use to describe a token.

use super::syntax::*;

#[derive(Clone, Debug)]
pub(super) enum Tok {
    Word,
    Quoted(String),
    Op(CompareOp),
    LParen,
    RParen,
    Comma,
    /// An invalid operator such as `==` or a stray character; the parser reports it in context.
    Other,
    /// A lexing error (unclosed quote, bad escape). Lexing stops there, and the parser reports it
    /// when it reaches it, so errors come out in reading order.
    Error(ParseError),
    End,
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) span: Span,
    /// The source text, used for keywords, words and error messages.
    pub(super) text: String,
}

pub(super) fn is_bare_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/' | '@' | '+')
}

pub(super) fn is_field_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.')
}

pub(super) fn is_op_char(c: char) -> bool {
    matches!(c, '=' | '!' | '<' | '>' | '~')
}

pub(super) fn is_keyword(word: &str) -> bool {
    // ASCII-only folding on purpose: Unicode folding would make e.g. "ın" (dotless i) a keyword.
    KEYWORDS.iter().any(|keyword| keyword.eq_ignore_ascii_case(word))
}

/// Splits a relative date like `-7d` into its signed number text and unit.
pub(super) fn relative_date_parts(word: &str) -> Option<(&str, DateUnit)> {
    let unit = DateUnit::from_suffix(word.chars().last()?)?;
    let number = &word[..word.len() - 1]; // the unit letter is one ASCII byte
    let digits = number.strip_prefix(|c| c == '+' || c == '-').unwrap_or(number);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some((number, unit))
}

pub(super) fn lex(chars: &[char]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = match c {
            '(' | ')' | ',' => {
                i += 1;
                match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    _ => Tok::Comma,
                }
            }
            '"' | '\'' => match lex_quoted(chars, start) {
                Ok((value, end)) => {
                    i = end;
                    Tok::Quoted(value)
                }
                Err(error) => {
                    let span = error.span;
                    tokens.push(Token { tok: Tok::Error(error), span, text: String::new() });
                    return tokens;
                }
            },
            _ if is_op_char(c) => {
                while chars.get(i).is_some_and(|&c| is_op_char(c)) {
                    i += 1;
                }
                let symbol: String = chars[start..i].iter().collect();
                CompareOp::from_symbol(&symbol).map_or(Tok::Other, Tok::Op)
            }
            _ if is_bare_char(c) => {
                while chars.get(i).is_some_and(|&c| is_bare_char(c)) {
                    i += 1;
                }
                Tok::Word
            }
            _ => {
                i += 1;
                Tok::Other
            }
        };
        tokens.push(Token { tok, span: Span::new(start, i), text: chars[start..i].iter().collect() });
    }
    tokens.push(Token { tok: Tok::End, span: Span::new(chars.len(), chars.len()), text: String::new() });
    tokens
}

/// Reads the quoted string opening at `start`; returns its value and the offset after it.
pub(super) fn lex_quoted(chars: &[char], start: usize) -> Result<(String, usize), ParseError> {
    let quote = chars[start];
    let unclosed = || ParseError {
        span: Span::new(start, chars.len()),
        expected: UNCLOSED_QUOTE.to_owned(),
        found: END.to_owned(),
    };
    let mut value = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err(unclosed()),
            Some(&c) if c == quote => return Ok((value, i + 1)),
            Some('\\') => match chars.get(i + 1) {
                None => return Err(unclosed()),
                Some(&escaped @ ('"' | '\'' | '\\')) => {
                    value.push(escaped);
                    i += 2;
                }
                Some(&other) => {
                    return Err(ParseError {
                        span: Span::new(i, i + 2),
                        expected: r#"\", \' or \\ after a backslash"#.to_owned(),
                        found: format!("\"{}\"", excerpt(&other.to_string())),
                    })
                }
            },
            Some(&c) => {
                value.push(c);
                i += 1;
            }
        }
    }
}

/// Token text fit for an error message: control characters escaped, long text cut short.
pub(super) fn excerpt(text: &str) -> String {
    const MAX: usize = 40;
    let mut out = String::new();
    for c in text.chars().take(MAX) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

pub(super) fn describe(token: &Token) -> String {
    match token.tok {
        Tok::End => END.to_owned(),
        Tok::Quoted(_) => format!("the quoted string {}", excerpt(&token.text)),
        _ => format!("\"{}\"", excerpt(&token.text)),
    }
}
