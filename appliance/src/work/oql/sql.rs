//! The pieces of one issue statement that OQL and the list's simple filters build alike: its
//! conditions, its ORDER BY terms and its bind parameters, so every user-given value reaches
//! PostgreSQL as a parameter and the SQL text holds only what this module's callers chose.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Double, SmallInt, Text, Timestamptz};

/// A bind parameter, in the order its `$n` placeholder was written.
#[derive(Clone, Debug, PartialEq)]
pub enum Bind {
    Int8(i64),
    Int8Array(Vec<i64>),
    Int2(i16),
    Float8(f64),
    Text(String),
    TextArray(Vec<String>),
    Timestamptz(DateTime<Utc>),
}

/// What a sort column holds, so a cursor can carry its value and bind it back typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortValue {
    Integer,
    Float,
    Text,
    Timestamp,
}

/// One ORDER BY term: a column expression, its direction, and whether it can be empty
/// (empties sort last either way).
#[derive(Clone, Debug, PartialEq)]
pub struct OrderTerm {
    pub column: &'static str,
    pub descending: bool,
    pub nullable: bool,
    pub value: SortValue,
}

impl OrderTerm {
    pub const fn asc(column: &'static str, value: SortValue) -> OrderTerm {
        OrderTerm { column, descending: false, nullable: false, value }
    }

    pub const fn desc(column: &'static str, value: SortValue) -> OrderTerm {
        OrderTerm { column, descending: true, nullable: false, value }
    }

    /// The term as SQL. Plain ASC/DESC keep PostgreSQL's default null order, which is the
    /// indexes' order, so an index on the column can deliver the rows sorted; only columns
    /// that can be empty say where their empties go.
    pub fn sql(&self) -> String {
        let direction = match (self.descending, self.nullable) {
            (false, _) => "ASC",
            (true, false) => "DESC",
            (true, true) => "DESC NULLS LAST",
        };
        format!("{} {direction}", self.column)
    }
}

/// A statement's conditions, ORDER BY terms and binds, built by OQL and by the list page's
/// simple filters alike, so both reach PostgreSQL the same parameterised way.
#[derive(Default)]
pub struct SqlBuilder {
    conditions: Vec<String>,
    order: Vec<OrderTerm>,
    binds: Vec<Bind>,
    keep_plan: bool,
}

/// The finished pieces: `condition` for WHERE, `order` for ORDER BY, and their binds.
pub struct Compiled {
    pub condition: String,
    pub order: Vec<OrderTerm>,
    pub binds: Vec<Bind>,
    /// See [`SqlBuilder::keep_plan`].
    pub keep_plan: bool,
}

impl SqlBuilder {
    /// Adds a bind and returns its placeholder.
    pub fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    pub fn and(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    pub fn has_order(&self) -> bool {
        !self.order.is_empty()
    }

    pub fn order_by(&mut self, term: OrderTerm) {
        self.order.push(term);
    }

    pub fn order(&self) -> &[OrderTerm] {
        &self.order
    }

    /// Marks a statement whose text is the same on every call (no conditions a person
    /// wrote), so that it stays prepared and is planned once per connection (`db::Prepared`).
    pub fn keep_plan(&mut self) {
        self.keep_plan = true;
    }

    pub fn finish(self) -> Compiled {
        let condition = if self.conditions.is_empty() {
            "TRUE".to_owned()
        } else {
            self.conditions.iter().map(|c| format!("({c})")).collect::<Vec<_>>().join(" AND ")
        };
        Compiled { condition, order: self.order, binds: self.binds, keep_plan: self.keep_plan }
    }
}

impl Compiled {
    /// Attaches the binds to a statement whose text used the placeholders handed out.
    pub fn bind_to<'f>(&self, mut query: BoxedSqlQuery<'f, Pg, SqlQuery>) -> BoxedSqlQuery<'f, Pg, SqlQuery> {
        for value in &self.binds {
            query = match value.clone() {
                Bind::Int8(v) => query.bind::<BigInt, _>(v),
                Bind::Int8Array(v) => query.bind::<Array<BigInt>, _>(v),
                Bind::Int2(v) => query.bind::<SmallInt, _>(v),
                Bind::Float8(v) => query.bind::<Double, _>(v),
                Bind::Text(v) => query.bind::<Text, _>(v),
                Bind::TextArray(v) => query.bind::<Array<Text>, _>(v),
                Bind::Timestamptz(v) => query.bind::<Timestamptz, _>(v),
            };
        }
        query
    }
}
