//! A search that finds many documents counts its facets on a sample and is ranked with its
//! filters checked on columns; one that finds few is counted and ranked in one exact pass. These
//! tests run both ways on the same index (a small effort makes a few thousand documents
//! "many") and hold them to the same page of hits.

use chrono::{NaiveDate, TimeZone, Utc};
use tantivy::{Index, ReloadPolicy, Term};

use super::documents::{Owner, PageRow, Place, SearchDoc};
use super::engine::{self, Effort, Filters, Kind, Results, Scope};
use super::query::parse;
use super::schema;
use super::Live;

const ISSUES: i64 = 3_000;
const PAGES: i64 = 400;
const PROJECTS: i64 = 20;
const STATUSES: [&str; 3] = ["To do", "In progress", "Done"];
const FILLER: [&str; 7] = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"];

/// Past 50 found ("many"), the facets of one match in 4 are counted.
const SAMPLED: Effort = Effort { exact_up_to: 50, every: 4, sampled_at_most: u64::MAX };
/// Everything counted and every match scored.
const EXACT: Effort = Effort { exact_up_to: u64::MAX, every: 1, sampled_at_most: u64::MAX };

fn issue(id: i64) -> SearchDoc {
    // Titles and bodies of varied lengths give varied scores, and many equal ones too.
    let filler = |n: i64| (0..n).map(|i| FILLER[((id + i) % 7) as usize]).collect::<Vec<_>>().join(" ");
    let rare = if id % 97 == 0 { " zeppelin" } else { "" };
    SearchDoc {
        owner: Owner::Issue(id),
        kind: Kind::Issue,
        entity_id: id,
        key: Some(format!("P-{id}")),
        label: format!("P-{id}"),
        title: format!("deploy {}{rare}", filler(id % 5)),
        body: if id % 3 == 0 { format!("the deploy failed {}", filler(id % 11)) } else { filler(id % 13) },
        url: format!("/issues/P-{id}"),
        context: String::new(),
        place: Place::Project(id % PROJECTS + 1),
        status: Some(STATUSES[(id % 3) as usize].to_owned()),
        assignee: Some((id % 4 != 0).then_some(id % 9 + 1)),
        updated: Utc.timestamp_opt(1_700_000_000 + id * 3_600, 0).single().unwrap_or_default(),
    }
}

fn page(id: i64) -> SearchDoc {
    SearchDoc::from(PageRow {
        id,
        title: format!("deploy guide {id}"),
        body: "how we deploy".to_owned(),
        space_id: id % 4 + 1,
        space_key: String::new(),
        space_name: String::new(),
        updated_at: Utc.timestamp_opt(1_700_000_000 + id * 7_200, 0).single().unwrap_or_default(),
    })
}

/// Two segments, and deleted documents in the first.
fn index() -> Live {
    let (schema_def, fields) = schema::schema();
    let index = Index::create_in_ram(schema_def);
    schema::register_analyzer(&index);
    let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
    for id in 1..=ISSUES {
        writer.add_document(issue(id).into_tantivy(&fields)).unwrap();
    }
    writer.commit().unwrap();
    for id in (1..=ISSUES).step_by(10) {
        writer.delete_term(Term::from_field_text(fields.owner, &Owner::Issue(id).term()));
    }
    for id in 1..=PAGES {
        writer.add_document(page(id).into_tantivy(&fields)).unwrap();
    }
    writer.commit().unwrap();
    let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().unwrap();
    Live { index, reader, fields, folder: "memory".into(), segments: Default::default() }
}

fn search(live: &Live, effort: Effort, text: &str, filters: &Filters, scope: &Scope, page: usize) -> Results {
    engine::run_with(effort, live, &parse(text).unwrap(), filters, scope, (page, 20)).unwrap()
}

fn found(results: &Results) -> Vec<(Kind, i64)> {
    results.hits.iter().map(|hit| (hit.kind, hit.entity_id)).collect()
}

/// Every document of `index()` still in it, all holding "deploy".
fn alive_documents() -> Vec<SearchDoc> {
    (1..=ISSUES).filter(|id| id % 10 != 1).map(issue).chain((1..=PAGES).map(page)).collect()
}

type Rule = fn(&SearchDoc) -> bool;
type Allowed = Box<dyn Fn(&SearchDoc) -> bool>;

fn in_project(doc: &SearchDoc, wanted: &[i64]) -> bool {
    matches!(doc.place, Place::Project(id) if wanted.contains(&id))
}

fn in_space(doc: &SearchDoc, wanted: &[i64]) -> bool {
    matches!(doc.place, Place::Space(id) if wanted.contains(&id))
}

#[test]
fn many_found_are_ranked_as_when_counted_exactly_under_every_filter_and_scope() {
    let live = index();
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
    let in_range = |doc: &SearchDoc| {
        let date = doc.updated.date_naive();
        day(2023, 11, 20).is_some_and(|from| date >= from) && day(2023, 12, 31).is_some_and(|to| date <= to)
    };
    let filters: [(Filters, Rule); 9] = [
        (Filters::default(), |_| true),
        (Filters { kind: Some(Kind::Issue), ..Filters::default() }, |doc| doc.kind == Kind::Issue),
        (Filters { kind: Some(Kind::Page), ..Filters::default() }, |doc| doc.kind == Kind::Page),
        (Filters { project_id: Some(3), ..Filters::default() }, |doc| in_project(doc, &[3])),
        (Filters { space_id: Some(2), ..Filters::default() }, |doc| in_space(doc, &[2])),
        (Filters { status: Some("Done".into()), ..Filters::default() }, |doc| doc.status.as_deref() == Some("Done")),
        (Filters { assignee_id: Some(Some(4)), ..Filters::default() }, |doc| doc.assignee == Some(Some(4))),
        (Filters { assignee_id: Some(None), ..Filters::default() }, |doc| doc.assignee == Some(None)),
        (Filters { updated_from: day(2023, 11, 20), updated_to: day(2023, 12, 31), ..Filters::default() }, |_| true),
    ];
    let wide: Vec<i64> = (1..=PROJECTS).filter(|p| p % 7 != 0).collect();
    let scopes: [(Scope, Allowed); 3] = [
        (Scope::Everything, Box::new(|_| true)),
        // Narrow: in the query itself.
        (
            Scope::Only { projects: vec![2, 3, 5], spaces: vec![2] },
            Box::new(|doc| in_project(doc, &[2, 3, 5]) || in_space(doc, &[2])),
        ),
        // Wide: checked on the columns alone.
        (
            Scope::Only { projects: wide.clone(), spaces: vec![1, 2, 4] },
            Box::new(move |doc| in_project(doc, &wide) || in_space(doc, &[1, 2, 4])),
        ),
    ];
    let documents = alive_documents();
    let mut estimated = 0;
    for (filters, rule) in &filters {
        for (scope, allowed) in &scopes {
            let dated = filters.updated_from.is_some();
            let expected =
                documents.iter().filter(|doc| rule(doc) && allowed(doc) && (!dated || in_range(doc))).count();
            let exact = search(&live, EXACT, "deploy", filters, scope, 1);
            let case = format!("{filters:?} in {scope:?}");
            assert!(exact.facets_exact && expected > 0, "{case}");
            assert_eq!(exact.total, expected, "{case}");
            let sampled = search(&live, SAMPLED, "deploy", filters, scope, 1);
            assert_eq!(found(&sampled), found(&exact), "{case}");
            let second = search(&live, SAMPLED, "deploy", filters, scope, 2);
            assert_eq!(found(&second), found(&search(&live, EXACT, "deploy", filters, scope, 2)), "{case}");
            // A beginning scores by the fields holding it: "fail*" is in some bodies only.
            for text in ["dep*", "fail*", "de*"] {
                for page in [1, 2] {
                    let sampled = search(&live, SAMPLED, text, filters, scope, page);
                    let exact = search(&live, EXACT, text, filters, scope, page);
                    assert_eq!(found(&sampled), found(&exact), "{text:?} page {page}, {case}");
                    assert_eq!(sampled.total, exact.total, "{text:?}, {case}");
                }
            }
            // Two words are ranked as the union of their terms, each word required. Their
            // scores are summed in another order, so equal documents may differ in the last
            // bit and trade places: the pages hold the same scores. So are phrases, as their
            // word pairs (and, past two words, their positions).
            for text in ["failed deploy", "alpha deploy bravo", "\"deploy failed\"", "\"the deploy failed\""] {
                for page in [1, 2] {
                    let sampled = search(&live, SAMPLED, text, filters, scope, page);
                    let exact = search(&live, EXACT, text, filters, scope, page);
                    assert_eq!(sampled.hits.len(), exact.hits.len(), "{text:?} page {page}, {case}");
                    for (a, b) in sampled.hits.iter().zip(&exact.hits) {
                        assert!((a.score - b.score).abs() <= b.score * 1e-5, "{text:?} page {page}, {case}");
                    }
                }
            }
            if expected > 60 {
                estimated += 1;
                assert!(!sampled.facets_exact, "{case}: {expected} found is many");
                assert_eq!(sampled.total, expected, "{case}: the total is counted all the same");
                let estimated: u64 = sampled.facets.kinds.iter().map(|(_, n)| n).sum();
                let error = estimated.abs_diff(expected as u64) as f64 / expected as f64;
                assert!(error < 0.2, "{case}: facets estimated {estimated} for {expected}");
            }
        }
    }
    assert!(estimated >= 10, "most cases find many: {estimated}");
}

#[test]
fn facets_are_counted_exactly_for_few_found_and_said_to_be_estimates_for_many() {
    let live = index();
    let everything = Scope::Everything;
    let rare = search(&live, SAMPLED, "zeppelin", &Filters::default(), &everything, 1);
    // Issues 97, 194, … up to 2,910; those numbered 1 more than a multiple of 10 are deleted.
    let expected = (1..=ISSUES).filter(|id| id % 97 == 0 && id % 10 != 1).count();
    assert!(rare.facets_exact);
    assert_eq!((rare.total, rare.hits.len()), (expected, 20.min(expected)));

    let many = search(&live, SAMPLED, "deploy", &Filters::default(), &everything, 1);
    let alive = alive_documents().len() as u64;
    assert!(!many.facets_exact);
    assert_eq!(many.total as u64, alive);
    let kinds: u64 = many.facets.kinds.iter().map(|(_, n)| n).sum();
    assert!(kinds.abs_diff(alive) < alive / 5, "{kinds} estimated for {alive}");
    for (_, n) in &many.facets.kinds {
        assert_eq!(*n, engine::about(*n), "estimates are rounded to two digits");
    }
    let parsed = parse("deploy").unwrap();
    assert_eq!(engine::count(&live, &parsed, &Filters::default(), &everything).unwrap(), alive);
}

#[test]
fn a_common_beginning_kept_for_the_next_search_finds_what_reading_it_found() {
    let live = index();
    let everything = Scope::Everything;
    // "failed" is in the bodies of issues 3, 6, 9, …: a third of the first segment, common;
    // "zeppelin" in one issue in 97, rare, so read each time.
    let failed = alive_documents().iter().filter(|doc| doc.body.contains("failed")).count();
    let zeppelin = alive_documents().iter().filter(|doc| doc.title.contains("zeppelin")).count();
    for round in 1..=3 {
        for (text, expected) in [("fail*", failed), ("zep*", zeppelin), ("deploy", alive_documents().len())] {
            for effort in [SAMPLED, EXACT] {
                let results = search(&live, effort, text, &Filters::default(), &everything, 1);
                assert_eq!(results.total, expected, "{text} in round {round}");
                assert!(results.hits.iter().all(|hit| hit.snippet_html.contains("<mark>") || text == "zep*"));
            }
        }
        let issues_only = Filters { kind: Some(Kind::Issue), ..Filters::default() };
        let in_issues = search(&live, SAMPLED, "dep*", &issues_only, &everything, 1);
        assert_eq!(in_issues.total, alive_documents().iter().filter(|doc| doc.kind == Kind::Issue).count());
    }
}

#[test]
fn estimates_are_rounded_to_two_significant_digits() {
    for (n, rounded) in [(0, 0), (99, 99), (100, 100), (12_345, 12_000), (710_518, 710_000), (995, 1_000)] {
        assert_eq!(engine::about(n), rounded, "{n}");
    }
}
