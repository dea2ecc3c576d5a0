//! The whole permission matrix, end to end, as the issue asks: each route × each role.
//! - `pages`: every page route of the route table (read from `web/mod.rs`, so a new route
//!   cannot be left out) called by each of seven kinds of caller;
//! - `api`: every operation of the OpenAPI document called the same way, and every
//!   project-scoped one called by an outsider.
//!
//! Each call is allowed or refused as the default scheme says; refused reads of a project are
//! answered 404, as for what does not exist; no refusal writes anything.

mod api;
mod pages;

use outpost::identity::roles::GlobalRole;
use serde_json::{json, Value};

use crate::access::{call, person, private_project, Caller};
use crate::support::http::Reply;
use crate::support::{Client, TestApp, PASSWORD, PNG};

/// Who is asking, in the matrix below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Who {
    Outsider,
    Viewer,
    Reporter,
    Member,
    ProjectAdmin,
    Auditor,
    Admin,
}

pub(super) const EVERYONE: [Who; 7] =
    [Who::Outsider, Who::Viewer, Who::Reporter, Who::Member, Who::ProjectAdmin, Who::Auditor, Who::Admin];

/// Who calls, with their API token and a signed-in browser.
type Cast = Vec<(Who, Caller, Client)>;

/// One person of each kind, with their API token and a signed-in browser: an outsider, a
/// viewer, reporter, member and project admin of SEC, an auditor, and `root` (administrator).
fn cast(app: &TestApp, api: &mut Client, root: &Caller) -> Cast {
    use Who::*;
    let mut people = Vec::new();
    for who in EVERYONE {
        let name = who.username();
        let role = match who {
            Admin => GlobalRole::Admin,
            Auditor => GlobalRole::Auditor,
            _ => GlobalRole::User,
        };
        let caller = if who == Admin { Caller { token: root.token.clone() } } else { person(app, &name, role) };
        let grant = match who {
            Viewer => Some("viewer"),
            Reporter => Some("reporter"),
            Member => Some("member"),
            ProjectAdmin => Some("project_admin"),
            _ => None,
        };
        if let Some(role) = grant {
            let body = json!({ "role": role, "user": name });
            assert_eq!(call(api, root, "POST", "/api/v1/projects/SEC/roles", Some(body)).0, 201);
        }
        let mut browser = app.client();
        assert_eq!(browser.sign_in(&name, PASSWORD).status, 303);
        people.push((who, caller, browser));
    }
    people
}

impl Who {
    fn username(self) -> String {
        match self {
            Who::Admin => "root".to_owned(),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}

/// Who may use a route.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// Anyone signed in: their own settings, and lists that show only what they may see.
    Everyone,
    /// Something of project SEC: its roles from `min` up, administrators, and auditors if
    /// `auditor` (reads). Outsiders are told it does not exist (404); the others why not (403).
    Project { min: Who, auditor: bool },
    /// Something of SEC that one person made and shared (a saved filter): its owner, and who
    /// administers the project; outsiders 404, others 403.
    SharedInProject(Who),
    /// Something that belongs to one person (an API token): only its owner; to anyone else it
    /// does not exist (404).
    Owned(Who),
    /// Installation-wide: only these global roles; others 403.
    Global(&'static [Who]),
}

impl Rule {
    fn allows(self, who: Who) -> bool {
        use Who::*;
        let rank = |who: Who| [Viewer, Reporter, Member, ProjectAdmin].iter().position(|w| *w == who);
        match self {
            Rule::Everyone => true,
            Rule::Project { min, auditor } => match who {
                Admin => true,
                Auditor => auditor,
                Outsider => false,
                role => rank(role) >= rank(min),
            },
            Rule::SharedInProject(owner) => who == owner || who == Admin || who == ProjectAdmin,
            Rule::Owned(owner) => who == owner,
            Rule::Global(roles) => roles.contains(&who),
        }
    }

    fn refusal(self, who: Who) -> u16 {
        match self {
            Rule::Project { .. } | Rule::SharedInProject(_) if who == Who::Outsider => 404,
            Rule::Owned(_) => 404,
            _ => 403,
        }
    }
}

/// What a call sends.
#[derive(Clone)]
enum Body {
    Empty,
    /// Form fields; `{me}` is replaced by the caller's user name.
    Form(Vec<(&'static str, String)>),
    /// A multipart upload: (field, file name, bytes).
    File(&'static str, &'static str, &'static [u8]),
    Json(Value),
    Csv(&'static str),
}

/// One route as the sweep calls it.
struct Case {
    method: &'static str,
    /// The path as the route table or the OpenAPI document writes it, to check coverage.
    template: &'static str,
    path: String,
    body: Body,
    rule: Rule,
    /// The call changes something it cannot change twice (a delete, a sprint start): only the
    /// lowest allowed caller makes it; the unit test of `authorize` covers the rest.
    once: bool,
    /// Being allowed may still end in a refusal of the input (409/422): the call changes the
    /// caller's own settings, which no one else is asked about.
    lenient: bool,
}

fn case(method: &'static str, template: &'static str, path: impl Into<String>, rule: Rule) -> Case {
    Case { method, template, path: path.into(), body: Body::Empty, rule, once: false, lenient: false }
}

impl Case {
    fn form(mut self, fields: &[(&'static str, &str)]) -> Case {
        self.body = Body::Form(fields.iter().map(|(name, value)| (*name, (*value).to_owned())).collect());
        self
    }

    fn json(mut self, body: Value) -> Case {
        self.body = Body::Json(body);
        self
    }

    fn file(mut self, field: &'static str, name: &'static str, bytes: &'static [u8]) -> Case {
        self.body = Body::File(field, name, bytes);
        self
    }

    fn csv(mut self, text: &'static str) -> Case {
        self.body = Body::Csv(text);
        self
    }

    fn once(mut self) -> Case {
        self.once = true;
        self
    }

    fn lenient(mut self) -> Case {
        self.lenient = true;
        self
    }
}

/// The objects the routes act on, made by root in project SEC (and installation-wide).
struct Fixture {
    page: String,
    old_page: String,
    issue_attachment: String,
    page_attachment: String,
    comment: String,
    link: String,
    sprint: String,
    rule: String,
    incoming: String,
    project_hook: String,
    global_hook: String,
    project_delivery: String,
    global_delivery: String,
    scratch_team: String,
    spare_scheme: String,
    doomed_scheme: String,
    dead_job: String,
    viewer_token: String,
    bot_token: String,
    filter: String,
    statuses: Vec<String>,
}

/// Issues SEC-1..3 with a link, a comment and a file, pages (one to delete) with a file, a planned sprint,
/// a rule, hooks with a failed delivery each, a version, a component and a field, teams
/// (Scratch, Nobody), spare schemes, a service account `bot` with a token, a dead job, a
/// person `target` for the administrators' pages, and a filter the viewer saved and shared.
fn fixture(app: &TestApp, api: &mut Client, root: &Caller, people: &mut [(Who, Caller, Client)]) -> Fixture {
    for title in ["Rotate the keys", "Audit the vault", "Delete me", "Delete me too"] {
        let made = call(api, root, "POST", "/api/v1/projects/SEC/issues", Some(json!({ "title": title })));
        assert_eq!(made.0, 201);
    }
    for (path, body) in [
        ("/api/v1/issues/SEC-1/links", json!({ "kind": "relates", "issue": "SEC-2" })),
        ("/api/v1/projects/SEC/sprints", json!({ "name": "S1" })),
        (
            "/api/v1/projects/SEC/automation-rules",
            json!({ "name": "Label", "trigger": "issue_created", "actions": [{ "type": "add_label", "label": "new" }] }),
        ),
        ("/api/v1/issues/SEC-1/comments", json!({ "body": "First look" })),
        ("/api/v1/projects/SEC/versions", json!({ "name": "0.9" })),
        ("/api/v1/projects/SEC/components", json!({ "name": "legacy" })),
        ("/api/v1/projects/SEC/fields", json!({ "name": "Tier", "kind": "select", "options": ["Gold", "Silver"] })),
        ("/api/v1/projects/SEC/fields", json!({ "name": "Old", "kind": "text" })),
    ] {
        let made = call(api, root, "POST", path, Some(body));
        assert_eq!(made.0, 201, "{path}: {made:?}");
    }
    let root_browser = &mut people.iter_mut().find(|(who, ..)| *who == Who::Admin).unwrap().2;
    let csrf = root_browser.session_csrf();
    for (path, fields) in [
        ("/spaces/SEC/pages", vec![("title", "Runbook"), ("body", "Steps")]),
        ("/spaces/SEC/pages", vec![("title", "Old page"), ("body", "Gone soon")]),
        ("/projects/SEC/deployments/hooks", vec![("name", "CI")]),
        ("/admin/schemes", vec![("name", "Spare"), ("from", "1")]),
        ("/admin/schemes", vec![("name", "Doomed"), ("from", "1")]),
    ] {
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend(fields);
        let reply = root_browser.post_form(path, &form);
        assert!(reply.status == 303 || reply.status == 200, "{path}: {} {}", reply.status, reply.body);
    }
    let files = [("/issues/SEC-1/attachments", "p.png", PNG)];
    for (path, name, bytes) in files {
        assert_eq!(root_browser.post_files(path, &[("csrf_token", &csrf)], &[("files", name, bytes)]).status, 303);
    }
    let id = |query: &str| app.value(query);
    let page = id("SELECT id::text FROM pages WHERE title = 'Runbook'");
    let notes = root_browser.post_files(
        &format!("/pages/{page}/attachments"),
        &[("csrf_token", &csrf)],
        &[("files", "n.txt", b"notes")],
    );
    assert_eq!(notes.status, 303);
    app.run_jobs();
    app.sql(
        "INSERT INTO webhooks (project_id, name, url, secret, events, created_by) SELECT p, n, 'https://203.0.113.9/h', \
         repeat('s', 32), '{*}', (SELECT id FROM users WHERE username = 'root') FROM (VALUES \
         ((SELECT id FROM projects WHERE key = 'SEC'), 'Project hook'), (NULL::bigint, 'Global hook')) AS h (p, n)",
    );
    app.sql(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, topic, payload, state) \
         SELECT id, 1, 'issue.created', '{}', 'failed' FROM webhooks",
    );
    app.sql("INSERT INTO teams (name) VALUES ('Scratch'), ('Nobody')");
    app.sql(
        "INSERT INTO users (username, display_name, email, password_hash, is_service) \
         VALUES ('bot', 'Bot', 'bot@example.test', '!', true)",
    );
    let bot_token = json!({ "name": "CI", "scope": "read" });
    assert_eq!(call(api, root, "POST", "/api/v1/users/bot/tokens", Some(bot_token)).0, 201);
    app.sql("INSERT INTO jobs (kind, state) VALUES ('notify', 'dead')");
    person(app, "target", GlobalRole::User);
    let viewer_browser = &mut people.iter_mut().find(|(who, ..)| *who == Who::Viewer).unwrap().2;
    let viewer_csrf = viewer_browser.session_csrf();
    let saved = viewer_browser.post_form(
        "/projects/SEC/filters",
        &[("csrf_token", &viewer_csrf), ("name", "Open"), ("oql", "status = \"To do\""), ("shared", "on")],
    );
    assert_eq!(saved.status, 303, "{}", saved.body);
    app.index();
    let project_hook = id("SELECT id::text FROM webhooks WHERE name = 'Project hook'");
    let global_hook = id("SELECT id::text FROM webhooks WHERE name = 'Global hook'");
    let delivery = |hook: &str| id(&format!("SELECT id::text FROM webhook_deliveries WHERE webhook_id = {hook}"));
    Fixture {
        old_page: id("SELECT id::text FROM pages WHERE title = 'Old page'"),
        issue_attachment: id("SELECT id::text FROM attachments WHERE file_name = 'p.png'"),
        page_attachment: id("SELECT id::text FROM attachments WHERE file_name = 'n.txt'"),
        comment: id("SELECT id::text FROM comments WHERE body = 'First look'"),
        link: id("SELECT min(id)::text FROM issue_links"),
        sprint: id("SELECT id::text FROM sprints"),
        rule: id("SELECT id::text FROM automation_rules"),
        incoming: id("SELECT id::text FROM incoming_hooks"),
        project_delivery: delivery(&project_hook),
        global_delivery: delivery(&global_hook),
        project_hook,
        global_hook,
        scratch_team: id("SELECT id::text FROM teams WHERE name = 'Scratch'"),
        spare_scheme: id("SELECT id::text FROM permission_schemes WHERE name = 'Spare'"),
        doomed_scheme: id("SELECT id::text FROM permission_schemes WHERE name = 'Doomed'"),
        dead_job: id("SELECT id::text FROM jobs WHERE state = 'dead'"),
        viewer_token: id(
            "SELECT t.id::text FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.username = 'viewer'",
        ),
        bot_token: id("SELECT t.id::text FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.username = 'bot'"),
        filter: id("SELECT id::text FROM saved_filters"),
        statuses: id("SELECT string_agg(s.id::text, ',' ORDER BY s.position) FROM workflow_statuses s \
             JOIN projects p ON p.id = s.project_id WHERE p.key = 'SEC'")
        .split(',')
        .map(str::to_owned)
        .collect(),
        page,
    }
}

/// A test app with project SEC, its seven callers and the fixture, as every sweep starts.
fn start() -> (TestApp, Client, Caller, Cast, Fixture) {
    let app = TestApp::start();
    let mut api = app.client();
    let root = person(&app, "root", GlobalRole::Admin);
    private_project(&mut api, &root);
    let mut people = cast(&app, &mut api, &root);
    let fixture = fixture(&app, &mut api, &root, &mut people);
    (app, api, root, people, fixture)
}

/// Calls each case as each kind of caller (refused ones first, then the allowed ones, or the
/// lowest of them for a `once` case) through `send`, and returns what was not as expected.
fn sweep(
    app: &TestApp,
    cases: &[Case],
    people: &mut [(Who, Caller, Client)],
    mut send: impl FnMut(&Case, usize, &mut (Who, Caller, Client)) -> Reply,
) -> Vec<String> {
    let writes = || (app.count("audit_log"), app.count("outbox"));
    let mut wrong = Vec::new();
    for case in cases {
        let (refused, allowed): (Vec<usize>, Vec<usize>) =
            (0..people.len()).partition(|i| !case.rule.allows(people[*i].0));
        let before = writes();
        let attempts = refused.iter().chain(allowed.iter().take(if case.once { 1 } else { usize::MAX }));
        for &i in attempts {
            let reply = send(case, i, &mut people[i]);
            let (who, status) = (people[i].0, reply.status);
            let outcome = if case.rule.allows(who) {
                let fine = (200..400).contains(&status) || (case.lenient && (status == 409 || status == 422));
                (!fine).then(|| format!("allowed, but answered {status}: {}", excerpt(&reply.body)))
            } else {
                let expected = case.rule.refusal(who);
                (status != expected)
                    .then(|| format!("answered {status}, expected {expected}: {}", excerpt(&reply.body)))
            };
            if let Some(problem) = outcome {
                wrong.push(format!("{who:?} {} {}: {problem}", case.method, case.path));
            }
            if !case.rule.allows(who) && writes() != before {
                wrong.push(format!("{who:?} {} {}: refused, but something was written", case.method, case.path));
            }
        }
    }
    wrong
}

/// The readable sentence of an error page, or the start of the body.
fn excerpt(body: &str) -> String {
    let text = body.find("<main").map_or(body, |at| &body[at..]);
    text.chars().take(300).collect::<String>().replace('\n', " ")
}
