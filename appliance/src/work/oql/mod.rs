//! OQL, Outpost's query language for issues: `syntax` parses text into a typed AST (the
//! grammar is documented there), `compile` turns the AST into one parameterised SQL condition
//! and ORDER BY over `issues`, resolving names (projects, people, statuses) to ids on the way.
//! User input only ever reaches PostgreSQL as bind parameters.

pub mod compile;
mod dates;
mod lexer;
mod parser;
mod print;
mod related;
pub mod sql;
pub mod syntax;

pub use compile::Context;
pub use sql::{Bind, Compiled, OrderTerm, SortValue, SqlBuilder};
pub use syntax::{parse, Query};
