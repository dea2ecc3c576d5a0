//! Files attached to issues, end to end through the issue page: upload (several at once,
//! streamed into the store), the list with picture previews, downloads that can never act as
//! Outpost's own pages, removal (row at once, object by job), and every refusal writing
//! nothing, on local disk and on a real S3 server that goes away; and every file at rest sealed
//! with the customer-managed key.

use crate::support::s3::{S3Server, ACCESS_KEY, SECRET_KEY};
use crate::support::{Client, TestApp, PNG};

/// Object files in the local store, unfinished writes aside.
fn objects(app: &TestApp) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name() != ".unfinished")
                .map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 })
                .sum()
        })
    }
    walk(&app.objects.0)
}

fn project_with_issue(app: &TestApp, client: &mut Client) -> String {
    let token = client.session_csrf();
    let made = client.post_form("/projects", &[("csrf_token", &token), ("key", "OPS"), ("name", "Operations")]);
    assert_eq!(made.status, 303, "{}", made.body);
    let made = client.post_form("/projects/OPS/issues", &[("csrf_token", &token), ("title", "Disk full")]);
    assert_eq!(made.status, 303, "{}", made.body);
    assert_eq!(app.count("issues"), 1);
    token
}

#[test]
fn files_are_attached_listed_served_safely_and_removed() {
    let app = TestApp::start();
    let (mut client, _) = app.signed_in("root", true);
    let token = project_with_issue(&app, &mut client);

    let html_as_png: &[u8] = b"<!DOCTYPE html><script>alert(document.cookie)</script>";
    let attached = client.post_files(
        "/issues/OPS-1/attachments",
        &[("csrf_token", &token)],
        &[("files", "pixel.png", PNG), ("files", "notes.txt", b"first line\n"), ("files", "evil.png", html_as_png)],
    );
    assert_eq!(attached.status, 303, "{}", attached.body);
    assert_eq!((app.count("attachments"), objects(&app)), (3, 3));
    // The picture's thumbnail is made by a job, as a fourth object.
    app.run_jobs();
    assert_eq!(objects(&app), 4);
    let page = client.get("/issues/OPS-1");
    assert!(page.body.contains("Attachments (3)"), "{}", page.body);
    assert!(page.body.contains("<img src=\"/thumbnails/1\""), "a picture is previewed by its thumbnail");
    assert!(!page.body.contains("<img src=\"/thumbnails/3"), "HTML named .png is not shown as a picture");
    let thumbnail = client.get("/thumbnails/1");
    assert_eq!((thumbnail.status, thumbnail.header("content-type")), (200, Some("image/png")));
    assert!(thumbnail.body.contains("PNG") && thumbnail.header("content-security-policy").is_some());
    assert_eq!(client.get("/thumbnails/2").status, 404, "a text file has no thumbnail");

    let picture = client.get("/attachments/1/pixel.png");
    assert_eq!(picture.status, 200);
    assert_eq!(picture.header("content-type"), Some("image/png"));
    assert!(picture.header("content-disposition").unwrap().starts_with("inline"));
    assert_eq!(picture.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(picture.header("content-length"), Some(PNG.len().to_string().as_str()));
    assert!(picture.header("content-security-policy").unwrap().starts_with("sandbox"));
    let text = client.get("/attachments/2/notes.txt");
    assert_eq!((text.body.as_str(), text.header("content-type")), ("first line\n", Some("application/octet-stream")));
    assert!(text.header("content-disposition").unwrap().starts_with("attachment"));
    let evil = client.get("/attachments/3/evil.png");
    assert_eq!(evil.header("content-type"), Some("application/octet-stream"), "sniffed as HTML, so never inline");
    assert!(evil.header("content-disposition").unwrap().starts_with("attachment"));

    // Files are never public: without a session the answer is the sign-in page.
    let anonymous = app.client().get("/attachments/1/pixel.png");
    assert_eq!((anonymous.status, anonymous.location.as_deref().map(|l| l.starts_with("/login"))), (303, Some(true)));

    let removed = client.post_form("/attachments/2/delete", &[("csrf_token", &token)]);
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(app.count("attachments"), 2);
    assert_eq!(client.get("/attachments/2/notes.txt").status, 404);
    assert_eq!(objects(&app), 4, "the object goes by job, after the row");
    app.run_jobs();
    assert_eq!(objects(&app), 3);
    let removed = client.post_form("/attachments/1/delete", &[("csrf_token", &token)]);
    assert_eq!(removed.status, 303, "{}", removed.body);
    app.run_jobs();
    assert_eq!(objects(&app), 1, "a picture goes with its thumbnail");
    let audit = app.count("audit_log WHERE action IN ('attachment.added', 'attachment.removed')");
    assert_eq!(audit, 5);
}

/// A form's file part: field, file name, bytes.
type File<'a> = (&'a str, &'a str, &'a [u8]);

#[test]
fn refused_uploads_say_why_and_leave_no_row_and_no_object() {
    let app = TestApp::start_with(&[("OUTPOST_STORAGE_MAX_UPLOAD_MB", "1")]);
    let (mut client, _) = app.signed_in("root", true);
    let token = project_with_issue(&app, &mut client);
    let big = vec![b'x'; 2 * 1024 * 1024];
    let cases: Vec<(Vec<File>, u16, &str)> = vec![
        (vec![("files", "empty.txt", b"")], 422, "&quot;empty.txt&quot; is empty; there is nothing to attach."),
        (vec![("files", "../etc/passwd", b"x")], 422, "contains a folder separator"),
        (vec![("files", "tab\there.txt", b"x")], 422, "control characters"),
        (
            vec![("files", "ok.txt", b"fine"), ("files", "big.bin", &big)],
            413,
            "&quot;big.bin&quot; is larger than the limit of 1 MiB; nothing was attached.",
        ),
        (vec![], 422, "Choose at least one file to attach."),
    ];
    for (files, status, message) in cases {
        let reply = client.post_files("/issues/OPS-1/attachments", &[("csrf_token", &token)], &files);
        assert_eq!(reply.status, status, "{message}: {}", reply.body);
        assert!(reply.body.contains(message), "{message}: {}", reply.body);
        assert_eq!((app.count("attachments"), objects(&app)), (0, 0), "{message}");
    }
    let forged =
        client.post_files("/issues/OPS-1/attachments", &[("csrf_token", "forged")], &[("files", "a.txt", b"a")]);
    assert_eq!(forged.status, 403);
    let late = client.post_files("/issues/OPS-1/attachments", &[], &[("files", "a.txt", b"a")]);
    assert_eq!(late.status, 403, "files before the token are refused");
    assert_eq!((app.count("attachments"), objects(&app)), (0, 0));
}

#[test]
fn an_unreachable_s3_store_refuses_the_upload_with_503_and_records_nothing() {
    let server = S3Server::start();
    let endpoint = server.endpoint();
    let app = TestApp::start_with(&[
        ("OUTPOST_STORAGE_BACKEND", "s3"),
        ("OUTPOST_STORAGE_S3_ENDPOINT", &endpoint),
        ("OUTPOST_STORAGE_S3_ACCESS_KEY", ACCESS_KEY),
        ("OUTPOST_STORAGE_S3_SECRET_KEY", SECRET_KEY),
    ]);
    let (mut client, _) = app.signed_in("root", true);
    let token = project_with_issue(&app, &mut client);
    let stored =
        client.post_files("/issues/OPS-1/attachments", &[("csrf_token", &token)], &[("files", "a.txt", b"on s3")]);
    assert_eq!(stored.status, 303, "{}", stored.body);
    assert_eq!(client.get("/attachments/1/a.txt").body, "on s3");

    drop(server);
    let before = app.count("audit_log");
    let refused =
        client.post_files("/issues/OPS-1/attachments", &[("csrf_token", &token)], &[("files", "b.txt", b"lost")]);
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.body.contains("The file storage is unavailable, so nothing was saved"), "{}", refused.body);
    assert_eq!((app.count("attachments"), app.count("audit_log")), (1, before));
}

#[test]
fn the_cleanup_job_removes_objects_no_row_points_to_once_they_are_an_hour_old() {
    let app = TestApp::start();
    let (mut client, _) = app.signed_in("root", true);
    let token = project_with_issue(&app, &mut client);
    let attached =
        client.post_files("/issues/OPS-1/attachments", &[("csrf_token", &token)], &[("files", "a.txt", b"kept")]);
    assert_eq!(attached.status, 303, "{}", attached.body);

    // Two objects no row points to: one from a dead upload two hours ago, one that may be an
    // upload whose row is about to be written.
    let folder = app.objects.0.join("attachments/ff");
    std::fs::create_dir_all(&folder).unwrap();
    let write = |name: &str, age_minutes: u64| {
        let path = folder.join(name);
        std::fs::write(&path, b"orphan").unwrap();
        let then = std::time::SystemTime::now() - std::time::Duration::from_secs(age_minutes * 60);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(then).unwrap();
    };
    write("dead", 120);
    write("young", 5);
    // The attached file is old too, but its row keeps it.
    app.sql("UPDATE attachments SET created_at = now() - interval '1 day'");
    let kept = app.objects.0.join(app.value("SELECT object_key FROM attachments"));
    std::fs::File::options()
        .write(true)
        .open(&kept)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(86_400))
        .unwrap();
    assert_eq!(objects(&app), 3);

    assert!(outpost::jobs::schedule::enqueue_tick(&mut app.conn(), "cleanup", chrono::Utc::now()).unwrap());
    app.run_jobs();
    assert!(!folder.join("dead").exists(), "the old orphan is gone");
    assert!(folder.join("young").exists(), "a young object may still get its row");
    assert!(kept.exists(), "an object with a row stays");
    assert_eq!(client.get("/attachments/1/a.txt").body, "kept");
    let counted =
        app.value("SELECT after_state->>'orphaned_objects' FROM audit_log WHERE action = 'maintenance.cleaned_up'");
    assert_eq!(counted, "1");
}

/// Every byte read back from a file in the store.
fn stored_bytes(app: &TestApp) -> Vec<Vec<u8>> {
    fn walk(dir: &std::path::Path, out: &mut Vec<Vec<u8>>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok) {
            match entry.path().is_dir() {
                true => walk(&entry.path(), out),
                false => out.push(std::fs::read(entry.path()).unwrap()),
            }
        }
    }
    let mut out = Vec::new();
    walk(&app.objects.0, &mut out);
    out
}

/// Files and thumbnails rest sealed with the customer-managed key: the store holds none of their
/// bytes in the clear, each has a data key of its own, and without that key the file is
/// unreadable (503) rather than served as garbage.
#[test]
fn files_rest_sealed_and_a_revoked_key_makes_them_unreadable() {
    let app = TestApp::start();
    let (mut client, _) = app.signed_in("root", true);
    let token = project_with_issue(&app, &mut client);
    let text = "a line only this file has\n".repeat(5000);
    let attached = client.post_files(
        "/issues/OPS-1/attachments",
        &[("csrf_token", &token)],
        &[("files", "pixel.png", PNG), ("files", "notes.txt", text.as_bytes())],
    );
    assert_eq!(attached.status, 303, "{}", attached.body);
    app.run_jobs();
    let stored = stored_bytes(&app);
    assert_eq!(stored.len(), 3, "two files and a thumbnail");
    for bytes in &stored {
        assert!(bytes.starts_with(b"OPE1"), "sealed");
        assert!(!bytes.windows(8).any(|w| w == b"\x89PNG\r\n\x1a\n"), "no picture in the clear");
        assert!(!String::from_utf8_lossy(bytes).contains("a line only this file has"), "no text in the clear");
    }
    assert_eq!(app.count("data_keys WHERE purpose = 'attachment'"), 3);
    let notes = client.get("/attachments/2/notes.txt");
    assert_eq!((notes.status, notes.body.len()), (200, text.len()));
    assert_eq!(notes.body, text);
    assert_eq!(app.value("(SELECT size_bytes::text FROM attachments WHERE id = 2)"), text.len().to_string());
    let thumbnail = client.get("/thumbnails/1");
    assert_eq!((thumbnail.status, thumbnail.header("content-type")), (200, Some("image/png")));

    // The key-encryption key that wrapped its data key gone (revoked): a clear refusal, never
    // the sealed bytes.
    app.sql(
        "UPDATE data_keys SET kek_id = 'file:revoked' WHERE id = (SELECT data_key_id FROM attachments WHERE id = 2)",
    );
    let unreadable = client.get("/attachments/2/notes.txt");
    assert_eq!(unreadable.status, 503, "{}", unreadable.body);
    assert!(unreadable.body.contains("The customer-managed encryption key cannot be used"), "{}", unreadable.body);
    let removed = client.post_form("/attachments/1/delete", &[("csrf_token", &token)]);
    assert_eq!(removed.status, 303);
    assert_eq!(app.count("data_keys"), 1, "deleting a file deletes its data keys (its thumbnail's too)");
}

/// Files stored before customer-managed keys are sealed by `outpost keys seal-files`' work:
/// copied sealed, the row moved, the plain objects removed, and the file reads the same.
#[test]
fn files_stored_in_the_clear_are_sealed_in_place_of_their_plain_objects() {
    let app = TestApp::start();
    let (mut client, _) = app.signed_in("root", true);
    project_with_issue(&app, &mut client);
    for (key, bytes) in [("attachments/aa/legacy", b"plain old notes\n".as_slice()), ("thumbnails/bb/legacy.png", PNG)]
    {
        let path = app.objects.0.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    app.sql(
        "INSERT INTO attachments (issue_id, object_key, file_name, content_type, size_bytes, sha256, uploaded_by, thumbnail_key) \
         SELECT i.id, 'attachments/aa/legacy', 'old.txt', 'text/plain', 16, repeat('a', 64), i.reporter_id, 'thumbnails/bb/legacy.png' FROM issues i",
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let storage = runtime.block_on(outpost::storage::Storage::open(&app.config.storage)).unwrap();
    let seal =
        || runtime.block_on(outpost::attachments::sealing::seal_plain_files(&storage, &app.pool, &app.keys, |_| ()));
    assert_eq!(seal().unwrap(), 2, "the file and its thumbnail");
    assert_eq!(seal().unwrap(), 0, "once");
    assert!(
        !app.objects.0.join("attachments/aa/legacy").exists()
            && !app.objects.0.join("thumbnails/bb/legacy.png").exists()
    );
    let moved = app.value("(SELECT object_key || ' ' || thumbnail_key FROM attachments)");
    let (file, thumbnail) = moved.split_once(' ').unwrap();
    assert!(std::fs::read(app.objects.0.join(file)).unwrap().starts_with(b"OPE1"));
    assert!(std::fs::read(app.objects.0.join(thumbnail)).unwrap().starts_with(b"OPE1"));
    let id = app.value("(SELECT id::text FROM attachments)");
    assert_eq!(client.get(&format!("/attachments/{id}/old.txt")).body, "plain old notes\n");
    let picture = client.get(&format!("/thumbnails/{id}"));
    let length = PNG.len().to_string();
    assert_eq!((picture.status, picture.header("content-length")), (200, Some(length.as_str())));
    assert!(picture.body.contains("IHDR"), "the picture, opened");
}
