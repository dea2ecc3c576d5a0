//! OQL's recursive-descent parser: tokens to the typed AST, with the nesting and size limits
//! checked as it goes.

use super::lexer::*;
use super::syntax::*;

pub(super) struct Parser {
    /// Never empty: always ends with `Tok::End` or `Tok::Error`, which `advance` never passes.
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    pub(super) fn new(tokens: Vec<Token>) -> Self {
        Parser { tokens, pos: 0, depth: 0 }
    }

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

    pub(super) fn query(&mut self) -> Result<Query, ParseError> {
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

    /// `IN (a, b)`, or `IN f()` as other trackers write list functions (`sprint IN openSprints()`).
    fn in_list(&mut self) -> Result<Vec<Value>, ParseError> {
        let function_next = self.peek_is(|t| matches!(t, Tok::Word))
            && self.tokens.get(self.pos + 1).is_some_and(|next| matches!(next.tok, Tok::LParen));
        if function_next {
            return Ok(vec![self.function()?]);
        }
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
