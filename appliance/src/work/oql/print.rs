//! The canonical printer (`Display`) of OQL queries, and span erasure so that queries can be
//! compared by meaning.

use std::fmt::{self, Write as _};

use super::lexer::{is_bare_char, is_field_char, is_keyword, relative_date_parts};
use super::syntax::*;

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
