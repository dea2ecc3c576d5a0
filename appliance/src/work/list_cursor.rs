//! Cursors for issue lists. A cursor holds the last row's sort values (and its id, the
//! tie-breaker), so the next page starts right after that row whatever was created, edited
//! or moved meanwhile; an offset would skip or repeat rows, and gets slower page by page.
//!
//! To clients a cursor is opaque: hex of `{"o": <the order's fingerprint>, "k": [values…, id]}`.
//! The fingerprint ties it to the sort it came from; each value is checked against its
//! column's kind and bound as a typed parameter, so a forged cursor is refused, never run.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::oql::{Bind, OrderTerm, SortValue, SqlBuilder};
use crate::errors::AppError;

/// Rows with equal sort values follow each other by id, newest first.
pub const TIE_BREAK: OrderTerm = OrderTerm::desc("i.id", SortValue::Integer);

/// The ORDER BY terms of `order` with the tie-breaker, as every list sorts.
pub fn full_order(order: &[OrderTerm]) -> Vec<OrderTerm> {
    order.iter().cloned().chain([TIE_BREAK]).collect()
}

/// A select-list expression giving a row's sort values as JSON, for the cursor after it.
pub fn sort_key_sql(order: &[OrderTerm]) -> String {
    let columns: Vec<&str> = full_order(order).iter().map(|term| term.column).collect();
    format!("jsonb_build_array({})::text", columns.join(", "))
}

fn fingerprint(order: &[OrderTerm]) -> String {
    let text: Vec<String> = full_order(order).iter().map(OrderTerm::sql).collect();
    hex::encode(&Sha256::digest(text.join(",").as_bytes())[..6])
}

/// The cursor that continues after the row whose sort key (from [`sort_key_sql`]) is `key`.
pub fn encode(order: &[OrderTerm], key: &str) -> String {
    let values: Value = serde_json::from_str(key).unwrap_or(Value::Null);
    hex::encode(json!({ "o": fingerprint(order), "k": values }).to_string())
}

fn refused() -> AppError {
    AppError::invalid("cursor", "The cursor is not one this list gave out; start again without it.")
}

/// Narrows `sql` to the rows after `cursor` in `sql`'s own order.
pub fn resume_after(sql: &mut SqlBuilder, cursor: &str) -> Result<(), AppError> {
    let order = full_order(sql.order());
    let bytes = hex::decode(cursor.trim()).map_err(|_| refused())?;
    let decoded: Value = serde_json::from_slice(&bytes).map_err(|_| refused())?;
    if decoded["o"].as_str() != Some(fingerprint(sql.order()).as_str()) {
        return Err(AppError::invalid(
            "cursor",
            "The cursor belongs to a list sorted another way; start again without it.",
        ));
    }
    let values = decoded["k"].as_array().filter(|values| values.len() == order.len()).ok_or_else(refused)?;
    let mut binds = Vec::with_capacity(values.len());
    for (term, value) in order.iter().zip(values) {
        binds.push(typed(term, value)?);
    }
    // The common case (newest first, keys descending): one row comparison, which PostgreSQL
    // turns into an index range, where the spelled-out form below would be a filter.
    if order.iter().all(|term| term.descending && !term.nullable) {
        let columns: Vec<&str> = order.iter().map(|term| term.column).collect();
        let values: Vec<String> = binds.into_iter().flatten().map(|bind| sql.bind(bind)).collect();
        sql.and(format!("({}) < ({})", columns.join(", "), values.join(", ")));
        return Ok(());
    }
    let mut alternatives = Vec::new();
    let mut equal_so_far: Vec<String> = Vec::new();
    for (term, bind) in order.iter().zip(binds) {
        let placeholder = bind.map(|bind| sql.bind(bind));
        // Empties sort last in every list, so nothing but other empties (decided by the
        // later terms) comes after an empty value.
        if let Some(value) = &placeholder {
            let op = if term.descending { "<" } else { ">" };
            let after = if term.nullable {
                format!("({column} {op} {value} OR {column} IS NULL)", column = term.column)
            } else {
                format!("{} {op} {value}", term.column)
            };
            alternatives.push(equal_so_far.iter().cloned().chain([after]).collect::<Vec<_>>().join(" AND "));
        }
        equal_so_far.push(match &placeholder {
            Some(value) => format!("{} = {value}", term.column),
            None => format!("{} IS NULL", term.column),
        });
    }
    let condition = if alternatives.is_empty() {
        "FALSE".to_owned()
    } else {
        alternatives.iter().map(|a| format!("({a})")).collect::<Vec<_>>().join(" OR ")
    };
    sql.and(condition);
    Ok(())
}

/// A cursor value as its column's kind, or a refusal; `None` for an empty value.
fn typed(term: &OrderTerm, value: &Value) -> Result<Option<Bind>, AppError> {
    if value.is_null() {
        return if term.nullable { Ok(None) } else { Err(refused()) };
    }
    let bind = match term.value {
        SortValue::Integer => value.as_i64().map(Bind::Int8),
        SortValue::Float => value.as_f64().map(Bind::Float8),
        SortValue::Text => value.as_str().map(|text| Bind::Text(text.to_owned())),
        SortValue::Timestamp => value
            .as_str()
            .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
            .map(|at| Bind::Timestamptz(at.with_timezone(&chrono::Utc))),
    };
    bind.map(Some).ok_or_else(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_due_date() -> SqlBuilder {
        let mut sql = SqlBuilder::default();
        sql.order_by(OrderTerm { column: "i.due", descending: true, nullable: true, value: SortValue::Timestamp });
        sql
    }

    #[test]
    fn a_cursor_resumes_after_its_row_with_typed_binds() {
        let mut sql = by_due_date();
        let cursor = encode(sql.order(), r#"["2026-11-23T05:40:28.123456+00:00", 42]"#);
        resume_after(&mut sql, &cursor).unwrap();
        let compiled = sql.finish();
        assert_eq!(
            compiled.condition, "(((i.due < $1 OR i.due IS NULL)) OR (i.due = $1 AND i.id < $2))",
            "{}",
            compiled.condition
        );
        assert!(matches!(compiled.binds[0], Bind::Timestamptz(_)));
        assert!(matches!(compiled.binds[1], Bind::Int8(42)));
    }

    #[test]
    fn newest_first_resumes_with_one_row_comparison() {
        let mut sql = SqlBuilder::default();
        sql.order_by(OrderTerm::desc("i.updated_at", SortValue::Timestamp));
        let cursor = encode(sql.order(), r#"["2026-11-23T05:40:28+00:00", 9]"#);
        resume_after(&mut sql, &cursor).unwrap();
        assert_eq!(sql.finish().condition, "((i.updated_at, i.id) < ($1, $2))");
    }

    #[test]
    fn after_an_empty_value_only_later_empties_follow() {
        let mut sql = by_due_date();
        let cursor = encode(sql.order(), "[null, 7]");
        resume_after(&mut sql, &cursor).unwrap();
        assert_eq!(sql.finish().condition, "((i.due IS NULL AND i.id < $1))");
    }

    #[test]
    fn forged_or_foreign_cursors_are_refused_by_name() {
        let mut sql = by_due_date();
        for bad in ["zz", &hex::encode("[1]"), &encode(sql.order(), r#"["yesterday", 1]"#), &encode(sql.order(), "[1]")]
        {
            let error = resume_after(&mut sql, bad).unwrap_err();
            assert_eq!(error.field(), Some("cursor"), "{bad}");
        }
        let other = encode(&[OrderTerm::asc("i.number", SortValue::Integer)], "[1, 1]");
        assert!(resume_after(&mut sql, &other).unwrap_err().to_string().contains("sorted another way"));
    }
}
