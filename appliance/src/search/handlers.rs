//! The search page and `GET /api/v1/search`: one reading of the parameters, one search, two
//! renderings. Everything (the reader's scope, the filters' names, the index) is read in one
//! blocking call, off the HTTP workers.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::engine::{self, FacetCounts, Filters, Hit, Kind, Ranked, Results, Scope};
use super::names::{names_for, Names};
use super::query::{self, Parsed};
use super::spelling;
use super::SearchIndex;
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, readable_scope, Action};
use crate::identity::users::User;
use crate::web::errors::{ApiError, PageError};
use crate::web::extract::{date_param, present, ApiCaller, SignedIn};
use crate::web::pages::{redirect, render_with_status, status_for, url_encode, Nav};
use crate::web::AppState;
use crate::work::issue_list::whole_number;
use crate::work::issues;

const PER_PAGE: i64 = 20;
const MAX_PER_PAGE: i64 = 100;
/// Hits beyond this depth are not paged to: a search that needs them needs narrowing.
const DEEPEST_HIT: i64 = 1000;

/// The search and its filters, as the page's form and the API take them.
#[derive(Deserialize, IntoParams, Default, Clone, Debug)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words, `"a phrase"`, `prefix*`, or an issue key (which opens the issue on the page).
    #[param(example = "deploy* \"disk full\"", max_length = 500)]
    pub q: Option<String>,
    /// issue, comment, page or attachment.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// A project key.
    pub project: Option<String>,
    /// A documentation space key.
    pub space: Option<String>,
    /// A status name.
    pub status: Option<String>,
    /// A user id, or `none` for unassigned issues.
    pub assignee: Option<String>,
    /// Changed on or after this day (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    pub updated_from: Option<String>,
    /// Changed on or before this day (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    pub updated_to: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1)]
    pub page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub per_page: Option<String>,
}

enum Outcome {
    /// The search is an issue key the reader may open.
    Jump(String),
    Found(Box<Found>),
}

struct Found {
    parsed: Parsed,
    results: Results,
    names: Names,
    page: usize,
    per_page: usize,
    /// When nothing was found with filters: how much would be without them.
    without_filters: Option<u64>,
    /// When nothing was found: the search with its unknown words spelt as the index knows them.
    did_you_mean: Option<Parsed>,
}

/// The filters, each checked; a project or space the reader may not see is "not there".
fn read_filters(conn: &mut PgConnection, user: &User, params: &SearchParams) -> Result<Filters, AppError> {
    let kind = present(&params.kind)
        .map(|text| {
            Kind::parse(text).ok_or_else(|| {
                AppError::invalid("type", format!("“{text}” is not a type; use issue, comment, page or attachment."))
            })
        })
        .transpose()?;
    let project_id = match present(&params.project) {
        Some(key) => Some(
            crate::work::projects::find_allowed(conn, user, key, |p| Action::ViewProject(p))
                .map_err(|_| AppError::invalid("project", format!("There is no project with key {key}.")))?
                .id,
        ),
        None => None,
    };
    let space_id = match present(&params.space) {
        Some(key) => Some(
            crate::docs::spaces::find_allowed(conn, user, key, |s| Action::ViewSpace(s))
                .map_err(|_| AppError::invalid("space", format!("There is no documentation space with key {key}.")))?
                .id,
        ),
        None => None,
    };
    let assignee_id = present(&params.assignee)
        .map(|text| match text {
            "none" => Ok(None),
            id => id.parse::<i64>().map(Some).map_err(|_| {
                AppError::invalid(
                    "assignee",
                    format!("“{text}” is not a user id; use a number, or none for unassigned."),
                )
            }),
        })
        .transpose()?;
    let updated_from = date_param("updated_from", &params.updated_from)?;
    let updated_to = date_param("updated_to", &params.updated_to)?;
    if let (Some(from), Some(to)) = (updated_from, updated_to) {
        if to < from {
            return Err(AppError::invalid("updated_to", format!("{to} is before updated_from ({from}).")));
        }
    }
    let status = present(&params.status).map(str::to_owned);
    Ok(Filters { kind, project_id, space_id, status, assignee_id, updated_from, updated_to })
}

fn unavailable(search: &SearchIndex) -> AppError {
    AppError::SearchUnavailable(search.unavailable_reason())
}

/// A search as the database left it for the index: checked, with the reader's scope.
struct Request {
    parsed: Parsed,
    filters: Filters,
    scope: Scope,
    page: usize,
    per_page: usize,
}

/// What the parameters ask for, read with the database.
enum Asked {
    /// The search is an issue key the reader may open.
    Jump(String),
    Search(Box<Request>),
}

/// Reads the parameters, the filters' projects and spaces and the reader's scope, or finds
/// the issue the search names.
fn read_request(
    conn: &mut PgConnection,
    user: &User,
    params: &SearchParams,
    may_jump: bool,
) -> Result<Asked, AppError> {
    let parsed = query::parse(params.q.as_deref().unwrap_or("")).map_err(|message| AppError::invalid("q", message))?;
    let filters = read_filters(conn, user, params)?;
    let per_page = whole_number(&params.per_page, "per_page", PER_PAGE, 1..=MAX_PER_PAGE)? as usize;
    let page = whole_number(&params.page, "page", 1, 1..=DEEPEST_HIT / per_page as i64)? as usize;
    if let (true, false, Some(key)) = (may_jump, filters.any(), parsed.only_key()) {
        if let Ok((project, issue)) = issues::find_by_key(conn, key) {
            if authorize(user, Action::ViewProject(&project)).is_ok() {
                return Ok(Asked::Jump(format!("/issues/{}-{}", project.key, issue.number)));
            }
        }
    }
    let scope = readable_scope(conn, user)?;
    Ok(Asked::Search(Box::new(Request { parsed, filters, scope, page, per_page })))
}

/// Runs the search on the index; the facets' names are left to the caller.
fn search_index(search: &SearchIndex, request: Request) -> Result<Found, AppError> {
    let Request { parsed, filters, scope, page, per_page } = request;
    let live = search.live().ok_or_else(|| unavailable(search))?;
    let failed = |e: tantivy::TantivyError| AppError::internal(format!("search: {e}"));
    let results = engine::run(&live, &parsed, &filters, &scope, (page, per_page)).map_err(failed)?;
    let (mut without_filters, mut did_you_mean) = (None, None);
    if results.total == 0 {
        did_you_mean = spelling::suggest(&live, &parsed, &filters, &scope).map_err(failed)?;
        if filters.any() {
            without_filters = Some(engine::count(&live, &parsed, &Filters::default(), &scope).map_err(failed)?);
        }
    }
    Ok(Found { parsed, results, names: Names::default(), page, per_page, without_filters, did_you_mean })
}

/// The database, the index, the database again: no connection is held while Tantivy works
/// (tens of milliseconds under load), so a few searches at once cannot take every one of the
/// request pool's connections that all other pages wait for.
async fn perform_blocking(
    state: &AppState,
    user: &User,
    params: &SearchParams,
    may_jump: bool,
) -> Result<Outcome, AppError> {
    let (search, user, params) = (state.search.clone(), user.clone(), params.clone());
    let request = match db::run(&state.pool, move |conn| read_request(conn, &user, &params, may_jump)).await? {
        Asked::Jump(url) => return Ok(Outcome::Jump(url)),
        Asked::Search(request) => request,
    };
    let mut found = state.search.in_turn(move || search_index(&search, *request)).await?;
    let facets = found.results.facets.clone();
    found.names = db::run(&state.pool, move |conn| Ok(names_for(conn, &facets)?)).await?;
    Ok(Outcome::Found(Box::new(found)))
}

/// One value of a facet: what it shows, how many hits, and the page it links to.
pub struct FacetLink {
    pub label: String,
    pub count: u64,
    pub href: String,
    pub selected: bool,
}

/// A facet on the page: its heading, the values with most hits, and how many more have hits.
pub struct FacetGroup {
    pub heading: &'static str,
    pub links: Vec<FacetLink>,
    pub more: usize,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    nav: Nav,
    params: SearchParams,
    error: Option<AppError>,
    notices: Vec<String>,
    total: usize,
    /// Whether the facet counts were counted, not estimated from a sample.
    facets_exact: bool,
    hits: Vec<Hit>,
    facets: Vec<FacetGroup>,
    suggestions: Vec<String>,
    /// The corrected search and where it is, when a word was unknown.
    did_you_mean: Option<(String, String)>,
    /// Where the search without its filters is, and how many it finds there.
    clear_filters: Option<(String, String)>,
    previous: Option<String>,
    next: Option<String>,
    first_shown: usize,
    last_shown: usize,
    searched: bool,
}

impl SearchPage {
    fn empty(signed_in: &SignedIn, params: SearchParams) -> SearchPage {
        SearchPage {
            nav: Nav::for_user(signed_in, "search"),
            params,
            error: None,
            notices: Vec::new(),
            total: 0,
            facets_exact: true,
            hits: Vec::new(),
            facets: Vec::new(),
            suggestions: Vec::new(),
            did_you_mean: None,
            clear_filters: None,
            previous: None,
            next: None,
            first_shown: 0,
            last_shown: 0,
            searched: false,
        }
    }

    /// The facets chosen, kept when the words change.
    fn chosen_facets(&self) -> Vec<(&'static str, &str)> {
        let p = &self.params;
        [
            ("type", &p.kind),
            ("project", &p.project),
            ("space", &p.space),
            ("status", &p.status),
            ("assignee", &p.assignee),
        ]
        .into_iter()
        .filter_map(|(name, value)| present(value).map(|value| (name, value)))
        .collect()
    }

    /// The refusal, with the name of the filter it is about (the search box is plain to see).
    fn error_line(&self) -> Option<String> {
        let error = self.error.as_ref()?;
        Some(match error.field() {
            Some(field) if field != "q" => format!("{field}: {error}"),
            _ => error.to_string(),
        })
    }

    pub fn kind_name(kind: &Kind) -> &'static str {
        match kind {
            Kind::Issue => "Issue",
            Kind::Comment => "Comment",
            Kind::Page => "Page",
            Kind::Attachment => "File",
        }
    }
}

/// The page's address with `params`, changed by `change`.
fn href(params: &SearchParams, change: impl FnOnce(&mut SearchParams)) -> String {
    let mut params = params.clone();
    change(&mut params);
    let pairs = [
        ("q", &params.q),
        ("type", &params.kind),
        ("project", &params.project),
        ("space", &params.space),
        ("status", &params.status),
        ("assignee", &params.assignee),
        ("updated_from", &params.updated_from),
        ("updated_to", &params.updated_to),
        ("page", &params.page),
        ("per_page", &params.per_page),
    ];
    let query: Vec<String> = pairs
        .iter()
        .filter_map(|(name, value)| present(value).map(|value| format!("{name}={}", url_encode(value))))
        .collect();
    format!("/search?{}", query.join("&"))
}

/// A facet value's link: choosing it narrows to it (from page 1); choosing it again lets go.
fn facet_link(
    params: &SearchParams,
    label: String,
    count: u64,
    value: String,
    field: fn(&mut SearchParams) -> &mut Option<String>,
) -> FacetLink {
    let selected = present(field(&mut params.clone())) == Some(value.as_str());
    let href = href(params, |params| {
        params.page = None;
        *field(params) = if selected { None } else { Some(value) };
    });
    FacetLink { label, count, href, selected }
}

fn facet_groups(params: &SearchParams, facets: &FacetCounts, names: &Names) -> Vec<FacetGroup> {
    let kinds = facets
        .kinds
        .iter()
        .map(|(kind, n)| {
            facet_link(params, SearchPage::kind_name(kind).into(), *n, kind.as_str().into(), |p| &mut p.kind)
        })
        .collect();
    let mut groups = vec![FacetGroup { heading: "Type", links: kinds, more: 0 }];
    let keyed = |heading, ranked: &Ranked<i64>, map: &HashMap<i64, (String, String)>, field| FacetGroup {
        heading,
        links: ranked
            .values
            .iter()
            .filter_map(|(id, n)| {
                map.get(id).map(|(key, name)| facet_link(params, name.clone(), *n, key.clone(), field))
            })
            .collect(),
        more: ranked.more,
    };
    groups.push(keyed("Project", &facets.projects, &names.projects, |p| &mut p.project));
    groups.push(keyed("Space", &facets.spaces, &names.spaces, |p| &mut p.space));
    groups.push(FacetGroup {
        heading: "Status",
        links: (facets.statuses.values.iter())
            .map(|(status, n)| facet_link(params, status.clone(), *n, status.clone(), |p| &mut p.status))
            .collect(),
        more: facets.statuses.more,
    });
    groups.push(FacetGroup {
        heading: "Assignee",
        links: (facets.assignees.values.iter())
            .map(|(id, n)| {
                let (label, value) = match id {
                    Some(id) => (names.users.get(id).cloned().unwrap_or_else(|| format!("user {id}")), id.to_string()),
                    None => ("Unassigned".to_owned(), "none".to_owned()),
                };
                facet_link(params, label, *n, value, |p| &mut p.assignee)
            })
            .collect(),
        more: facets.assignees.more,
    });
    groups.retain(|group| !group.links.is_empty());
    groups
}

/// Ways forward when nothing was found.
fn suggestions(found: &Found) -> Vec<String> {
    let mut tips = Vec::new();
    if found.parsed.parts.len() > 1 {
        tips.push("Use fewer words: every word must be found.".to_owned());
    }
    if let Some(long) = found.parsed.words().find(|word| word.chars().count() >= 4) {
        tips.push(format!("Search for the beginning of a word, like {}*.", long.chars().take(4).collect::<String>()));
    }
    tips.push(
        "Check the spelling: a rare word of five letters or more also matches with one letter wrong, but not two."
            .to_owned(),
    );
    tips
}

/// `GET /search`: the search page; an issue key opens the issue.
pub async fn page(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, PageError> {
    let params = params.into_inner();
    let mut page = SearchPage::empty(&signed_in, params.clone());
    if params.q.is_none() {
        return Ok(render_with_status(&page, status_for(None))?);
    }
    match perform_blocking(&state, signed_in.user(), &params, true).await {
        Ok(Outcome::Jump(url)) => Ok(redirect(&url)),
        Ok(Outcome::Found(found)) => {
            page.searched = true;
            page.total = found.results.total;
            page.facets_exact = found.results.facets_exact;
            page.first_shown = if found.results.hits.is_empty() { 0 } else { (found.page - 1) * found.per_page + 1 };
            page.last_shown = page.first_shown + found.results.hits.len().saturating_sub(1);
            page.facets = facet_groups(&params, &found.results.facets, &found.names);
            if found.page > 1 {
                page.previous = Some(href(&params, |p| p.page = Some((found.page - 1).to_string())));
            }
            if found.page * found.per_page < found.results.total.min(DEEPEST_HIT as usize) {
                page.next = Some(href(&params, |p| p.page = Some((found.page + 1).to_string())));
            }
            if found.results.total == 0 {
                page.suggestions = suggestions(&found);
                page.did_you_mean = found.did_you_mean.as_ref().map(|corrected| {
                    let text = corrected.text();
                    (href(&params, |p| (p.q, p.page) = (Some(text.clone()), None)), text)
                });
                page.clear_filters = found.without_filters.filter(|n| *n > 0).map(|n| {
                    let clear = href(&params, |p| *p = SearchParams { q: p.q.take(), ..SearchParams::default() });
                    let found = if n == 1 { "There is 1 result".to_owned() } else { format!("There are {n} results") };
                    (clear, found)
                });
            }
            page.notices = found.parsed.notices;
            page.hits = found.results.hits;
            Ok(render_with_status(&page, status_for(None))?)
        }
        Err(error @ (AppError::Invalid { .. } | AppError::SearchUnavailable(_))) => {
            let status = status_for(Some(&error));
            page.error = Some(error);
            Ok(render_with_status(&page, status)?)
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Serialize, ToSchema)]
pub struct SearchHit {
    #[serde(rename = "type")]
    kind: Kind,
    /// The issue's, comment's, page's or file's id.
    id: i64,
    /// The issue key, or the space key of a page.
    label: String,
    /// The title with the matched words in `<mark>` (HTML, escaped).
    title_html: String,
    /// The best passage with the matched words in `<mark>` (HTML, escaped).
    snippet_html: String,
    /// Where the hit is in the web interface.
    url: String,
    context: String,
    updated_at: DateTime<Utc>,
    /// How well the hit matches the words (BM25); only the order it gives means anything.
    score: f32,
}

#[derive(Serialize, ToSchema)]
pub struct FacetValue {
    /// What to pass back as the filter to narrow to this value.
    value: String,
    label: String,
    count: u64,
}

/// Each facet's values with most hits, most first: every type, and up to ten of the others.
#[derive(Serialize, ToSchema)]
pub struct SearchFacets {
    #[serde(rename = "type")]
    kind: Vec<FacetValue>,
    project: Vec<FacetValue>,
    space: Vec<FacetValue>,
    status: Vec<FacetValue>,
    assignee: Vec<FacetValue>,
    /// How many further values of each facet have hits (narrow the search to see them).
    more: MoreFacetValues,
}

#[derive(Serialize, ToSchema)]
pub struct MoreFacetValues {
    project: usize,
    space: usize,
    status: usize,
    assignee: usize,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResult {
    q: String,
    /// Hits in all, in what the caller may see.
    total: usize,
    /// False when the search found more than 10,000 documents: the facet counts are then
    /// estimated from one match in 16 and rounded to two significant digits.
    facet_counts_exact: bool,
    page: usize,
    per_page: usize,
    has_more: bool,
    /// How the query was read, when it needed reading charitably (an unclosed quote).
    notices: Vec<String>,
    /// When the query is exactly an issue key the caller may open: its page.
    issue_url: Option<String>,
    /// When nothing was found: the query with its unknown words spelt as the index knows
    /// them, offered only when it finds something the caller may see under the same filters.
    did_you_mean: Option<String>,
    hits: Vec<SearchHit>,
    facets: SearchFacets,
}

fn facet_values(facets: &FacetCounts, names: &Names) -> SearchFacets {
    let value = |value: String, label: String, count: u64| FacetValue { value, label, count };
    let keyed = |ranked: &Ranked<i64>, map: &HashMap<i64, (String, String)>| {
        (ranked.values.iter())
            .filter_map(|(id, n)| map.get(id).map(|(key, name)| value(key.clone(), name.clone(), *n)))
            .collect()
    };
    SearchFacets {
        kind: facets.kinds.iter().map(|(k, n)| value(k.as_str().into(), SearchPage::kind_name(k).into(), *n)).collect(),
        project: keyed(&facets.projects, &names.projects),
        space: keyed(&facets.spaces, &names.spaces),
        status: facets.statuses.values.iter().map(|(s, n)| value(s.clone(), s.clone(), *n)).collect(),
        assignee: (facets.assignees.values.iter())
            .map(|(id, n)| match id {
                Some(id) => value(id.to_string(), names.users.get(id).cloned().unwrap_or_default(), *n),
                None => value("none".into(), "Unassigned".into(), *n),
            })
            .collect(),
        more: MoreFacetValues {
            project: facets.projects.more,
            space: facets.spaces.more,
            status: facets.statuses.more,
            assignee: facets.assignees.more,
        },
    }
}

/// Full-text search over the issues, comments, pages and files the caller may read.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchResult)))]
pub async fn search_api(
    caller: ApiCaller,
    state: web::Data<AppState>,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let Outcome::Found(found) = perform_blocking(&state, &caller.user, &params, false).await? else {
        return Err(AppError::internal("the API does not jump to issues").into());
    };
    let issue_url = match found.parsed.only_key() {
        Some(key) => {
            let (key, user) = (key.to_owned(), caller.user.clone());
            db::run(&state.pool, move |conn| {
                Ok(issues::find_by_key(conn, &key)
                    .ok()
                    .filter(|(project, _)| authorize(&user, Action::ViewProject(project)).is_ok())
                    .map(|(project, issue)| format!("/issues/{}-{}", project.key, issue.number)))
            })
            .await?
        }
        None => None,
    };
    let Found { parsed, results, names, page, per_page, did_you_mean, .. } = *found;
    let facets = facet_values(&results.facets, &names);
    Ok(HttpResponse::Ok().json(SearchResult {
        q: params.q.unwrap_or_default(),
        has_more: page * per_page < results.total.min(DEEPEST_HIT as usize),
        total: results.total,
        facet_counts_exact: results.facets_exact,
        page,
        per_page,
        notices: parsed.notices,
        issue_url,
        did_you_mean: did_you_mean.map(|corrected| corrected.text()),
        hits: results
            .hits
            .into_iter()
            .map(|hit| SearchHit {
                kind: hit.kind,
                id: hit.entity_id,
                label: hit.label,
                title_html: hit.title_html,
                snippet_html: hit.snippet_html,
                url: hit.url,
                context: hit.context,
                updated_at: hit.updated,
                score: hit.score,
            })
            .collect(),
        facets,
    }))
}
