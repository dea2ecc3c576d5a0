//! Forgotten and administrator-set passwords: a reset link by real mail (the same answer for
//! names that do not exist; the link works once and for half an hour), and a one-time
//! password that its owner must replace before anything else.

use crate::support::smtp::{decoded, plain_mail, SmtpServer};
use crate::support::{Client, TestApp, PASSWORD};

fn ask_for_link(client: &mut Client, who: &str) -> crate::support::Reply {
    let form = client.get("/login/reset");
    assert_eq!(form.status, 200);
    let token = form.csrf_token();
    client.post_form("/login/reset", &[("csrf_token", &token), ("who", who)])
}

fn choose(client: &mut Client, path: &str, password: &str, again: &str) -> crate::support::Reply {
    let form = client.get(path);
    assert_eq!(form.status, 200, "{}", form.body);
    let token = form.csrf_token();
    client.post_form(path, &[("csrf_token", &token), ("password", password), ("again", again)])
}

#[test]
fn a_reset_link_by_mail_sets_a_new_password_once() {
    let smtp = SmtpServer::start();
    let env = plain_mail(&smtp);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = TestApp::start_with(&pairs);
    app.user("ana", false);
    let mut browser = app.client();

    let empty = ask_for_link(&mut browser, "  ");
    assert_eq!(empty.status, 422);
    assert!(empty.body.contains("Type your user name or email address."));
    let unknown = ask_for_link(&mut browser, "nobody@example.test");
    let known = ask_for_link(&mut browser, "ANA@example.test");
    assert_eq!((unknown.status, known.status), (200, 200));
    let said = |reply: &crate::support::Reply| reply.body.contains("If an account here has that name or address");
    assert!(said(&unknown) && said(&known), "the same answer either way");
    app.run_jobs();
    let messages = smtp.wait_for(1);
    assert_eq!(messages.len(), 1, "one mail, for the account that exists");
    let mail = decoded(&messages[0]);
    let link = mail.split("https://outpost.example.test").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    assert!(link.starts_with("/login/reset/"), "{link}");

    let differ = choose(&mut browser, &link, "a brand new passphrase", "another passphrase");
    assert_eq!(differ.status, 422);
    let common = choose(&mut browser, &link, "password12345", "password12345");
    assert_eq!(common.status, 422);
    assert!(common.body.contains("one of the most used"));
    let set = choose(&mut browser, &link, "a brand new passphrase", "a brand new passphrase");
    assert_eq!(set.status, 200);
    assert!(set.body.contains("Your new password is set"));
    assert_eq!(app.client().sign_in("ana", PASSWORD).status, 401, "the old password is gone");
    assert_eq!(app.client().sign_in("ana", "a brand new passphrase").status, 303);

    assert_eq!(browser.get(&link).status, 404, "a link works once");
    // A fresh link that waited too long.
    ask_for_link(&mut browser, "ana");
    app.run_jobs();
    let second = decoded(&smtp.wait_for(2)[1]);
    let late =
        second.split("https://outpost.example.test").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    app.sql("UPDATE password_resets SET created_at = now() - interval '31 minutes' WHERE used_at IS NULL");
    let expired = browser.get(&late);
    assert_eq!(expired.status, 404);
    assert!(expired.body.contains("used up or too old"));
}

#[test]
fn a_one_time_password_must_be_replaced_before_anything_else() {
    let app = TestApp::start();
    let (mut root, _) = app.signed_in("root", true);
    app.user("mia", false);
    let csrf = root.session_csrf();
    let set = root.post_form("/admin/users/mia/password", &[("csrf_token", &csrf)]);
    assert_eq!(set.status, 200);
    let start = set.body.find("class=\"secret\">").unwrap() + 15;
    let one_time = set.body[start..].split('<').next().unwrap().to_owned();

    let mut mia = app.client();
    assert_eq!(mia.sign_in("mia", &one_time).status, 303);
    let sent = mia.get("/projects");
    assert_eq!((sent.status, sent.location.as_deref()), (303, Some("/settings/password")));
    let page = mia.get("/settings/password");
    assert!(page.body.contains("An administrator set your password"));
    let token = page.csrf_token();
    let wrong = mia.post_form(
        "/settings/password",
        &[
            ("csrf_token", &token),
            ("current", "not it at all"),
            ("password", "my very own phrase"),
            ("again", "my very own phrase"),
        ],
    );
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("That is not your current password."));
    let changed = mia.post_form(
        "/settings/password",
        &[
            ("csrf_token", &token),
            ("current", &one_time),
            ("password", "my very own phrase"),
            ("again", "my very own phrase"),
        ],
    );
    assert_eq!((changed.status, changed.location.as_deref()), (303, Some("/login")));
    let mut again = app.client();
    assert_eq!(again.sign_in("mia", "my very own phrase").status, 303);
    assert_eq!(again.get("/projects").status, 200, "no longer sent to change it");
}
