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
//!                     | [NOT] IN ( "(" value { "," value } ")" | function )
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

use std::fmt;

use super::lexer::lex;
use super::parser::Parser;

/// Longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 10_000;
/// Deepest accepted nesting of parentheses, `NOT` and function calls (the parser recurses on them).
pub const MAX_DEPTH: usize = 64;
/// Most values accepted in one `IN (...)` list.
pub const MAX_IN_VALUES: usize = 1_000;

pub(super) const KEYWORDS: [&str; 11] = ["AND", "OR", "NOT", "IN", "IS", "EMPTY", "NULL", "ORDER", "BY", "ASC", "DESC"];
pub(super) const END: &str = "the end of the query";
pub(super) const OPERATOR: &str = "an operator (=, !=, <, >, <=, >=, ~, !~, IN, NOT IN, IS)";
// These `expected` phrases select a dedicated sentence in `ParseError`'s Display, so the error
// type can stay three plain fields.
pub(super) const UNCLOSED_QUOTE: &str = "a closing quote";
pub(super) const TOO_LONG: &str = "a shorter query";
pub(super) const TOO_DEEP: &str = "less nesting";
pub(super) const TOO_MANY_VALUES: &str = "fewer values in the IN list";
pub(super) const DATE_RANGE: &str = "a relative date within range";

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

    pub(super) fn from_symbol(symbol: &str) -> Option<Self> {
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

    pub(super) fn from_suffix(c: char) -> Option<Self> {
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
    Parser::new(lex(&chars)).query()
}

#[cfg(test)]
#[path = "syntax_tests.rs"]
mod tests;
