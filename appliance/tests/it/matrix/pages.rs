//! Every page route of the route table, as each of seven kinds of caller.

use super::{case, sweep, Body, Case, Rule, Who};
use crate::support::PASSWORD;

fn get(template: &'static str, path: impl Into<String>, rule: Rule) -> Case {
    case("GET", template, path, rule)
}

fn post(template: &'static str, path: impl Into<String>, fields: &[(&'static str, &str)], rule: Rule) -> Case {
    case("POST", template, path, rule).form(fields)
}

/// Routes the sweep does not call, each with why: they come before signing in, or carry their
/// own secret, and their tests are elsewhere.
const NOT_SWEPT: [(&str, &str, &str); 18] = [
    ("GET", "/health/live", "public: the load balancer's probe"),
    ("GET", "/health/ready", "public: the load balancer's probe"),
    ("GET", "/static/{name}", "public: stylesheets and scripts"),
    ("GET", "/login", "before signing in (auth.rs)"),
    ("POST", "/login", "before signing in (auth.rs)"),
    ("POST", "/logout", "ends the caller's session (auth.rs)"),
    ("GET", "/login/reset", "before signing in (passwords.rs)"),
    ("POST", "/login/reset", "before signing in (passwords.rs)"),
    ("GET", "/login/reset/{token}", "the mailed link is the credential (passwords.rs)"),
    ("POST", "/login/reset/{token}", "the mailed link is the credential (passwords.rs)"),
    ("GET", "/login/sso", "before signing in (sso.rs)"),
    ("GET", "/login/sso/callback", "before signing in (sso.rs)"),
    ("GET", "/login/code", "the second step of signing in (mfa.rs)"),
    ("POST", "/login/code", "the second step of signing in (mfa.rs)"),
    ("GET", "/notifications/unsubscribe", "the mailed link's signature is the credential (notifications.rs)"),
    ("POST", "/notifications/unsubscribe", "the mailed link's signature is the credential (notifications.rs)"),
    ("GET", "/admin", "a redirect to /admin/users, which decides"),
    ("GET", "/metrics", "loopback or the metrics token, not a person's role (system.rs)"),
];

/// The (method, path) pairs of the page routes in `web/mod.rs`, the route table itself.
fn route_table() -> Vec<(String, String)> {
    let source = include_str!("../../../src/web/mod.rs");
    let pages = &source[..source.find("fn api_routes").expect("the API's routes follow the pages'")];
    let mut routes = Vec::new();
    for piece in pages.split(".route(").skip(1) {
        let piece = piece.trim_start();
        let Some(rest) = piece.strip_prefix('"') else { continue };
        let Some((path, rest)) = rest.split_once('"') else { continue };
        let rest = rest.trim_start().trim_start_matches(',').trim_start();
        let Some(method) = rest.strip_prefix("web::").and_then(|rest| rest.split_once('(')).map(|(m, _)| m) else {
            continue;
        };
        routes.push((method.to_uppercase(), path.to_owned()));
    }
    routes
}

#[test]
fn every_page_route_allows_exactly_what_the_scheme_says_to_each_kind_of_caller() {
    use Who::*;
    let (app, _api, _root, mut people, f) = super::start();

    let read = Rule::Project { min: Viewer, auditor: true };
    let report = Rule::Project { min: Reporter, auditor: false };
    let work = Rule::Project { min: Member, auditor: false };
    let manage = Rule::Project { min: ProjectAdmin, auditor: false };
    let admin = Rule::Global(&[Admin]);
    let oversight = Rule::Global(&[Auditor, Admin]);
    let every = Rule::Everyone;
    let mut workflow: Vec<(&'static str, String)> = Vec::new();
    let names = ["To do", "In progress", "In review", "Done"];
    let categories = ["todo", "in_progress", "in_progress", "done"];
    const FIELDS: [[&str; 4]; 4] = [
        ["status_0_id", "status_0_name", "status_0_category", "status_0_order"],
        ["status_1_id", "status_1_name", "status_1_category", "status_1_order"],
        ["status_2_id", "status_2_name", "status_2_category", "status_2_order"],
        ["status_3_id", "status_3_name", "status_3_category", "status_3_order"],
    ];
    for (i, fields) in FIELDS.iter().enumerate() {
        let values = [f.statuses[i].clone(), names[i].to_owned(), categories[i].to_owned(), (i + 1).to_string()];
        workflow.extend(fields.iter().copied().zip(values));
    }
    for transition in ["t_0_1", "t_0_3", "t_1_0", "t_1_2", "t_1_3", "t_2_1", "t_2_3", "t_3_0"] {
        workflow.push((transition, "on".to_owned()));
    }
    let rule_form: &[(&str, &str)] = &[
        ("name", "Label new"),
        ("trigger", "issue_created"),
        ("trigger_value", ""),
        ("condition", ""),
        ("action_1_type", "add_label"),
        ("action_1_target", "auto"),
        ("action_1_text", ""),
    ];
    let hook_form: &[(&str, &str)] = &[("name", "Hook"), ("url", "https://203.0.113.9/other"), ("events", "*")];
    let mut workflow_case = post("/projects/{key}/workflow", "/projects/SEC/workflow", &[], manage);
    workflow_case.body = Body::Form(workflow);

    let cases = vec![
        // Anyone signed in
        get("/", "/", every),
        get("/projects", "/projects", every),
        get("/projects/{key}", "/projects/SEC", every),
        get("/search", "/search?q=keys", every),
        get("/spaces", "/spaces", every),
        get("/help/oql", "/help/oql", every),
        get("/help/api", "/help/api", every),
        get("/notifications", "/notifications", every),
        post("/notifications/read", "/notifications/read", &[], every),
        get("/notifications/preferences", "/notifications/preferences", every),
        post("/notifications/preferences", "/notifications/preferences", &[("watching", "digest")], every),
        get("/settings/profile", "/settings/profile", every),
        post(
            "/settings/profile",
            "/settings/profile",
            &[("display_name", "{me}"), ("email", "{me}@example.test"), ("timezone", "Europe/Berlin")],
            every,
        ),
        get("/settings/tokens", "/settings/tokens", every),
        post("/settings/tokens", "/settings/tokens", &[("name", "ci"), ("scope", "read")], every),
        post(
            "/settings/tokens/{id}/revoke",
            format!("/settings/tokens/{}/revoke", f.viewer_token),
            &[],
            Rule::Owned(Viewer),
        ),
        get("/settings/mfa", "/settings/mfa", every),
        post("/settings/mfa/{action}", "/settings/mfa/disable", &[("code", "000000")], every).lenient(),
        get("/settings/password", "/settings/password", every),
        // A project's reads
        get("/projects/{key}/issues", "/projects/SEC/issues", read),
        get("/projects/{key}/issues.csv", "/projects/SEC/issues.csv", read),
        get("/projects/{key}/backlog", "/projects/SEC/backlog", read),
        get("/projects/{key}/board", "/projects/SEC/board", read),
        get("/projects/{key}/sprint-board", "/projects/SEC/sprint-board", read),
        get("/projects/{key}/deployments", "/projects/SEC/deployments", read),
        get("/projects/{key}/automation", "/projects/SEC/automation", read),
        get("/projects/{key}/automation/{id}", format!("/projects/SEC/automation/{}", f.rule), read),
        get("/issues/{key}", "/issues/SEC-1", read),
        get("/issues/{key}/history", "/issues/SEC-1/history", read),
        get("/issues/{key}/comments", "/issues/SEC-1/comments", read),
        get("/issues/{key}/comments/{id}", format!("/issues/SEC-1/comments/{}", f.comment), read),
        get("/attachments/{id}/{name}", format!("/attachments/{}/p.png", f.issue_attachment), read),
        get("/thumbnails/{id}", format!("/thumbnails/{}", f.issue_attachment), read),
        get("/spaces/{key}", "/spaces/SEC", read),
        get("/pages/{id}", format!("/pages/{}", f.page), read),
        get("/pages/{id}/versions", format!("/pages/{}/versions", f.page), read),
        get("/pages/{id}/versions/{version}", format!("/pages/{}/versions/1", f.page), read),
        get("/pages/{id}/diff", format!("/pages/{}/diff", f.page), read),
        post("/issues/{key}/watch", "/issues/SEC-1/watch", &[("watching", "on")], read),
        post("/pages/{id}/watch", format!("/pages/{}/watch", f.page), &[("action", "watch")], read),
        post(
            "/projects/{key}/filters",
            "/projects/SEC/filters",
            &[("name", "Mine {me}"), ("oql", "assignee = currentUser()")],
            read,
        ),
        post(
            "/projects/{key}/filters/{id}/delete",
            format!("/projects/SEC/filters/{}/delete", f.filter),
            &[],
            Rule::SharedInProject(Viewer),
        )
        .once(),
        // Reporting
        get("/projects/{key}/issues/new", "/projects/SEC/issues/new", report),
        post("/projects/{key}/issues", "/projects/SEC/issues", &[("title", "Reported by {me}")], report),
        post("/issues/{key}/comments", "/issues/SEC-1/comments", &[("body", "Seen by {me}")], report),
        get("/projects/{key}/import", "/projects/SEC/import", report),
        post(
            "/projects/{key}/import",
            "/projects/SEC/import",
            &[("csv", "title\nImported\n"), ("map_0", "title"), ("action", "import")],
            report,
        ),
        post("/projects/{key}/import/upload", "/projects/SEC/import/upload", &[], report).file(
            "file",
            "i.csv",
            b"title\nUp\n",
        ),
        // Working on every issue
        get("/issues/{key}/edit", "/issues/SEC-1/edit", work),
        post("/issues/{key}/edit", "/issues/SEC-1/edit", &[("title", "Rotate the keys now")], work),
        post("/issues/{key}/transition", "/issues/SEC-1/transition", &[("status", "In progress")], work),
        post("/issues/{key}/move", "/issues/SEC-1/move", &[("direction", "top")], work),
        post("/issues/{key}/work-log", "/issues/SEC-1/work-log", &[("time_spent", "30m")], work),
        post("/issues/{key}/links", "/issues/SEC-2/links", &[("kind", "blocks"), ("issue", "SEC-1")], work).once(),
        post("/issues/{key}/links/{id}/delete", format!("/issues/SEC-1/links/{}/delete", f.link), &[], work).once(),
        post("/issues/{key}/attachments", "/issues/SEC-1/attachments", &[], work).file("files", "w.txt", b"work"),
        post("/attachments/{id}/delete", format!("/attachments/{}/delete", f.issue_attachment), &[], work).once(),
        post("/projects/{key}/bulk", "/projects/SEC/bulk", &[("issues", "SEC-2"), ("labels", "triaged")], work),
        post("/projects/{key}/sprints", "/projects/SEC/sprints", &[("name", "Sprint of {me}")], work),
        post("/projects/{key}/sprints/{id}/{action}", format!("/projects/SEC/sprints/{}/start", f.sprint), &[], work)
            .once(),
        post(
            "/projects/{key}/sprints/{id}/{action}",
            format!("/projects/SEC/sprints/{}/complete", f.sprint),
            &[("move_to", "")],
            work,
        )
        .once(),
        get("/spaces/{key}/pages/new", "/spaces/SEC/pages/new", work),
        post("/spaces/{key}/pages", "/spaces/SEC/pages", &[("title", "Page of {me}"), ("body", "text")], work),
        get("/pages/{id}/edit", format!("/pages/{}/edit", f.page), work),
        post(
            "/pages/{id}/versions/{version}/restore",
            format!("/pages/{}/versions/1/restore", f.page),
            &[("base_version", "1")],
            work,
        )
        .once(),
        post(
            "/pages/{id}/edit",
            format!("/pages/{}/edit", f.page),
            &[("title", "Runbook"), ("body", "Steps, revised"), ("base_version", "1")],
            work,
        )
        .once(),
        post("/pages/{id}/move", format!("/pages/{}/move", f.page), &[("parent_id", ""), ("position", "1")], work),
        post("/pages/{id}/attachments", format!("/pages/{}/attachments", f.page), &[], work)
            .file("files", "m.txt", b"more"),
        post("/attachments/{id}/delete", format!("/attachments/{}/delete", f.page_attachment), &[], work).once(),
        post("/pages/{id}/delete", format!("/pages/{}/delete", f.old_page), &[], work).once(),
        // Administering the project
        get("/projects/{key}/settings", "/projects/SEC/settings", manage),
        post("/projects/{key}/settings/{part}", "/projects/SEC/settings/versions", &[("name", "1.0")], manage).once(),
        post(
            "/projects/{key}/settings/{part}",
            "/projects/SEC/settings/release",
            &[("name", "1.0"), ("released", "on")],
            manage,
        ),
        get("/projects/{key}/workflow", "/projects/SEC/workflow", manage),
        workflow_case,
        get("/projects/{key}/access", "/projects/SEC/access", manage),
        post(
            "/projects/{key}/access/{action}",
            "/projects/SEC/access/grant",
            &[("role", "viewer"), ("kind", "team"), ("name", "Nobody")],
            manage,
        ),
        post("/projects/{key}/access/{action}", "/projects/SEC/access/scheme", &[("scheme", "1")], manage),
        get("/projects/{key}/audit", "/projects/SEC/audit", Rule::Project { min: ProjectAdmin, auditor: true }),
        get(
            "/projects/{key}/audit/export",
            "/projects/SEC/audit/export?format=json",
            Rule::Project { min: ProjectAdmin, auditor: true },
        ),
        post("/projects/{key}/automation", "/projects/SEC/automation", rule_form, manage),
        post("/projects/{key}/automation/{id}", format!("/projects/SEC/automation/{}", f.rule), rule_form, manage),
        post(
            "/projects/{key}/automation/{id}/{action:enable|disable|delete}",
            format!("/projects/SEC/automation/{}/disable", f.rule),
            &[],
            manage,
        ),
        post(
            "/projects/{key}/automation/{id}/{action:enable|disable|delete}",
            format!("/projects/SEC/automation/{}/delete", f.rule),
            &[],
            manage,
        )
        .once(),
        post("/projects/{key}/deployments/hooks", "/projects/SEC/deployments/hooks", &[("name", "Deploys")], manage),
        post(
            "/projects/{key}/deployments/hooks/{id}/revoke",
            format!("/projects/SEC/deployments/hooks/{}/revoke", f.incoming),
            &[],
            manage,
        )
        .once(),
        get("/projects/{key}/webhooks", "/projects/SEC/webhooks", manage),
        post("/projects/{key}/webhooks", "/projects/SEC/webhooks", hook_form, manage),
        get("/projects/{key}/webhooks/{id}", format!("/projects/SEC/webhooks/{}", f.project_hook), manage),
        post(
            "/projects/{key}/webhooks/{id}/deliveries/{delivery}/redeliver",
            format!("/projects/SEC/webhooks/{}/deliveries/{}/redeliver", f.project_hook, f.project_delivery),
            &[],
            manage,
        ),
        post(
            "/projects/{key}/webhooks/{id}/{action:enable|disable|delete}",
            format!("/projects/SEC/webhooks/{}/disable", f.project_hook),
            &[],
            manage,
        ),
        post(
            "/projects/{key}/webhooks/{id}/{action:enable|disable|delete}",
            format!("/projects/SEC/webhooks/{}/delete", f.project_hook),
            &[],
            manage,
        )
        .once(),
        post("/issues/{key}/delete", "/issues/SEC-3/delete", &[("confirm", "SEC-3")], manage).once(),
        // The installation
        get("/projects/new", "/projects/new", admin),
        post("/projects", "/projects", &[("key", "NEW"), ("name", "New")], admin),
        post("/spaces", "/spaces", &[("key", "HANDBOOK"), ("name", "Handbook")], admin),
        get("/admin/users", "/admin/users", admin),
        post(
            "/admin/users",
            "/admin/users",
            &[("username", "newbie"), ("display_name", "Newbie"), ("email", "newbie@example.test"), ("role", "user")],
            admin,
        ),
        post("/admin/users/{username}/{action}", "/admin/users/target/role", &[("role", "auditor")], admin),
        post("/admin/users/{username}/{action}", "/admin/users/target/deactivate", &[], admin),
        post("/admin/users/{username}/{action}", "/admin/users/target/reactivate", &[], admin),
        post("/admin/users/{username}/{action}", "/admin/users/target/password", &[], admin),
        post("/admin/users/{username}/{action}", "/admin/users/bot/token", &[("name", "ci"), ("scope", "read")], admin),
        post("/admin/settings/mfa", "/admin/settings/mfa", &[("mfa_required", "none")], admin),
        get("/admin/teams", "/admin/teams", admin),
        post("/admin/teams", "/admin/teams", &[("name", "Fresh"), ("description", "")], admin),
        get("/admin/teams/{id}", format!("/admin/teams/{}", f.scratch_team), admin),
        post(
            "/admin/teams/{id}/{action}",
            format!("/admin/teams/{}/add", f.scratch_team),
            &[("username", "target")],
            admin,
        ),
        post(
            "/admin/teams/{id}/{action}",
            format!("/admin/teams/{}/remove", f.scratch_team),
            &[("username", "target")],
            admin,
        ),
        post(
            "/admin/teams/{id}/{action}",
            format!("/admin/teams/{}/rename", f.scratch_team),
            &[("name", "Scratched"), ("description", "")],
            admin,
        ),
        post("/admin/teams/{id}/{action}", format!("/admin/teams/{}/delete", f.scratch_team), &[], admin),
        get("/admin/schemes", "/admin/schemes", admin),
        post("/admin/schemes", "/admin/schemes", &[("name", "Another"), ("from", "1")], admin),
        get("/admin/schemes/{id}", format!("/admin/schemes/{}", f.spare_scheme), admin),
        post(
            "/admin/schemes/{id}/{action}",
            format!("/admin/schemes/{}/save", f.spare_scheme),
            &[
                ("name", "Spare"),
                ("description", ""),
                ("grant", "browse:project_admin"),
                ("grant", "administer_project:project_admin"),
            ],
            admin,
        ),
        post("/admin/schemes/{id}/{action}", format!("/admin/schemes/{}/delete", f.doomed_scheme), &[], admin),
        get("/admin/license", "/admin/license", admin),
        post("/admin/license", "/admin/license", &[("license", "not a license")], admin).lenient(),
        get("/admin/system", "/admin/system", admin),
        get("/admin/usage", "/admin/usage", admin),
        get("/admin/usage/export", "/admin/usage/export?format=csv", admin),
        post("/admin/system/log-level", "/admin/system/log-level", &[("level", "info")], admin).lenient(),
        get("/admin/jobs", "/admin/jobs", admin),
        post("/admin/jobs/{id}/{action}", format!("/admin/jobs/{}/discard", f.dead_job), &[], admin),
        get("/admin/webhooks", "/admin/webhooks", admin),
        post("/admin/webhooks", "/admin/webhooks", hook_form, admin),
        get("/admin/webhooks/{id}", format!("/admin/webhooks/{}", f.global_hook), admin),
        post(
            "/admin/webhooks/{id}/deliveries/{delivery}/redeliver",
            format!("/admin/webhooks/{}/deliveries/{}/redeliver", f.global_hook, f.global_delivery),
            &[],
            admin,
        ),
        post(
            "/admin/webhooks/{id}/{action:enable|disable|delete}",
            format!("/admin/webhooks/{}/disable", f.global_hook),
            &[],
            admin,
        ),
        post(
            "/admin/webhooks/{id}/{action:enable|disable|delete}",
            format!("/admin/webhooks/{}/delete", f.global_hook),
            &[],
            admin,
        ),
        get("/admin/audit", "/admin/audit", oversight),
        get("/admin/audit/export", "/admin/audit/export?format=json", oversight),
        // Last: a new password ends every session of the caller's.
        post(
            "/settings/password",
            "/settings/password",
            &[("current", PASSWORD), ("password", "Quartz meadow lantern 42"), ("again", "Quartz meadow lantern 42")],
            every,
        ),
    ];

    // The sweep covers the whole route table, and nothing that is not in it.
    let table = route_table();
    assert!(table.len() > 100, "only {} routes were read from web/mod.rs", table.len());
    let covered = |method: &str, path: &str| {
        cases.iter().any(|c| c.method == method && c.template == path)
            || NOT_SWEPT.iter().any(|(m, p, _)| *m == method && *p == path)
    };
    let missing: Vec<String> = table.iter().filter(|(m, p)| !covered(m, p)).map(|(m, p)| format!("{m} {p}")).collect();
    assert!(missing.is_empty(), "page routes the matrix does not cover:\n{}", missing.join("\n"));
    for case in &cases {
        assert!(
            table.iter().any(|(m, p)| m == case.method && p == case.template),
            "{} {} is not a route",
            case.method,
            case.template
        );
    }

    let tokens: Vec<String> = people.iter_mut().map(|(_, _, browser)| browser.session_csrf()).collect();
    let wrong = sweep(&app, &cases, &mut people, |case, i, (who, _, browser)| match &case.body {
        _ if case.method == "GET" => browser.get(&case.path),
        Body::File(field, name, bytes) => {
            browser.post_files(&case.path, &[("csrf_token", &tokens[i])], &[(*field, *name, *bytes)])
        }
        Body::Form(fields) => {
            let me = who.username();
            let mut form: Vec<(&str, String)> = vec![("csrf_token", tokens[i].clone())];
            form.extend(fields.iter().map(|(name, value)| (*name, value.replace("{me}", &me))));
            let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
            browser.post_form(&case.path, &form)
        }
        _ => browser.post_form(&case.path, &[("csrf_token", &tokens[i])]),
    });
    assert!(wrong.is_empty(), "{} wrong answers:\n{}", wrong.len(), wrong.join("\n"));
}
