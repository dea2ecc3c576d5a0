//! Documentation through its pages: spaces (a project's own and standalone), the page tree
//! (move, reorder, no cycles), Markdown rendered safely with highlighting and issue links,
//! versions (diff, restore), the conflict page when two people edit at once, "mentioned in"
//! on issues, watchers' notifications, and files on pages.

use crate::support::{Client, TestApp, PNG};

/// A signed-in administrator with project OPS (and so space OPS) and issue OPS-1.
fn setup(app: &TestApp) -> (Client, String) {
    let (mut client, _) = app.signed_in("root", true);
    let token = client.session_csrf();
    let made = client.post_form("/projects", &[("csrf_token", &token), ("key", "OPS"), ("name", "Operations")]);
    assert_eq!(made.status, 303, "{}", made.body);
    let made = client.post_form("/projects/OPS/issues", &[("csrf_token", &token), ("title", "Disk full")]);
    assert_eq!(made.status, 303, "{}", made.body);
    (client, token)
}

/// Writes a page in `space` (under `parent`) and answers its id.
fn write(client: &mut Client, token: &str, space: &str, parent: &str, title: &str, body: &str) -> i64 {
    let made = client.post_form(
        &format!("/spaces/{space}/pages"),
        &[("csrf_token", token), ("title", title), ("body", body), ("parent_id", parent)],
    );
    assert_eq!(made.status, 303, "{}", made.body);
    made.location.unwrap().trim_start_matches("/pages/").parse().unwrap()
}

fn save(client: &mut Client, token: &str, id: i64, base: &str, title: &str, body: &str) -> crate::support::Reply {
    client.post_form(
        &format!("/pages/{id}/edit"),
        &[("csrf_token", token), ("title", title), ("body", body), ("base_version", base)],
    )
}

#[test]
fn every_project_has_a_space_and_admins_add_standalone_ones() {
    let app = TestApp::start();
    let (mut client, token) = setup(&app);
    let spaces = client.get("/spaces");
    assert!(spaces.body.contains("href=\"/spaces/OPS\"") && spaces.body.contains("Project space"), "{}", spaces.body);
    assert!(client.get("/spaces/OPS").body.contains("This space has no pages yet."));

    let made = client.post_form(
        "/spaces",
        &[("csrf_token", &token), ("key", "hb"), ("name", "Handbook"), ("description", "How we work")],
    );
    assert_eq!((made.status, made.location.as_deref()), (303, Some("/spaces/HB")));
    assert_eq!(app.count("audit_log WHERE action = 'space.created'"), 1);

    // Refusals: a taken key (by a project's space), a bad key, no name; nothing is written.
    let before = app.count("spaces");
    let taken = client.post_form("/spaces", &[("csrf_token", &token), ("key", "OPS"), ("name", "Other")]);
    assert_eq!(taken.status, 409);
    assert!(taken.body.contains("OPS is already the key of the documentation space"), "{}", taken.body);
    assert!(taken.body.contains("value=\"Other\""), "the form keeps what was typed");
    let bad = client.post_form("/spaces", &[("csrf_token", &token), ("key", "9x"), ("name", "Nine")]);
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("Space key must be 2 to 10 upper-case letters"), "{}", bad.body);
    let unnamed = client.post_form("/spaces", &[("csrf_token", &token), ("key", "NN"), ("name", " ")]);
    assert!(unnamed.body.contains("Space name must be 1 to 80 characters."));
    // A project may not take a standalone space's key either.
    let project = client.post_form("/projects", &[("csrf_token", &token), ("key", "HB"), ("name", "Hub")]);
    assert_eq!(project.status, 409);
    assert!(
        project.body.contains("HB is already the key of the documentation space &quot;Handbook&quot;"),
        "{}",
        project.body
    );
    assert_eq!(app.count("spaces"), before);
    assert_eq!(app.count("projects"), 1);

    // Only administrators create standalone spaces; everyone can read them.
    let (mut ann, _) = app.signed_in("ann", false);
    let ann_token = ann.session_csrf();
    let refused = ann.post_form("/spaces", &[("csrf_token", &ann_token), ("key", "ANN"), ("name", "Mine")]);
    assert_eq!(refused.status, 403);
    assert!(!ann.get("/spaces").body.contains("New standalone space"));
    assert_eq!(ann.get("/spaces/HB").status, 200);
}

#[test]
fn pages_form_a_tree_that_moves_and_reorders_but_never_loops() {
    let app = TestApp::start();
    let (mut client, token) = setup(&app);
    let guide = write(&mut client, &token, "OPS", "", "Guide", "Top");
    let install = write(&mut client, &token, "OPS", &guide.to_string(), "Install", "");
    let upgrade = write(&mut client, &token, "OPS", &guide.to_string(), "Upgrade", "");
    let deep = write(&mut client, &token, "OPS", &install.to_string(), "Offline install", "");
    let faq = write(&mut client, &token, "OPS", "", "FAQ", "");

    let tree = client.get("/spaces/OPS").body;
    let order: Vec<usize> = ["Guide", "Install", "Offline install", "Upgrade", "FAQ"]
        .iter()
        .map(|title| tree.find(&format!(">{title}</a>")).unwrap_or_else(|| panic!("{title} in {tree}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "outline order: {tree}");
    let page = client.get(&format!("/pages/{deep}")).body;
    assert!(page.contains(&format!("<a href=\"/pages/{guide}\">Guide</a>")), "breadcrumbs: {page}");
    assert!(page.contains(&format!("<a href=\"/pages/{deep}\" aria-current=\"page\">")), "current page marked");

    // Reorder: Upgrade first under Guide.
    let moved = client.post_form(
        &format!("/pages/{upgrade}/move"),
        &[("csrf_token", &token), ("parent_id", &guide.to_string()), ("position", "1")],
    );
    assert_eq!(moved.status, 303, "{}", moved.body);
    let positions = app.value(&format!(
        "SELECT string_agg(title || ':' || position, ',' ORDER BY position) FROM pages WHERE parent_id = {guide}"
    ));
    assert_eq!(positions, "Upgrade:0,Install:1");

    // Move FAQ under Install, last; the top level closes its gap.
    let moved = client.post_form(
        &format!("/pages/{faq}/move"),
        &[("csrf_token", &token), ("parent_id", &install.to_string()), ("position", "")],
    );
    assert_eq!(moved.status, 303, "{}", moved.body);
    assert_eq!(
        app.value(&format!("SELECT string_agg(title, ',' ORDER BY position) FROM pages WHERE parent_id = {install}")),
        "Offline install,FAQ"
    );
    assert_eq!(
        app.value("SELECT string_agg(title || ':' || position, ',') FROM pages WHERE parent_id IS NULL"),
        "Guide:0"
    );

    // A page cannot go under itself or its own descendants; nothing changes.
    let tree_before = app
        .value("SELECT string_agg(id || '>' || coalesce(parent_id, 0) || '@' || position, ',' ORDER BY id) FROM pages");
    for target in [guide, deep] {
        let refused = client.post_form(
            &format!("/pages/{guide}/move"),
            &[("csrf_token", &token), ("parent_id", &target.to_string()), ("position", "1")],
        );
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(refused.body.contains("which would make a loop"), "{}", refused.body);
    }
    let bad_position = client
        .post_form(&format!("/pages/{faq}/move"), &[("csrf_token", &token), ("parent_id", ""), ("position", "first")]);
    assert!(bad_position.body.contains("&quot;first&quot; is not a position"), "{}", bad_position.body);
    let tree_after = app
        .value("SELECT string_agg(id || '>' || coalesce(parent_id, 0) || '@' || position, ',' ORDER BY id) FROM pages");
    assert_eq!(tree_before, tree_after);

    // Pages stay in their space.
    let made = client.post_form("/spaces", &[("csrf_token", &token), ("key", "HB"), ("name", "Handbook")]);
    assert_eq!(made.status, 303);
    let other = write(&mut client, &token, "HB", "", "Elsewhere", "");
    let across = client.post_form(
        &format!("/pages/{faq}/move"),
        &[("csrf_token", &token), ("parent_id", &other.to_string()), ("position", "1")],
    );
    assert!(across.body.contains("A page can only move within its own space."), "{}", across.body);
    let foreign_parent = client.post_form(
        "/spaces/OPS/pages",
        &[("csrf_token", &token), ("title", "X"), ("body", ""), ("parent_id", &other.to_string())],
    );
    assert_eq!(foreign_parent.status, 422);
    assert!(foreign_parent.body.contains("is not in the space OPS"), "{}", foreign_parent.body);

    // A page with children cannot be deleted; a leaf can, with its versions.
    let refused = client.post_form(&format!("/pages/{install}/delete"), &[("csrf_token", &token)]);
    assert_eq!(refused.status, 409);
    assert!(
        refused.body.contains("&quot;Install&quot; has 2 child pages; move or delete them first."),
        "{}",
        refused.body
    );
    let deleted = client.post_form(&format!("/pages/{faq}/delete"), &[("csrf_token", &token)]);
    assert_eq!((deleted.status, deleted.location.as_deref()), (303, Some("/spaces/OPS")));
    assert_eq!(client.get(&format!("/pages/{faq}")).status, 404);
    assert_eq!(app.count(&format!("page_versions WHERE page_id = {faq}")), 0);
    assert_eq!(app.count("audit_log WHERE action IN ('page.created', 'page.moved', 'page.deleted')"), 9);
}

#[test]
fn a_page_shows_the_path_to_it_in_the_tree_and_the_space_shows_everything() {
    let app = TestApp::start();
    let (mut client, token) = setup(&app);
    // Guide > Install > Linux > Debian, FAQ > Billing
    let guide = write(&mut client, &token, "OPS", "", "Guide", "");
    let install = write(&mut client, &token, "OPS", &guide.to_string(), "Install", "");
    let linux = write(&mut client, &token, "OPS", &install.to_string(), "Linux", "");
    let debian = write(&mut client, &token, "OPS", &linux.to_string(), "Debian", "");
    let faq = write(&mut client, &token, "OPS", "", "FAQ", "");
    let billing = write(&mut client, &token, "OPS", &faq.to_string(), "Billing", "");
    let page = client.get(&format!("/pages/{install}"));
    assert_eq!(page.status, 200);
    let tree = page.body.split("class=\"page-tree\"").nth(1).unwrap().split("</ul>\n").next().unwrap().to_owned();
    for shown in [guide, install, linux, faq] {
        assert!(tree.contains(&format!("/pages/{shown}\"")), "page {shown} is in the tree: {tree}");
    }
    assert!(tree.contains(&format!("<a href=\"/pages/{install}\" aria-current=\"page\">")), "{tree}");
    for hidden in [debian, billing] {
        assert!(!tree.contains(&format!("/pages/{hidden}\"")), "page {hidden} is under a closed list: {tree}");
    }
    let space = client.get("/spaces/OPS").body;
    for every in [guide, install, linux, debian, faq, billing] {
        assert!(space.contains(&format!("/pages/{every}\"")), "the space lists page {every}");
    }
}

#[test]
fn markdown_is_rendered_highlighted_linked_and_stripped_of_anything_active() {
    let app = TestApp::start();
    let (mut client, token) = setup(&app);
    let body = "# Runbook\n\nSee OPS-1 and OPS-99.\n\n| Host | Role |\n|---|---|\n| db1 | primary |\n\n- [x] backup\n- [ ] restore\n\n\
                ```sql\nSELECT * FROM issues WHERE id = 1;\n```\n\n\
                <script>alert('x')</script>\n<iframe src=\"https://evil.example\"></iframe>\n\n\
                [click](javascript:alert(1)) <img src=x onerror=alert(1)> [data](data:text/html;base64,PHNjcmlwdD4=)";
    let id = write(&mut client, &token, "OPS", "", "Runbook", body);
    let page = client.get(&format!("/pages/{id}")).body;
    let article = &page[page.find("class=\"markdown doc-body\"").unwrap()..];
    let article = &article[..article.find("</div>").unwrap()];
    assert!(article.contains("<h1>Runbook</h1>"));
    assert!(article.contains("<a class=\"issue-ref\" href=\"/issues/OPS-1\">OPS-1</a>"), "{article}");
    assert!(article.contains("<table>") && article.contains("<td>primary</td>"));
    assert!(article.contains("type=\"checkbox\" checked=\"\""));
    assert!(article.contains("<code class=\"language-sql\">") && article.contains("<span class=\"hl-"), "{article}");
    // Raw HTML comes out as text (`&lt;img … onerror=…&gt;`); no element or address is active.
    for active in ["<script", "<iframe", "<img", "href=\"javascript:", "href=\"data:"] {
        assert!(!article.contains(active), "{active} survived: {article}");
    }
    assert!(article.contains("&lt;script&gt;"), "raw HTML is shown as text");

    // OPS-1 exists, so its issue lists the page; OPS-99 does not exist and is not recorded.
    assert_eq!(app.count("page_mentions"), 1);
    let issue = client.get("/issues/OPS-1").body;
    assert!(
        issue.contains("Mentioned in") && issue.contains(&format!("<a href=\"/pages/{id}\">Runbook</a>")),
        "{issue}"
    );
    let saved = save(&mut client, &token, id, "1", "Runbook", "No issues named now.");
    assert_eq!(saved.status, 303);
    assert!(!client.get("/issues/OPS-1").body.contains("Mentioned in"), "mentions follow the latest text");
}

#[test]
fn every_save_keeps_a_version_with_diff_and_restore() {
    let app = TestApp::start();
    let (mut client, token) = setup(&app);
    let id = write(&mut client, &token, "OPS", "", "Backups", "Run nightly.\nKeep 7 days.\n");
    assert_eq!(
        save(&mut client, &token, id, "1", "Backups", "Run nightly.\nKeep 30 days.\nVerify weekly.\n").status,
        303
    );
    // Saving the same text again keeps no new version.
    assert_eq!(
        save(&mut client, &token, id, "2", "Backups", "Run nightly.\r\nKeep 30 days.\r\nVerify weekly.\r\n").status,
        303
    );
    assert_eq!(app.count(&format!("page_versions WHERE page_id = {id}")), 2);

    let history = client.get(&format!("/pages/{id}/versions")).body;
    assert!(
        history.contains(&format!("href=\"/pages/{id}/versions/1\"")) && history.contains("(current)"),
        "{history}"
    );
    let diff = client.get(&format!("/pages/{id}/diff?from=1&to=2")).body;
    assert!(diff.contains("<del><span class=\"visually-hidden\">removed: </span>Keep 7 days.</del>"), "{diff}");
    assert!(diff.contains("<ins><span class=\"visually-hidden\">added: </span>Keep 30 days.</ins>"), "{diff}");
    assert!(diff.contains("<ins><span class=\"visually-hidden\">added: </span>Verify weekly.</ins>"));
    assert_eq!(client.get(&format!("/pages/{id}/diff?from=1&to=9")).status, 404);
    assert_eq!(client.get(&format!("/pages/{id}/diff?from=x")).status, 422);

    let old = client.get(&format!("/pages/{id}/versions/1")).body;
    assert!(old.contains("Keep 7 days.") && old.contains("Restore this version"), "{old}");
    let restored =
        client.post_form(&format!("/pages/{id}/versions/1/restore"), &[("csrf_token", &token), ("base_version", "2")]);
    assert_eq!(restored.status, 303, "{}", restored.body);
    assert_eq!(
        app.value(&format!("SELECT body || '|' || version FROM pages WHERE id = {id}")),
        "Run nightly.\nKeep 7 days.\n|3"
    );
    assert_eq!(
        app.value(&format!("SELECT note FROM page_versions WHERE page_id = {id} AND version = 3")),
        "Restored version 1"
    );
    // A restore from a stale history page is refused like any stale save.
    let stale =
        client.post_form(&format!("/pages/{id}/versions/2/restore"), &[("csrf_token", &token), ("base_version", "2")]);
    assert_eq!(stale.status, 409);
    assert_eq!(app.count(&format!("page_versions WHERE page_id = {id}")), 3);
}

#[test]
fn the_second_of_two_concurrent_edits_gets_a_conflict_page_with_both_texts() {
    let app = TestApp::start();
    let (mut ann, token) = setup(&app);
    let id = write(&mut ann, &token, "OPS", "", "On-call", "Page the primary.\n");
    let (mut bob, _) = app.signed_in("bob", false);
    let bob_token = bob.session_csrf();
    // Both open the editor at version 1.
    for client in [&mut ann, &mut bob] {
        let editor = client.get(&format!("/pages/{id}/edit")).body;
        assert!(editor.contains("name=\"base_version\" value=\"1\""), "{editor}");
    }
    assert_eq!(save(&mut ann, &token, id, "1", "On-call", "Page the primary, then the secondary.\n").status, 303);
    let conflict = save(&mut bob, &bob_token, id, "1", "On-call", "Page the primary.\nEscalate after 15 minutes.\n");
    assert_eq!(conflict.status, 409);
    assert!(conflict.body.contains("was changed by someone else while you edited it"), "{}", conflict.body);
    assert!(conflict.body.contains("Page the primary, then the secondary."), "their text is shown");
    assert!(conflict.body.contains("Escalate after 15 minutes."), "your text is kept");
    assert!(conflict.body.contains("name=\"base_version\" value=\"2\""), "the next save builds on their version");
    assert_eq!(
        app.value(&format!("SELECT body FROM pages WHERE id = {id}")),
        "Page the primary, then the secondary.\n"
    );
    assert_eq!(app.count(&format!("page_versions WHERE page_id = {id}")), 2);

    // After merging, the save goes through.
    let merged = save(
        &mut bob,
        &bob_token,
        id,
        "2",
        "On-call",
        "Page the primary, then the secondary.\nEscalate after 15 minutes.\n",
    );
    assert_eq!(merged.status, 303);
    assert_eq!(app.value(&format!("SELECT version::text FROM pages WHERE id = {id}")), "3");

    // Other refusals keep the text too.
    let untitled = save(&mut bob, &bob_token, id, "3", "  ", "Keep me");
    assert_eq!(untitled.status, 422);
    assert!(untitled.body.contains("A page needs a title.") && untitled.body.contains("Keep me"));
    let no_version = save(&mut bob, &bob_token, id, "", "T", "Keep me");
    assert!(no_version.body.contains("does not say which version it edits"), "{}", no_version.body);
    let long_title = save(&mut bob, &bob_token, id, "3", &"t".repeat(201), "Keep me");
    assert_eq!(long_title.status, 422);
    assert!(long_title.body.contains("A page title must be at most 200 characters."), "{}", long_title.body);
    let long_body = save(&mut bob, &bob_token, id, "3", "On-call", &"x".repeat(200_001));
    assert_eq!(long_body.status, 422);
    assert!(long_body.body.contains("A page can hold at most 200000 characters"), "{}", long_body.body);
    let odd_watch = bob.post_form(&format!("/pages/{id}/watch"), &[("csrf_token", &bob_token), ("action", "follow")]);
    assert_eq!(odd_watch.status, 422);
    assert!(odd_watch.body.contains("&quot;follow&quot; is neither watch nor unwatch."), "{}", odd_watch.body);
    assert_eq!(app.value(&format!("SELECT version::text FROM pages WHERE id = {id}")), "3");
}

#[test]
fn watchers_hear_about_edits_and_mentioned_people_about_mentions() {
    let app = TestApp::start();
    let (mut root, token) = setup(&app);
    let (mut ann, _) = app.signed_in("ann", false);
    let ann_token = ann.session_csrf();
    let id = write(&mut ann, &ann_token, "OPS", "", "Release notes", "Draft");
    app.run_jobs();
    assert_eq!(save(&mut root, &token, id, "1", "Release notes", "Draft, reviewed by @ann").status, 303);
    app.run_jobs();
    let notes = ann.get("/notifications").body;
    // The mention is the more specific reason; ann hears once.
    assert!(notes.contains("root (test) mentioned you on the page"), "{notes}");
    assert_eq!(app.count("notifications WHERE reason = 'page_watched'"), 0);
    assert_eq!(save(&mut root, &token, id, "2", "Release notes", "Final").status, 303);
    app.run_jobs();
    assert_eq!(app.count("notifications WHERE reason = 'page_watched'"), 1);
    assert!(ann.get("/notifications").body.contains("root (test) edited “Release notes” (version 3)"));

    // Unwatching stops it; the writer (root watches since saving) hears nothing of their own edit.
    let unwatched = ann.post_form(&format!("/pages/{id}/watch"), &[("csrf_token", &ann_token), ("action", "unwatch")]);
    assert_eq!(unwatched.status, 303);
    assert_eq!(save(&mut root, &token, id, "3", "Release notes", "Final!").status, 303);
    app.run_jobs();
    assert_eq!(app.count("notifications WHERE reason = 'page_watched'"), 1);
}

#[test]
fn pages_carry_files_with_thumbnails_and_notes_for_pictures_without_one() {
    let app = TestApp::start();
    let (mut client, token) = setup(&app);
    let id = write(&mut client, &token, "OPS", "", "Diagrams", "");
    let tiff: &[u8] = b"II*\0\x08\0\0\0rest of a tiff";
    let attached = client.post_files(
        &format!("/pages/{id}/attachments"),
        &[("csrf_token", &token)],
        &[("files", "rack.png", PNG), ("files", "scan.tif", tiff), ("files", "broken.png", b"\x89PNG\r\n\x1a\nnope")],
    );
    assert_eq!((attached.status, attached.location.clone()), (303, Some(format!("/pages/{id}#attachments"))));
    app.run_jobs();
    let page = client.get(&format!("/pages/{id}")).body;
    assert!(page.contains("Attachments (3)"), "{page}");
    assert!(page.contains("<img src=\"/thumbnails/1\""), "{page}");
    assert!(page.contains("No preview: TIFF pictures are not previewed (PNG, JPEG, GIF and WebP are)."), "{page}");
    assert!(page.contains("No preview: the picture could not be read"), "{page}");
    assert_eq!(app.value("SELECT count(*)::text FROM attachments WHERE page_id IS NOT NULL AND issue_id IS NULL"), "3");

    // Deleting the page takes its files with it: rows at once, objects by job.
    let deleted = client.post_form(&format!("/pages/{id}/delete"), &[("csrf_token", &token)]);
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    assert_eq!(app.count("attachments"), 0);
    app.run_jobs();
    assert_eq!(
        app.count("jobs WHERE kind = 'storage.delete' AND state = 'succeeded'"),
        4,
        "three files and a thumbnail"
    );
}

#[test]
fn attachments_are_listed_uploaded_read_downloaded_and_deleted_over_the_api() {
    let app = TestApp::start();
    let (mut client, token) = setup(&app);
    let page = write(&mut client, &token, "OPS", "", "API", "");
    let root = app.user("apiuser", true);
    let api_token = app.token(&root);
    let mut api = app.client();

    let (content_type, body) =
        crate::support::http::multipart(&[], &[("files", "a.txt", b"alpha"), ("files", "p.png", PNG)]);
    let created = api.api_raw("/api/v1/issues/OPS-1/attachments", &api_token, &content_type, &body);
    assert_eq!(created.status, 201, "{}", created.body);
    let files = created.json()["attachments"].as_array().unwrap().clone();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["issue"], "OPS-1");
    assert_eq!(files[1]["content_type"], "image/png");
    assert_eq!(files[0]["sha256"], "8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8");

    let listed = api.api("GET", "/api/v1/issues/OPS-1/attachments", Some(&api_token), None);
    assert_eq!(listed.json()["attachments"].as_array().unwrap().len(), 2);
    let id = files[0]["id"].as_i64().unwrap();
    let one = api.api("GET", &format!("/api/v1/attachments/{id}"), Some(&api_token), None);
    assert_eq!((one.status, one.json()["file_name"].as_str()), (200, Some("a.txt")));
    let content = api.api("GET", &format!("/api/v1/attachments/{id}/content"), Some(&api_token), None);
    assert_eq!((content.status, content.body.as_str()), (200, "alpha"));
    assert!(content.header("content-disposition").unwrap().contains("a.txt"));

    let (content_type, body) = crate::support::http::multipart(&[], &[("files", "page.txt", b"on a page")]);
    let on_page = api.api_raw(&format!("/api/v1/pages/{page}/attachments"), &api_token, &content_type, &body);
    assert_eq!(on_page.status, 201, "{}", on_page.body);
    assert_eq!(on_page.json()["attachments"][0]["page_id"], page);

    // Refusals: an empty file, no such issue, no token; nothing recorded.
    let before = app.count("attachments");
    let (content_type, body) = crate::support::http::multipart(&[], &[("files", "empty.txt", b"")]);
    let empty = api.api_raw("/api/v1/issues/OPS-1/attachments", &api_token, &content_type, &body);
    assert_eq!(empty.status, 422, "{}", empty.body);
    assert_eq!(empty.json()["error"]["field"], "files");
    let (stray_type, stray) = crate::support::http::multipart(&[("note", "x")], &[("files", "b.txt", b"beta")]);
    let unknown = api.api_raw("/api/v1/issues/OPS-1/attachments", &api_token, &stray_type, &stray);
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert!(unknown.error_message().contains("unknown field \"note\""), "{}", unknown.body);
    let missing = api.api_raw("/api/v1/issues/OPS-77/attachments", &api_token, &content_type, &body);
    assert_eq!(missing.status, 404);
    assert_eq!(api.api("GET", "/api/v1/issues/OPS-1/attachments", None, None).status, 401);
    assert_eq!(app.count("attachments"), before);

    let deleted = api.api("DELETE", &format!("/api/v1/attachments/{id}"), Some(&api_token), None);
    assert_eq!(deleted.status, 204);
    assert_eq!(api.api("GET", &format!("/api/v1/attachments/{id}"), Some(&api_token), None).status, 404);
}

#[test]
fn the_api_reads_writes_moves_and_restores_pages_with_the_same_rules() {
    let app = TestApp::start();
    let (_, _) = setup(&app);
    let admin = app.user("writer", true);
    let token = app.token(&admin);
    let mut api = app.client();
    let call = |api: &mut Client, method: &str, path: &str, body: serde_json::Value| {
        api.api(method, path, Some(&token), Some(&body.to_string()))
    };

    let spaces = api.api("GET", "/api/v1/spaces", Some(&token), None).json();
    assert_eq!(spaces["spaces"][0]["key"], "OPS");
    assert_eq!(spaces["spaces"][0]["project"], "OPS");
    let made = call(&mut api, "POST", "/api/v1/spaces", serde_json::json!({ "key": "HB", "name": "Handbook" }));
    assert_eq!(made.status, 201, "{}", made.body);

    let top = call(&mut api, "POST", "/api/v1/spaces/OPS/pages", serde_json::json!({ "title": "Guide", "body": "v1" }));
    assert_eq!(top.status, 201, "{}", top.body);
    // The longest body a page takes, in four-byte characters written as JSON escapes (2.4 MB),
    // is a valid request and is not refused as too large.
    let escaped = format!(r#"{{"title":"Emoji","body":"{}"}}"#, "\\ud83d\\ude00".repeat(200_000));
    let longest = api.api("POST", "/api/v1/spaces/HB/pages", Some(&token), Some(&escaped));
    assert_eq!(longest.status, 201, "{}", &longest.body[..longest.body.len().min(300)]);
    let top_id = top.json()["id"].as_i64().unwrap();
    let child = call(
        &mut api,
        "POST",
        "/api/v1/spaces/OPS/pages",
        serde_json::json!({ "title": "Install", "body": "", "parent_id": top_id }),
    );
    let child_id = child.json()["id"].as_i64().unwrap();
    let outline = api.api("GET", "/api/v1/spaces/OPS/pages", Some(&token), None).json();
    assert_eq!(outline["pages"][1]["depth"], 1);
    assert_eq!(outline["pages"][1]["parent_id"], top_id);

    // Saving names the version edited; a stale version is a 409 and changes nothing.
    let path = format!("/api/v1/pages/{top_id}");
    let saved = call(&mut api, "PUT", &path, serde_json::json!({ "title": "Guide", "body": "v2", "version": 1 }));
    assert_eq!((saved.status, saved.json()["version"].as_i64()), (200, Some(2)), "{}", saved.body);
    let stale = call(&mut api, "PUT", &path, serde_json::json!({ "title": "Guide", "body": "mine", "version": 1 }));
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert!(stale.error_message().contains("changed by someone else"));
    assert_eq!(api.api("GET", &path, Some(&token), None).json()["body"], "v2");

    // Moves refuse loops with a sentence naming the field.
    let looped = call(&mut api, "POST", &format!("{path}/move"), serde_json::json!({ "parent_id": child_id }));
    assert_eq!(looped.status, 422);
    assert_eq!(looped.json()["error"]["field"], "parent_id");
    let missing_parent =
        call(&mut api, "POST", "/api/v1/spaces/OPS/pages", serde_json::json!({ "title": "X", "parent_id": 999 }));
    assert_eq!((missing_parent.status, missing_parent.json()["error"]["field"].as_str()), (422, Some("parent_id")));

    let versions = api.api("GET", &format!("{path}/versions"), Some(&token), None).json();
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);
    assert_eq!(api.api("GET", &format!("{path}/versions/1"), Some(&token), None).json()["body"], "v1");
    let restored = call(&mut api, "POST", &format!("{path}/versions/1/restore"), serde_json::json!({ "version": 2 }));
    assert_eq!((restored.status, restored.json()["body"].as_str()), (200, Some("v1")));
    assert_eq!(restored.json()["version"], 3);

    let refused = api.api("DELETE", &path, Some(&token), None);
    assert_eq!(refused.status, 409, "a page with children stays");
    assert_eq!(api.api("DELETE", &format!("/api/v1/pages/{child_id}"), Some(&token), None).status, 204);
    assert_eq!(api.api("GET", &format!("/api/v1/pages/{child_id}"), Some(&token), None).status, 404);
}
