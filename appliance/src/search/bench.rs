//! `outpost dev bench-search`: builds an index of generated issues and pages (text from a
//! Zipf-distributed vocabulary, lengths varied like real trackers') with the same documents
//! and writer settings as a rebuild, then times representative queries through the same
//! engine the search page uses. It prints figures; it asserts nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tantivy::Index;

use super::documents::{Owner, PageRow, Place, SearchDoc};
use super::engine::{self, Filters, Kind, Scope};
use super::schema;
use super::{open_live, query};
use crate::admin::generate::words::{skewed, Words};

pub struct Plan {
    pub issues: u64,
    pub pages: u64,
    pub projects: u64,
    pub spaces: u64,
    /// How often each query runs.
    pub rounds: usize,
    /// Time the queries on an index built by an earlier run.
    pub reuse: bool,
    /// When the counts become estimates, and the sample.
    pub effort: engine::Effort,
}

const STATUSES: &[&str] = &["To do", "In progress", "In review", "Done", "Blocked"];

fn generated(n: u64, plan: &Plan, words: &Words, rng: &mut StdRng) -> SearchDoc {
    let updated = Utc.timestamp_opt(1_700_000_000 + rng.gen_range(0..60_000_000), 0).single().unwrap_or_default();
    if n < plan.issues {
        let project = skewed(rng, plan.projects) as i64 + 1;
        let id = n as i64 + 1;
        let key = format!("P{project}-{id}");
        let title_words = rng.gen_range(3..12);
        let body_words = if rng.gen_bool(0.2) { 0 } else { (rng.gen_range(1.0f64..6.0).exp() as usize).min(600) };
        SearchDoc {
            owner: Owner::Issue(id),
            kind: Kind::Issue,
            entity_id: id,
            key: Some(key.clone()),
            label: key.clone(),
            title: words.text(rng, title_words),
            body: words.text(rng, body_words),
            url: format!("/issues/{key}"),
            context: String::new(),
            place: Place::Project(project),
            status: Some(STATUSES[rng.gen_range(0..STATUSES.len())].to_owned()),
            assignee: Some(rng.gen_bool(0.8).then(|| skewed(rng, 10_000) as i64 + 1)),
            updated,
        }
    } else {
        let id = (n - plan.issues) as i64 + 1;
        let (title_words, body_words) = (rng.gen_range(2..8), (rng.gen_range(4.0f64..7.5).exp() as usize).min(3000));
        SearchDoc::from(PageRow {
            id,
            title: words.text(rng, title_words),
            body: words.text(rng, body_words),
            space_id: skewed(rng, plan.spaces) as i64 + 1,
            space_key: String::new(),
            space_name: String::new(),
            updated_at: updated,
        })
    }
}

fn folder_size(folder: &Path) -> u64 {
    std::fs::read_dir(folder)
        .map(|entries| entries.flatten().filter_map(|entry| entry.metadata().ok()).map(|meta| meta.len()).sum())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

/// Builds the index in `folder` (which must not exist, unless reused) and prints the figures.
pub fn run(folder: &Path, plan: &Plan) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(42);
    let words = Words::new(60_000, &mut rng);
    if !plan.reuse {
        build(folder, plan, &words, &mut rng)?;
    }
    time_queries(folder, plan, &words)
}

fn build(folder: &Path, plan: &Plan, words: &Words, rng: &mut StdRng) -> Result<(), String> {
    let describe = |e: tantivy::TantivyError| e.to_string();
    std::fs::create_dir_all(folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let (schema_def, fields) = schema::schema();
    let index = Index::create_in_dir(folder, schema_def).map_err(describe)?;
    schema::register_analyzer(&index);
    let mut writer = index.writer_with_num_threads(2, 200_000_000).map_err(describe)?;
    let total = plan.issues + plan.pages;
    println!("Indexing {} issues and {} pages in {} …", plan.issues, plan.pages, folder.display());
    let started = Instant::now();
    for n in 0..total {
        writer.add_document(generated(n, plan, words, rng).into_tantivy(&fields)).map_err(describe)?;
        if (n + 1) % 200_000 == 0 {
            println!("  {} documents, {:.0}/s", n + 1, (n + 1) as f64 / started.elapsed().as_secs_f64());
        }
    }
    writer.commit().map_err(describe)?;
    writer.wait_merging_threads().map_err(describe)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "Indexed {total} documents in {seconds:.1} s: {:.0} documents/s; index size {:.0} MiB",
        total as f64 / seconds,
        folder_size(folder) as f64 / 1_048_576.0
    );
    Ok(())
}

fn time_queries(folder: &Path, plan: &Plan, words: &Words) -> Result<(), String> {
    let describe = |e: tantivy::TantivyError| e.to_string();
    let live = open_live(folder).map_err(describe)?;
    let few = Scope::Only { projects: vec![3, 40, 200], spaces: vec![2, 30] };
    let many = Scope::Only {
        projects: (1..=plan.projects as i64).step_by(2).collect(),
        spaces: (1..=plan.spaces as i64).collect(),
    };
    let rare = words.nth(20_000).to_owned();
    let rare_prefix = format!("{}*", &words.nth(5_000)[..4.min(words.nth(5_000).len())]);
    let typo = {
        let mut w = words.nth(3_000).to_owned();
        w.push('x');
        w
    };
    let issue = Filters { kind: Some(Kind::Issue), ..Filters::default() };
    let big_project = Filters { project_id: Some(1), ..Filters::default() };
    let open = Filters { status: Some("In progress".into()), kind: Some(Kind::Issue), ..Filters::default() };
    let recent = Filters {
        updated_from: chrono::NaiveDate::from_ymd_opt(2025, 1, 1),
        updated_to: chrono::NaiveDate::from_ymd_opt(2025, 6, 30),
        ..Filters::default()
    };
    let none = Filters::default();
    let all = Scope::Everything;
    let cases: Vec<(String, &Filters, &Scope)> = vec![
        ("deploy".into(), &none, &all),
        ("timeout".into(), &none, &all),
        ("kubernetes".into(), &none, &all),
        (rare.clone(), &none, &all),
        ("deploy timeout".into(), &none, &all),
        ("backup failover".into(), &none, &all),
        ("database migration schema".into(), &none, &all),
        ("\"disk full\"".into(), &none, &all),
        ("\"audit log\"".into(), &none, &all),
        ("depl*".into(), &none, &all),
        (rare_prefix.clone(), &none, &all),
        (typo.clone(), &none, &all),
        ("certficate".into(), &none, &all),
        ("P1-42".into(), &none, &all),
        ("deploy".into(), &issue, &all),
        ("timeout".into(), &big_project, &all),
        ("error".into(), &open, &all),
        ("backup".into(), &recent, &all),
        ("deploy".into(), &none, &few),
        ("deploy timeout".into(), &none, &few),
        ("depl*".into(), &none, &few),
        ("deploy".into(), &none, &many),
        ("\"disk full\"".into(), &none, &many),
        ("upgrade".into(), &issue, &many),
    ];
    println!("\n{:<34} {:>9} {:>8} {:>8} {:>8}", "query (filters, scope)", "hits", "p50 ms", "p95 ms", "p99 ms");
    let mut everything = Vec::new();
    for (text, filters, scope) in &cases {
        let parsed = query::parse(text)?;
        let mut times = Vec::with_capacity(plan.rounds);
        let mut hits = 0;
        for round in 0..plan.rounds {
            let page = 1 + round % 3;
            let started = Instant::now();
            let results =
                engine::run_with(plan.effort, &live, &parsed, filters, scope, (page, 20)).map_err(describe)?;
            times.push(started.elapsed());
            hits = results.total;
        }
        times.sort();
        let label = format!(
            "{text}{}{}",
            if filters.any() { " +filter" } else { "" },
            match scope {
                Scope::Everything => "",
                Scope::Only { projects, .. } if projects.len() < 10 => " (few)",
                Scope::Only { .. } => " (many)",
            }
        );
        println!(
            "{label:<34} {hits:>9} {:>8.2} {:>8.2} {:>8.2}",
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            percentile(&times, 0.99)
        );
        everything.extend(times);
    }
    everything.sort();
    println!(
        "\nAll {} queries × {} rounds: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
        cases.len(),
        plan.rounds,
        percentile(&everything, 0.5),
        percentile(&everything, 0.95),
        percentile(&everything, 0.99)
    );
    Ok(())
}
