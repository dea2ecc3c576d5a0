//! Tests of the OQL syntax: parsing, errors, limits, printing, and random input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
    assert_eq!(filter("x IN (a, \"b c\", 2w)"), Expr::In { field: field("x"), negated: false, values: values.clone() });
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
    assert_eq!(q("order by \"Customer tier\""), Query { filter: None, order_by: vec![order("Customer tier", false)] });
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
        let message = message.replace("{op}", OPERATOR).replace("{next}", "AND, OR, ORDER BY or the end of the query");
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
    for (text, printed) in [("and", "\"and\""), ("-7d", "\"-7d\""), ("", "\"\""), ("a b", "\"a b\""), ("x(", "\"x(\"")]
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

#[test]
fn in_takes_a_list_function_without_parentheses() {
    let query = parse("sprint in openSprints() AND key NOT IN issuesOf(OPS-1)").unwrap().without_spans();
    let Some(Expr::And(left, right)) = query.filter else { panic!("{query:?}") };
    let Expr::In { values, negated: false, .. } = *left else { panic!() };
    assert!(
        matches!(&values[..], [Value { kind: ValueKind::Function { name, args }, .. }] if name == "openSprints" && args.is_empty())
    );
    let Expr::In { values, negated: true, .. } = *right else { panic!() };
    assert_eq!(values.len(), 1);
    // Printed canonically with parentheses, it reads back the same.
    let again = parse(&parse("sprint in openSprints()").unwrap().to_string()).unwrap().without_spans();
    assert_eq!(again, parse("sprint IN (openSprints())").unwrap().without_spans());
}
