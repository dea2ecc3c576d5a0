//! OQL syntax: the lexer, the typed AST, the recursive-descent parser and the canonical printer.
//!
//! OQL is Outpost's query language for finding issues, in the spirit of Jira's JQL:
//!
//! ```text
//! project = OPS AND status != Done AND assignee = currentUser() AND labels IN (db, infra)
//!     AND updated >= -7d ORDER BY priority DESC, updated DESC
//! ```
//!
//! # Grammar
//!
//! ```text
//! query      := [ or_expr ] [ ORDER BY order_term { "," order_term } ]
//! or_expr    := and_expr { OR and_expr }
//! and_expr   := not_expr { AND not_expr }
//! not_expr   := NOT not_expr | primary
//! primary    := "(" or_expr ")" | clause
//! clause     := field ( cmp_op value
//!                     | [NOT] IN "(" value { "," value } ")"
//!                     | IS [NOT] ( EMPTY | NULL ) )
//! cmp_op     := "=" | "!=" | "<" | ">" | "<=" | ">=" | "~" | "!~"      ("~" = text contains)
//! value      := quoted string | bare word | relative date | function
//! function   := name "(" [ value { "," value } ] ")"      e.g. currentUser(), startOfDay(-1d)
//! field      := bare word of letters, digits, "_" and "." | quoted string
//! order_term := field [ ASC | DESC ]                      (ascending by default)
//! ```
//!
//! * Precedence is `NOT` > `AND` > `OR`; `AND` and `OR` are left-associative.
//! * Keywords (`AND OR NOT IN IS EMPTY NULL ORDER BY ASC DESC`) are case-insensitive. A bare word
//!   that spells a keyword is always the keyword; quote it (`"and"`) to use it as a value or field.
//!   `NULL` is a synonym of `EMPTY`. Field and function names are kept as written.
//! * A *bare word* is a run of letters (Unicode alphabetic), digits and `_ - . : / @ +`, e.g. `OPS-12`,
//!   `2026-11-01T10:00`, `3.5`, `alice@example.com`. Any other character ends it.
//! * A *quoted string* is `"..."` or `'...'`; inside it, `\"`, `\'` and `\\` are the only escapes
//!   (any other backslash is an error, which keeps the door open for new escapes later).
//! * A *relative date* is a bare word matching `^[+-]?\d+[mhdw]$` (minutes, hours, days, weeks), e.g.
//!   `-7d`, `2w`, `+1d`; its amount must fit an `i64`.
//! * A bare word followed by `(` is a function call (whitespace may separate them).
//! * Any Unicode whitespace separates tokens.
//!
//! # Limits
//!
//! A query has at most [`MAX_QUERY_CHARS`] characters; parentheses, `NOT` and function calls nest at
//! most [`MAX_DEPTH`] deep; an `IN` list holds at most [`MAX_IN_VALUES`] values. Breaking a limit is
//! a [`ParseError`], never a panic or a stack overflow.
//!
//! # Printing
//!
//! `Display` on [`Query`], [`Expr`], [`Value`] and [`Field`] prints canonical OQL: upper-case
//! keywords, single spaces, double quotes (quoted strings stay quoted; bare words are quoted only
//! when they must be) and parentheses only where the tree needs them. `parse(&q.to_string())` gives back `q` modulo spans (see [`Query::without_spans`]),
//! provided the canonical text itself stays within [`MAX_QUERY_CHARS`].

use std::fmt::{self, Write as _};

/// Longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 10_000;
/// Deepest accepted nesting of parentheses, `NOT` and function calls (the parser recurses on them).
pub const MAX_DEPTH: usize = 64;
/// Most values accepted in one `IN (...)` list.
pub const MAX_IN_VALUES: usize = 1_000;

const KEYWORDS: [&str; 11] = ["AND", "OR", "NOT", "IN", "IS", "EMPTY", "NULL", "ORDER", "BY", "ASC", "DESC"];
const END: &str = "the end of the query";
const OPERATOR: &str = "an operator (=, !=, <, >, <=, >=, ~, !~, IN, NOT IN, IS)";
// These `expected` phrases select a dedicated sentence in `ParseError`'s Display, so the error
// type can stay three plain fields.
const UNCLOSED_QUOTE: &str = "a closing quote";
const TOO_LONG: &str = "a shorter query";
const TOO_DEEP: &str = "less nesting";
const TOO_MANY_VALUES: &str = "fewer values in the IN list";
const DATE_RANGE: &str = "a relative date within range";

/// A range of *character* (not byte) offsets into the query, 0-based, end exclusive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub filter: Option<Expr>,
    pub order_by: Vec<OrderTerm>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OrderTerm {
    pub field: Field,
    pub descending: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare {
        field: Field,
        op: CompareOp,
        value: Value,
    },
    In {
        field: Field,
        negated: bool,
        values: Vec<Value>,
    },
    /// `IS EMPTY` (or `IS NULL`); `negated` for `IS NOT EMPTY`.
    Empty {
        field: Field,
        negated: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    /// `~`: text contains.
    Contains,
    /// `!~`: text does not contain.
    NotContains,
}

impl CompareOp {
    pub const ALL: [CompareOp; 8] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Lt,
        CompareOp::Gt,
        CompareOp::Le,
        CompareOp::Ge,
        CompareOp::Contains,
        CompareOp::NotContains,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Gt => ">",
            CompareOp::Le => "<=",
            CompareOp::Ge => ">=",
            CompareOp::Contains => "~",
            CompareOp::NotContains => "!~",
        }
    }

    fn from_symbol(symbol: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == symbol)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DateUnit {
    Minutes,
    Hours,
    Days,
    Weeks,
}

impl DateUnit {
    /// The letter that ends a relative date: `m`, `h`, `d` or `w`.
    pub fn suffix(self) -> char {
        match self {
            DateUnit::Minutes => 'm',
            DateUnit::Hours => 'h',
            DateUnit::Days => 'd',
            DateUnit::Weeks => 'w',
        }
    }

    fn from_suffix(c: char) -> Option<Self> {
        [DateUnit::Minutes, DateUnit::Hours, DateUnit::Days, DateUnit::Weeks].into_iter().find(|u| u.suffix() == c)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    Word(String),
    Quoted(String),
    RelativeDate { amount: i64, unit: DateUnit },
    Function { name: String, args: Vec<Value> },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

/// Why a query does not parse. `expected` and `found` are human words ("a value", "\")\"", "the end
/// of the query"); `Display` turns them into the sentence shown to the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub span: Span,
    pub expected: String,
    pub found: String,
}

impl ParseError {
    /// 1-based column (in characters) of the start of the offending text.
    pub fn column(&self) -> usize {
        self.span.start + 1
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let column = self.column();
        match self.expected.as_str() {
            UNCLOSED_QUOTE => write!(f, "Unclosed quoted string starting at column {column}."),
            TOO_LONG => write!(f, "The query is too long: {}; the limit is {MAX_QUERY_CHARS}.", self.found),
            TOO_DEEP => write!(
                f,
                "Too much nesting at column {column}: parentheses, NOT and function calls may nest at most {MAX_DEPTH} deep."
            ),
            TOO_MANY_VALUES => {
                write!(f, "Too many values in the IN list at column {column}; the limit is {MAX_IN_VALUES}.")
            }
            DATE_RANGE => write!(f, "The relative date {} at column {column} is out of range.", self.found),
            _ => write!(f, "Expected {} at column {column}, found {}.", self.expected, self.found),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses one OQL query. Empty (or all-whitespace) input is the query with no filter and no order.
///
/// # Errors
///
/// A [`ParseError`] locating the first thing that does not fit the grammar or a limit.
pub fn parse(input: &str) -> Result<Query, ParseError> {
    let length = input.chars().count();
    if length > MAX_QUERY_CHARS {
        return Err(ParseError {
            span: Span::new(MAX_QUERY_CHARS, length),
            expected: TOO_LONG.to_owned(),
            found: format!("{length} characters"),
        });
    }
    let chars: Vec<char> = input.chars().collect();
    Parser { tokens: lex(&chars), pos: 0, depth: 0 }.query()
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug)]
enum Tok {
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
struct Token {
    tok: Tok,
    span: Span,
    /// The source text, used for keywords, words and error messages.
    text: String,
}

fn is_bare_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/' | '@' | '+')
}

fn is_field_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.')
}

fn is_op_char(c: char) -> bool {
    matches!(c, '=' | '!' | '<' | '>' | '~')
}

fn is_keyword(word: &str) -> bool {
    // ASCII-only folding on purpose: Unicode folding would make e.g. "ın" (dotless i) a keyword.
    KEYWORDS.iter().any(|keyword| keyword.eq_ignore_ascii_case(word))
}

/// Splits a relative date like `-7d` into its signed number text and unit.
fn relative_date_parts(word: &str) -> Option<(&str, DateUnit)> {
    let unit = DateUnit::from_suffix(word.chars().last()?)?;
    let number = &word[..word.len() - 1]; // the unit letter is one ASCII byte
    let digits = number.strip_prefix(|c| c == '+' || c == '-').unwrap_or(number);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some((number, unit))
}

fn lex(chars: &[char]) -> Vec<Token> {
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
fn lex_quoted(chars: &[char], start: usize) -> Result<(String, usize), ParseError> {
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
fn excerpt(text: &str) -> String {
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

fn describe(token: &Token) -> String {
    match token.tok {
        Tok::End => END.to_owned(),
        Tok::Quoted(_) => format!("the quoted string {}", excerpt(&token.text)),
        _ => format!("\"{}\"", excerpt(&token.text)),
    }
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser {
    /// Never empty: always ends with `Tok::End` or `Tok::Error`, which `advance` never passes.
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos]
    }

    fn peek_is(&self, f: fn(&Tok) -> bool) -> bool {
        f(&self.peek().tok)
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        let token = self.peek();
        matches!(token.tok, Tok::Word) && token.text.eq_ignore_ascii_case(keyword)
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.at_keyword(keyword);
        if found {
            self.advance();
        }
        found
    }

    fn error(&self, expected: &str) -> ParseError {
        let token = self.peek();
        match &token.tok {
            Tok::Error(error) => error.clone(),
            _ => ParseError { span: token.span, expected: expected.to_owned(), found: describe(token) },
        }
    }

    /// Guards every recursive descent, so hostile input cannot overflow the stack.
    fn enter(&mut self) -> Result<(), ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(TOO_DEEP));
        }
        self.depth += 1;
        Ok(())
    }

    fn query(&mut self) -> Result<Query, ParseError> {
        let filter = if self.peek_is(|t| matches!(t, Tok::End)) || self.at_keyword("ORDER") {
            None
        } else {
            Some(self.or_expr()?)
        };
        let mut order_by = Vec::new();
        if self.eat_keyword("ORDER") {
            if !self.eat_keyword("BY") {
                return Err(self.error("BY after ORDER"));
            }
            loop {
                let field = self.field("a field name to order by")?;
                let (descending, next) = if self.eat_keyword("DESC") {
                    (true, "\",\" or the end of the query")
                } else if self.eat_keyword("ASC") {
                    (false, "\",\" or the end of the query")
                } else {
                    (false, "ASC, DESC, \",\" or the end of the query")
                };
                order_by.push(OrderTerm { field, descending });
                if self.peek_is(|t| matches!(t, Tok::Comma)) {
                    self.advance();
                } else if self.peek_is(|t| matches!(t, Tok::End)) {
                    break;
                } else {
                    return Err(self.error(next));
                }
            }
        } else if !self.peek_is(|t| matches!(t, Tok::End)) {
            return Err(self.error("AND, OR, ORDER BY or the end of the query"));
        }
        Ok(Query { filter, order_by })
    }

    fn or_expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and_expr()?;
        while self.eat_keyword("OR") {
            left = Expr::Or(Box::new(left), Box::new(self.and_expr()?));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.not_expr()?;
        while self.eat_keyword("AND") {
            left = Expr::And(Box::new(left), Box::new(self.not_expr()?));
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr, ParseError> {
        if self.at_keyword("NOT") {
            self.enter()?;
            self.advance();
            let inner = self.not_expr()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        if self.peek_is(|t| matches!(t, Tok::LParen)) {
            self.enter()?;
            self.advance();
            let inner = self.or_expr()?;
            if !self.peek_is(|t| matches!(t, Tok::RParen)) {
                return Err(self.error("AND, OR or \")\""));
            }
            self.advance();
            self.depth -= 1;
            return Ok(inner);
        }
        self.clause()
    }

    fn clause(&mut self) -> Result<Expr, ParseError> {
        let field = self.field("a field name")?;
        if let Tok::Op(op) = self.peek().tok {
            self.advance();
            let value = self.value(&format!("a value after \"{}\"", op.as_str()))?;
            return Ok(Expr::Compare { field, op, value });
        }
        if self.eat_keyword("IN") {
            return Ok(Expr::In { field, negated: false, values: self.in_list()? });
        }
        if self.eat_keyword("NOT") {
            if !self.eat_keyword("IN") {
                return Err(self.error("IN after NOT"));
            }
            return Ok(Expr::In { field, negated: true, values: self.in_list()? });
        }
        if self.eat_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            if self.eat_keyword("EMPTY") || self.eat_keyword("NULL") {
                return Ok(Expr::Empty { field, negated });
            }
            return Err(self.error(if negated { "EMPTY or NULL" } else { "NOT, EMPTY or NULL" }));
        }
        Err(self.error(OPERATOR))
    }

    fn field(&mut self, expected: &str) -> Result<Field, ParseError> {
        let token = self.peek();
        let name = match &token.tok {
            Tok::Quoted(name) => name.clone(),
            Tok::Word if !is_keyword(&token.text) && token.text.chars().all(is_field_char) => token.text.clone(),
            _ => return Err(self.error(expected)),
        };
        let span = token.span;
        self.advance();
        Ok(Field { name, span })
    }

    fn in_list(&mut self) -> Result<Vec<Value>, ParseError> {
        if !self.peek_is(|t| matches!(t, Tok::LParen)) {
            return Err(self.error("\"(\" after IN"));
        }
        self.advance();
        let mut values = Vec::new();
        loop {
            let value = self.value("a value")?;
            if values.len() == MAX_IN_VALUES {
                return Err(ParseError {
                    span: value.span,
                    expected: TOO_MANY_VALUES.to_owned(),
                    found: format!("more than {MAX_IN_VALUES} values"),
                });
            }
            values.push(value);
            if self.peek_is(|t| matches!(t, Tok::Comma)) {
                self.advance();
            } else if self.peek_is(|t| matches!(t, Tok::RParen)) {
                self.advance();
                return Ok(values);
            } else {
                return Err(self.error("\",\" or \")\""));
            }
        }
    }

    fn value(&mut self, expected: &str) -> Result<Value, ParseError> {
        let token = self.peek();
        let span = token.span;
        match &token.tok {
            Tok::Quoted(text) => {
                let kind = ValueKind::Quoted(text.clone());
                self.advance();
                Ok(Value { kind, span })
            }
            Tok::Word if !is_keyword(&token.text) => {
                if self.tokens.get(self.pos + 1).is_some_and(|next| matches!(next.tok, Tok::LParen)) {
                    return self.function();
                }
                let kind = match relative_date_parts(&token.text) {
                    None => ValueKind::Word(token.text.clone()),
                    Some((number, unit)) => match number.parse::<i64>() {
                        Ok(amount) => ValueKind::RelativeDate { amount, unit },
                        Err(_) => {
                            return Err(ParseError { span, expected: DATE_RANGE.to_owned(), found: describe(token) })
                        }
                    },
                };
                self.advance();
                Ok(Value { kind, span })
            }
            _ => Err(self.error(expected)),
        }
    }

    /// Parses `name(args)`; the current token is the name and the next one is `(`.
    fn function(&mut self) -> Result<Value, ParseError> {
        self.enter()?;
        let name = self.advance();
        self.advance();
        let mut args = Vec::new();
        if !self.peek_is(|t| matches!(t, Tok::RParen)) {
            loop {
                args.push(self.value(if args.is_empty() { "a value or \")\"" } else { "a value" })?);
                if self.peek_is(|t| matches!(t, Tok::Comma)) {
                    self.advance();
                } else if self.peek_is(|t| matches!(t, Tok::RParen)) {
                    break;
                } else {
                    return Err(self.error("\",\" or \")\""));
                }
            }
        }
        let close = self.advance();
        self.depth -= 1;
        Ok(Value {
            kind: ValueKind::Function { name: name.text, args },
            span: Span::new(name.span.start, close.span.end),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Canonical printer

fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in text.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

fn write_list(f: &mut fmt::Formatter<'_>, values: &[Value]) -> fmt::Result {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{value}")?;
    }
    Ok(())
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        if !name.is_empty() && name.chars().all(is_field_char) && !is_keyword(name) {
            f.write_str(name)
        } else {
            write_quoted(f, name)
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ValueKind::Word(word)
                if !word.is_empty()
                    && word.chars().all(is_bare_char)
                    && !is_keyword(word)
                    && relative_date_parts(word).is_none() =>
            {
                f.write_str(word)
            }
            // Quoted stays quoted even when it could be bare, so Word and Quoted survive a round trip.
            ValueKind::Word(text) | ValueKind::Quoted(text) => write_quoted(f, text),
            ValueKind::RelativeDate { amount, unit } => write!(f, "{amount}{}", unit.suffix()),
            ValueKind::Function { name, args } => {
                write!(f, "{name}(")?;
                write_list(f, args)?;
                f.write_char(')')
            }
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Binding strength: the printer parenthesises an expression placed where a stronger one is needed.
const PREC_OR: u8 = 1;
const PREC_AND: u8 = 2;
const PREC_NOT: u8 = 3;

fn write_expr(f: &mut fmt::Formatter<'_>, expr: &Expr, min_prec: u8) -> fmt::Result {
    match expr {
        Expr::And(..) | Expr::Or(..) => {
            let (keyword, prec) = if matches!(expr, Expr::Or(..)) { (" OR ", PREC_OR) } else { (" AND ", PREC_AND) };
            // Walk the left spine iteratively: `a AND b AND ...` nests to the left as deep as the
            // query is long, far deeper than MAX_DEPTH.
            let mut rights = Vec::new();
            let mut leftmost = expr;
            while let (Expr::Or(left, right), PREC_OR) | (Expr::And(left, right), PREC_AND) = (leftmost, prec) {
                rights.push(right);
                leftmost = left;
            }
            let wrap = min_prec > prec;
            if wrap {
                f.write_char('(')?;
            }
            write_expr(f, leftmost, prec)?;
            for right in rights.iter().rev() {
                f.write_str(keyword)?;
                write_expr(f, right, prec + 1)?; // a same-operator right operand keeps its parentheses
            }
            if wrap {
                f.write_char(')')?;
            }
            Ok(())
        }
        Expr::Not(inner) => {
            f.write_str("NOT ")?;
            write_expr(f, inner, PREC_NOT)
        }
        Expr::Compare { field, op, value } => write!(f, "{field} {op} {value}"),
        Expr::In { field, negated, values } => {
            write!(f, "{field} {}IN (", if *negated { "NOT " } else { "" })?;
            write_list(f, values)?;
            f.write_char(')')
        }
        Expr::Empty { field, negated } => write!(f, "{field} IS {}EMPTY", if *negated { "NOT " } else { "" }),
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(f, self, 0)
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(filter) = &self.filter {
            write!(f, "{filter}")?;
        }
        for (i, term) in self.order_by.iter().enumerate() {
            match (i, self.filter.is_some()) {
                (0, true) => f.write_str(" ORDER BY ")?,
                (0, false) => f.write_str("ORDER BY ")?,
                _ => f.write_str(", ")?,
            }
            write!(f, "{}{}", term.field, if term.descending { " DESC" } else { "" })?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Span erasure, so ASTs can be compared by meaning

fn clear_value_spans(value: &mut Value) {
    value.span = Span::default();
    if let ValueKind::Function { args, .. } = &mut value.kind {
        args.iter_mut().for_each(clear_value_spans);
    }
}

fn clear_expr_spans(root: &mut Expr) {
    let mut stack = vec![root]; // explicit stack for the same reason as in `write_expr`
    while let Some(expr) = stack.pop() {
        match expr {
            Expr::And(left, right) | Expr::Or(left, right) => {
                stack.push(left);
                stack.push(right);
            }
            Expr::Not(inner) => stack.push(inner),
            Expr::Compare { field, value, .. } => {
                field.span = Span::default();
                clear_value_spans(value);
            }
            Expr::In { field, values, .. } => {
                field.span = Span::default();
                values.iter_mut().for_each(clear_value_spans);
            }
            Expr::Empty { field, .. } => field.span = Span::default(),
        }
    }
}

impl Query {
    /// A copy with every span zeroed: two queries mean the same iff their `without_spans` are equal.
    pub fn without_spans(&self) -> Query {
        let mut query = self.clone();
        if let Some(filter) = &mut query.filter {
            clear_expr_spans(filter);
        }
        for term in &mut query.order_by {
            term.field.span = Span::default();
        }
        query
    }
}

impl Expr {
    /// A copy with every span zeroed.
    pub fn without_spans(&self) -> Expr {
        let mut expr = self.clone();
        clear_expr_spans(&mut expr);
        expr
    }
}

impl Value {
    /// A copy with every span zeroed.
    pub fn without_spans(&self) -> Value {
        let mut value = self.clone();
        clear_value_spans(&mut value);
        value
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn q(input: &str) -> Query {
        parse(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}")).without_spans()
    }
    fn filter(input: &str) -> Expr {
        q(input).filter.expect("a filter")
    }
    fn fail(input: &str) -> ParseError {
        parse(input).expect_err("should not parse")
    }
    fn field(name: &str) -> Field {
        Field { name: name.to_owned(), span: Span::default() }
    }
    fn val(kind: ValueKind) -> Value {
        Value { kind, span: Span::default() }
    }
    fn word(text: &str) -> Value {
        val(ValueKind::Word(text.to_owned()))
    }
    fn quoted(text: &str) -> Value {
        val(ValueKind::Quoted(text.to_owned()))
    }
    fn date(amount: i64, unit: DateUnit) -> Value {
        val(ValueKind::RelativeDate { amount, unit })
    }
    fn func(name: &str, args: Vec<Value>) -> Value {
        val(ValueKind::Function { name: name.to_owned(), args })
    }
    fn cmp(name: &str, op: CompareOp, value: Value) -> Expr {
        Expr::Compare { field: field(name), op, value }
    }
    fn eq(name: &str, value: &str) -> Expr {
        cmp(name, CompareOp::Eq, word(value))
    }
    fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(Box::new(a), Box::new(b))
    }
    fn or(a: Expr, b: Expr) -> Expr {
        Expr::Or(Box::new(a), Box::new(b))
    }
    fn not(a: Expr) -> Expr {
        Expr::Not(Box::new(a))
    }
    fn order(name: &str, descending: bool) -> OrderTerm {
        OrderTerm { field: field(name), descending }
    }

    #[test]
    fn parses_the_example() {
        let query = q("project = OPS AND status != Done AND assignee = currentUser() AND labels IN (db, infra) \
                       AND updated >= -7d ORDER BY priority DESC, updated DESC");
        let expected = and(
            and(
                and(and(eq("project", "OPS"), cmp("status", CompareOp::Ne, word("Done"))), {
                    cmp("assignee", CompareOp::Eq, func("currentUser", vec![]))
                }),
                Expr::In { field: field("labels"), negated: false, values: vec![word("db"), word("infra")] },
            ),
            cmp("updated", CompareOp::Ge, date(-7, DateUnit::Days)),
        );
        assert_eq!(
            query,
            Query { filter: Some(expected), order_by: vec![order("priority", true), order("updated", true)] }
        );
    }

    #[test]
    fn precedence_and_associativity() {
        let (a, b, c) = (eq("a", "1"), eq("b", "2"), eq("c", "3"));
        assert_eq!(filter("a = 1 OR b = 2 AND NOT c = 3"), or(a.clone(), and(b.clone(), not(c.clone()))));
        assert_eq!(filter("NOT a = 1 AND b = 2"), and(not(a.clone()), b.clone()));
        assert_eq!(filter("(a = 1 OR b = 2) AND c = 3"), and(or(a.clone(), b.clone()), c.clone()));
        assert_eq!(filter("a = 1 AND b = 2 AND c = 3"), and(and(a.clone(), b.clone()), c.clone()));
        assert_eq!(filter("a = 1 OR b = 2 OR c = 3"), or(or(a.clone(), b.clone()), c.clone()));
        assert_eq!(filter("a = 1 OR (b = 2 OR c = 3)"), or(a.clone(), or(b.clone(), c.clone())));
        assert_eq!(filter("NOT NOT (a = 1)"), not(not(a.clone())));
        assert_eq!(filter("((a = 1))"), a);
    }

    #[test]
    fn in_and_empty_clauses() {
        let values = vec![word("a"), quoted("b c"), date(2, DateUnit::Weeks)];
        assert_eq!(
            filter("x IN (a, \"b c\", 2w)"),
            Expr::In { field: field("x"), negated: false, values: values.clone() }
        );
        assert_eq!(filter("x NOT IN (a,\"b c\",2w)"), Expr::In { field: field("x"), negated: true, values });
        assert_eq!(filter("x IS EMPTY"), Expr::Empty { field: field("x"), negated: false });
        assert_eq!(filter("x IS NOT EMPTY"), Expr::Empty { field: field("x"), negated: true });
        assert_eq!(filter("x is null"), Expr::Empty { field: field("x"), negated: false });
        assert_eq!(filter("x Is Not Null"), Expr::Empty { field: field("x"), negated: true });
    }

    #[test]
    fn all_comparison_operators() {
        for op in CompareOp::ALL {
            assert_eq!(filter(&format!("f {} v", op.as_str())), cmp("f", op, word("v")));
            assert_eq!(filter(&format!("f{}v", op.as_str())), cmp("f", op, word("v")));
            assert_eq!(op.to_string(), op.as_str());
        }
    }

    #[test]
    fn functions_strings_fields_and_dates() {
        assert_eq!(filter("a = openSprints()"), cmp("a", CompareOp::Eq, func("openSprints", vec![])));
        assert_eq!(
            filter("a < startOfDay (-1d)"),
            cmp("a", CompareOp::Lt, func("startOfDay", vec![date(-1, DateUnit::Days)]))
        );
        let nested = func("f", vec![func("g", vec![word("1"), quoted("x")]), func("h", vec![])]);
        assert_eq!(filter("a = f(g(1, 'x'), h())"), cmp("a", CompareOp::Eq, nested));
        assert_eq!(filter(r#"s ~ "say \"hi\" \\ o'k""#), cmp("s", CompareOp::Contains, quoted(r#"say "hi" \ o'k"#)));
        assert_eq!(filter(r#"s !~ 'it\'s \"x\"'"#), cmp("s", CompareOp::NotContains, quoted("it's \"x\"")));
        assert_eq!(filter("\"Customer tier\" = gold"), eq("Customer tier", "gold"));
        assert_eq!(filter("'order' = \"and\""), cmp("order", CompareOp::Eq, quoted("and")));
        assert_eq!(filter("cf.team_2 = OPS-12"), eq("cf.team_2", "OPS-12"));
        for (text, expected) in [
            ("-7d", date(-7, DateUnit::Days)),
            ("2w", date(2, DateUnit::Weeks)),
            ("-30m", date(-30, DateUnit::Minutes)),
            ("12h", date(12, DateUnit::Hours)),
            ("0d", date(0, DateUnit::Days)),
            ("+1d", date(1, DateUnit::Days)),
            ("-9223372036854775808d", date(i64::MIN, DateUnit::Days)),
            ("7D", word("7D")),
            ("1y", word("1y")),
            ("-d", word("-d")),
            ("3.5d", word("3.5d")),
            ("2026-11-01T10:00", word("2026-11-01T10:00")),
            ("alice@example.com", word("alice@example.com")),
            ("Überprüfung", word("Überprüfung")),
        ] {
            assert_eq!(filter(&format!("d >= {text}")), cmp("d", CompareOp::Ge, expected), "{text}");
        }
    }

    #[test]
    fn order_by_and_empty_queries() {
        assert_eq!(
            q("a = b ORDER BY priority DESC, updated, key asc").order_by,
            vec![order("priority", true), order("updated", false), order("key", false)]
        );
        assert_eq!(q("ORDER BY updated DESC"), Query { filter: None, order_by: vec![order("updated", true)] });
        assert_eq!(
            q("order by \"Customer tier\""),
            Query { filter: None, order_by: vec![order("Customer tier", false)] }
        );
        for blank in ["", "   ", "\t\n\u{3000}"] {
            assert_eq!(parse(blank), Ok(Query { filter: None, order_by: vec![] }));
        }
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(
            q("project = OPS and status in (a, b) order by key"),
            q("project = OPS AND status IN (a, b) ORDER BY key")
        );
        assert_eq!(filter("NoT a = 1 oR b = 2 AnD c Not In (x)"), filter("NOT a = 1 OR b = 2 AND c NOT IN (x)"));
    }

    #[test]
    fn spans_are_character_offsets() {
        let query = parse("project = OPS AND labels IN (db, infra) ORDER BY key").unwrap();
        let Some(Expr::And(left, right)) = query.filter else { panic!("expected AND") };
        let Expr::Compare { field, value, .. } = *left else { panic!("expected a comparison") };
        assert_eq!((field.span, value.span), (Span::new(0, 7), Span::new(10, 13)));
        let Expr::In { field, values, .. } = *right else { panic!("expected IN") };
        assert_eq!(field.span, Span::new(18, 24));
        assert_eq!(values.iter().map(|v| v.span).collect::<Vec<_>>(), [Span::new(29, 31), Span::new(33, 38)]);
        assert_eq!(query.order_by[0].field.span, Span::new(49, 52));

        let Some(Expr::Compare { value, .. }) = parse("é = startOfDay(-1d)").unwrap().filter else { panic!() };
        assert_eq!(value.span, Span::new(4, 19));
        let ValueKind::Function { args, .. } = value.kind else { panic!("expected a function") };
        assert_eq!(args[0].span, Span::new(15, 18));

        let error = fail("title ~ \"Überprüfung\" AND )");
        assert_eq!((error.span, error.column()), (Span::new(26, 27), 27));
        assert_eq!(error.to_string(), "Expected a field name at column 27, found \")\".");
        assert_eq!(
            fail("t ~ \"𝔘☃\" =").to_string(),
            "Expected AND, OR, ORDER BY or the end of the query at column 10, found \"=\"."
        );
    }

    #[test]
    fn error_messages() {
        // {op} and {next} stand for the two longest `expected` phrases.
        let cases = [
            ("status =", "Expected a value after \"=\" at column 9, found the end of the query."),
            ("a = AND", "Expected a value after \"=\" at column 5, found \"AND\"."),
            ("a = !", "Expected a value after \"=\" at column 5, found \"!\"."),
            ("a = \u{0}", "Expected a value after \"=\" at column 5, found \"\\u{0}\"."),
            (")", "Expected a field name at column 1, found \")\"."),
            ("OPS-12 = x", "Expected a field name at column 1, found \"OPS-12\"."),
            ("a = \"x\" AND (", "Expected a field name at column 14, found the end of the query."),
            ("status = a Done", "Expected {next} at column 12, found \"Done\"."),
            ("a = b \"c\"", "Expected {next} at column 7, found the quoted string \"c\"."),
            ("a = 5 ☃", "Expected {next} at column 7, found \"☃\"."),
            ("status = a)", "Expected {next} at column 11, found \")\"."),
            ("status Done", "Expected {op} at column 8, found \"Done\"."),
            ("status == Done", "Expected {op} at column 8, found \"==\"."),
            ("status => Done", "Expected {op} at column 8, found \"=>\"."),
            ("status", "Expected {op} at column 7, found the end of the query."),
            ("(status = a", "Expected AND, OR or \")\" at column 12, found the end of the query."),
            ("title ~ \"abc", "Unclosed quoted string starting at column 9."),
            ("title ~ 'abc\\'", "Unclosed quoted string starting at column 9."),
            ("s ~ \"a\\nb\"", "Expected \\\", \\' or \\\\ after a backslash at column 7, found \"n\"."),
            ("labels IN ()", "Expected a value at column 12, found \")\"."),
            ("labels IN (a, )", "Expected a value at column 15, found \")\"."),
            ("labels IN (a b)", "Expected \",\" or \")\" at column 14, found \"b\"."),
            ("labels IN a", "Expected \"(\" after IN at column 11, found \"a\"."),
            ("a NOT x", "Expected IN after NOT at column 7, found \"x\"."),
            ("a IS", "Expected NOT, EMPTY or NULL at column 5, found the end of the query."),
            ("a IS NOT x", "Expected EMPTY or NULL at column 10, found \"x\"."),
            ("a = f(x", "Expected \",\" or \")\" at column 8, found the end of the query."),
            ("a = f(,", "Expected a value or \")\" at column 7, found \",\"."),
            ("a = b ORDER updated", "Expected BY after ORDER at column 13, found \"updated\"."),
            ("ORDER BY", "Expected a field name to order by at column 9, found the end of the query."),
            ("ORDER BY a b", "Expected ASC, DESC, \",\" or the end of the query at column 12, found \"b\"."),
            ("ORDER BY a DESC b", "Expected \",\" or the end of the query at column 17, found \"b\"."),
            ("a > -99999999999999999999d", "The relative date \"-99999999999999999999d\" at column 5 is out of range."),
            ("a > 9223372036854775808d", "The relative date \"9223372036854775808d\" at column 5 is out of range."),
        ];
        for (input, message) in cases {
            let error = fail(input);
            let message =
                message.replace("{op}", OPERATOR).replace("{next}", "AND, OR, ORDER BY or the end of the query");
            assert_eq!(error.to_string(), message, "{input:?}");
            assert!(error.span.start <= error.span.end && error.span.end <= input.chars().count(), "{input:?}");
        }
        assert_eq!(
            fail("status == Done").to_string(),
            "Expected an operator (=, !=, <, >, <=, >=, ~, !~, IN, NOT IN, IS) at column 8, found \"==\"."
        );
        let error = fail("a = ");
        assert_eq!((error.expected.as_str(), error.found.as_str()), ("a value after \"=\"", "the end of the query"));
        let long_word = "x".repeat(100);
        assert_eq!(fail(&format!("a = b {long_word}")).found, format!("\"{}…\"", "x".repeat(40)));
        let boxed: Box<dyn std::error::Error> = Box::new(fail(")"));
        assert!(boxed.to_string().starts_with("Expected"));
    }

    #[test]
    fn limits() {
        let long = "x".repeat(MAX_QUERY_CHARS + 1);
        let error = fail(&long);
        assert_eq!(error.to_string(), "The query is too long: 10001 characters; the limit is 10000.");
        assert_eq!(error.span, Span::new(10_000, 10_001));
        assert!(parse(&format!("a = {}", "x".repeat(MAX_QUERY_CHARS - 4))).is_ok());
        assert!(fail(&"é".repeat(10_001)).to_string().contains("10001 characters")); // characters, not bytes

        let nest = |n: usize| format!("{}a = b{}", "(".repeat(n), ")".repeat(n));
        assert!(parse(&nest(64)).is_ok());
        let error = fail(&nest(65));
        assert_eq!(
            error.to_string(),
            "Too much nesting at column 65: parentheses, NOT and function calls may nest at most 64 deep."
        );
        assert!(parse(&format!("{}a = b", "NOT ".repeat(64))).is_ok());
        assert_eq!(fail(&format!("{}a = b", "NOT ".repeat(65))).column(), 257);
        let call = |n: usize| format!("a = {}{}", "f(".repeat(n), ")".repeat(n));
        assert!(parse(&call(64)).is_ok());
        assert_eq!(fail(&call(65)).column(), 133);

        let list = |n: usize| format!("a IN ({})", (0..n).map(|i| format!("v{i}")).collect::<Vec<_>>().join(", "));
        let Some(Expr::In { values, .. }) = q(&list(1_000)).filter else { panic!("expected IN") };
        assert_eq!(values.len(), 1_000);
        let input = list(1_001);
        let column = input.find("v1000").unwrap() + 1;
        assert_eq!(
            fail(&input).to_string(),
            format!("Too many values in the IN list at column {column}; the limit is 1000.")
        );
    }

    #[test]
    fn canonical_printing() {
        let print = |input: &str| parse(input).unwrap().to_string();
        assert_eq!(
            print("project = OPS and (status=a or b = c) order by key asc, updated desc"),
            "project = OPS AND (status = a OR b = c) ORDER BY key, updated DESC"
        );
        assert_eq!(print("not (a = 1 and b = 2) or not not c = 3"), "NOT (a = 1 AND b = 2) OR NOT NOT c = 3");
        assert_eq!(print("a = 1 or (b = 2 or c = 3)"), "a = 1 OR (b = 2 OR c = 3)");
        assert_eq!(print("a = 1 and (b = 2 and c = 3)"), "a = 1 AND (b = 2 AND c = 3)");
        assert_eq!(print("((a = 1)) AND ((b = 1 OR c = 1))"), "a = 1 AND (b = 1 OR c = 1)");
        assert_eq!(
            print(r#"'Customer tier' = 'gold' and "and" ~ 'it\'s' and x ~ "say \"hi\" \\""#),
            r#""Customer tier" = "gold" AND "and" ~ "it's" AND x ~ "say \"hi\" \\""#
        );
        assert_eq!(
            print("a in (currentUser(), membersOf('x y'), +1d) and b not in (c) and d is null and e is not null"),
            "a IN (currentUser(), membersOf(\"x y\"), 1d) AND b NOT IN (c) AND d IS EMPTY AND e IS NOT EMPTY"
        );
        assert_eq!(print("order by a asc"), "ORDER BY a");
        assert_eq!(print("  "), "");
        for (text, printed) in
            [("and", "\"and\""), ("-7d", "\"-7d\""), ("", "\"\""), ("a b", "\"a b\""), ("x(", "\"x(\"")]
        {
            assert_eq!(word(text).to_string(), printed);
        }
        assert_eq!(field("Order").to_string(), "\"Order\"");
        assert_eq!(date(-3, DateUnit::Hours).without_spans().to_string(), "-3h");
        let expr = parse("a = 1 AND b = 2").unwrap().filter.unwrap();
        assert_eq!(expr.without_spans(), and(eq("a", "1"), eq("b", "2")));
        assert_eq!(expr.to_string(), "a = 1 AND b = 2");
    }

    #[test]
    fn long_flat_chains_do_not_recurse_deeply() {
        let input = format!("{}a=1", "a=1 AND ".repeat(1_249));
        let query = parse(&input).unwrap();
        let printed = query.to_string();
        assert_eq!(printed, format!("{}a = 1", "a = 1 AND ".repeat(1_249)));
        let shorter = parse(&format!("{}a=1", "a=1 OR ".repeat(900))).unwrap();
        assert_eq!(q(&shorter.to_string()), shorter.without_spans());
    }

    /// xorshift64*: deterministic, dependency-free randomness for the property tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    #[test]
    fn random_strings_never_panic() {
        // '|'-separated so the list stays compact; the empty piece never occurs.
        const ALPHABET: &str = "project|status|OPS|Done|=|!=|<|>|<=|>=|~|!~|==|=>|!|AND|or|Not|IN|is|EMPTY|null|ORDER|\
            BY|asc|DESC|(|)|,|\"|'|\\| |  |\t|\n|\u{3000}|é|☃|𝔘|\u{0}|\u{200b}|currentUser|-7d|+1d|\
            99999999999999999999d|\"a b\"|'x\\'y'|\"unterminated|OPS-12|3.5|Überprüfung";
        let alphabet: Vec<&str> = ALPHABET.split('|').collect();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut parsed = 0;
        for _ in 0..20_000 {
            let mut input = String::new();
            for _ in 0..rng.below(25) {
                input.push_str(rng.pick(&alphabet));
                if rng.below(2) == 0 {
                    input.push(' ');
                }
            }
            match parse(&input) {
                Ok(query) => {
                    parsed += 1;
                    let printed = query.to_string();
                    assert_eq!(q(&printed), query.without_spans(), "{input:?} printed as {printed:?}");
                }
                Err(error) => {
                    assert!(error.span.start <= error.span.end && error.span.end <= input.chars().count(), "{input:?}");
                    assert!(error.to_string().ends_with('.'));
                }
            }
        }
        assert!(parsed > 100, "the alphabet should produce some valid queries, got {parsed}");
    }

    fn random_value(rng: &mut Rng, depth: usize) -> Value {
        const WORDS: &str = "OPS|Done|db|OPS-12|2026-11-01|2026-11-01T10:00|3.5|alice@example.com|in_progress|é|7D|\
            1y|-|+|a/b|x:y|Ünïcödé|0|-12|3.5d";
        const PIECES: &[&str] = &["", "a", " ", "and", "\"", "'", "\\", "é", "☃", "\u{0}", "(", ",", "=", "OR", "\n"];
        match rng.below(if depth == 0 { 3 } else { 4 }) {
            0 => word(rng.pick(&WORDS.split('|').collect::<Vec<_>>())),
            1 => quoted(&(0..rng.below(4)).map(|_| rng.pick(PIECES)).collect::<String>()),
            2 => {
                let amounts = [0, 1, -1, -7, i64::MIN, i64::MAX, rng.next() as i64];
                let units = [DateUnit::Minutes, DateUnit::Hours, DateUnit::Days, DateUnit::Weeks];
                date(amounts[rng.below(amounts.len())], units[rng.below(units.len())])
            }
            _ => {
                let name = rng.pick(&["currentUser", "openSprints", "startOfDay", "membersOf", "f"]);
                func(name, (0..rng.below(3)).map(|_| random_value(rng, depth - 1)).collect())
            }
        }
    }

    fn random_field(rng: &mut Rng) -> Field {
        let names = "project|status|a.b_c|7d|ß|Customer tier|Order||with \"quote\"|back\\slash";
        field(rng.pick(&names.split('|').collect::<Vec<_>>()))
    }

    fn random_expr(rng: &mut Rng, depth: usize) -> Expr {
        if depth > 0 && rng.below(3) != 0 {
            return match rng.below(3) {
                0 => and(random_expr(rng, depth - 1), random_expr(rng, depth - 1)),
                1 => or(random_expr(rng, depth - 1), random_expr(rng, depth - 1)),
                _ => not(random_expr(rng, depth - 1)),
            };
        }
        let field = random_field(rng);
        match rng.below(3) {
            0 => Expr::Compare { field, op: CompareOp::ALL[rng.below(8)], value: random_value(rng, 2) },
            1 => {
                let values = (0..1 + rng.below(4)).map(|_| random_value(rng, 2)).collect();
                Expr::In { field, negated: rng.below(2) == 0, values }
            }
            _ => Expr::Empty { field, negated: rng.below(2) == 0 },
        }
    }

    #[test]
    fn random_asts_round_trip() {
        let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
        for _ in 0..5_000 {
            let query = Query {
                filter: (rng.below(5) != 0).then(|| random_expr(&mut rng, 5)),
                order_by: (0..rng.below(3))
                    .map(|_| OrderTerm { field: random_field(&mut rng), descending: rng.below(2) == 0 })
                    .collect(),
            };
            let printed = query.to_string();
            let reparsed = parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not parse: {e}"));
            assert_eq!(reparsed.without_spans(), query, "{printed}");
            assert_eq!(reparsed.to_string(), printed);
        }
    }

    #[test]
    fn adversarial_inputs_fail_fast() {
        let start = std::time::Instant::now();
        assert!(fail(&"(".repeat(100_000)).to_string().starts_with("The query is too long"));
        assert!(fail(&"NOT ".repeat(10_000)).to_string().starts_with("The query is too long"));
        assert!(fail(&"(".repeat(9_000)).to_string().starts_with("Too much nesting at column 65"));
        assert!(fail(&"NOT ".repeat(2_000)).to_string().starts_with("Too much nesting at column 257"));
        assert!(fail(&format!("a = {}", "f(".repeat(4_000))).to_string().starts_with("Too much nesting"));
        assert!(fail(&format!("a = \"{}", "\\\"".repeat(4_000))).to_string().starts_with("Unclosed quoted string"));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
