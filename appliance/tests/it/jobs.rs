//! The job queue under real concurrency on a real PostgreSQL: claims never overlap, a dead
//! worker's job comes back, failures back off and dead-letter, ordering keys hold, scheduled
//! ticks run once across nodes, and the background runtime carries an event to its effect.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chrono::Utc;
use outpost::jobs::queue::{self, Failure, NewJob};
use outpost::jobs::schedule;
use outpost::jobs::worker::{Context, Runtime};
use serde_json::json;

use crate::support::{TestApp, PASSWORD};

const LEASE: Duration = Duration::from_secs(60);

fn state_of(app: &TestApp, id: i64) -> queue::Job {
    queue::find(&mut app.conn(), id).unwrap().unwrap()
}

#[test]
fn concurrent_workers_never_claim_the_same_job() {
    let app = TestApp::start();
    for n in 0..200 {
        queue::enqueue(&mut app.conn(), &NewJob::new("test.work", json!({ "n": n }))).unwrap();
    }
    let barrier = Arc::new(Barrier::new(4));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (pool, barrier) = (app.pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut mine = Vec::new();
                let mut conn = pool.get().unwrap();
                while let Some(job) = queue::claim(&mut conn, &format!("w{w}"), LEASE).unwrap() {
                    assert!(queue::succeed(&mut conn, job.id, &format!("w{w}")).unwrap());
                    mine.push(job.id);
                }
                mine
            })
        })
        .collect();
    let claimed: Vec<Vec<i64>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let all: Vec<i64> = claimed.iter().flatten().copied().collect();
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 200, "every job ran");
    assert_eq!(distinct.len(), 200, "no job ran twice");
    assert!(claimed.iter().filter(|w| !w.is_empty()).count() > 1, "the work was shared");
}

#[test]
fn a_job_held_by_a_dead_worker_is_picked_up_again_after_its_lease() {
    let app = TestApp::start();
    let id = queue::enqueue(&mut app.conn(), &NewJob::new("test.work", json!({}))).unwrap().unwrap();
    let held = queue::claim(&mut app.conn(), "doomed", Duration::from_secs(1)).unwrap().unwrap();
    assert_eq!(held.id, id);
    // The worker "dies": it never reports back. Nobody else may take the job meanwhile.
    assert_eq!(queue::release_expired(&mut app.conn()).unwrap(), 0);
    assert!(queue::claim(&mut app.conn(), "other", LEASE).unwrap().is_none());
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(queue::release_expired(&mut app.conn()).unwrap(), 1);
    let again = queue::claim(&mut app.conn(), "rescuer", LEASE).unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (id, 2));
    assert!(again.last_error.unwrap().contains("stopped before the lease ran out"));
    // The dead worker waking up late cannot overwrite the rescuer's outcome.
    assert!(!queue::succeed(&mut app.conn(), id, "doomed").unwrap());
    assert!(queue::succeed(&mut app.conn(), id, "rescuer").unwrap());
    assert_eq!(state_of(&app, id).state, "succeeded");
}

#[test]
fn failures_back_off_then_dead_letter_and_an_admin_retries_or_discards() {
    let app = TestApp::start();
    let job = NewJob::new("test.flaky", json!({})).with_max_attempts(2);
    let id = queue::enqueue(&mut app.conn(), &job).unwrap().unwrap();

    let first = queue::claim(&mut app.conn(), "w", LEASE).unwrap().unwrap();
    let state = queue::fail(&mut app.conn(), &first, "w", &Failure::retry("SMTP 421 try later")).unwrap();
    assert_eq!(state.as_deref(), Some("queued"));
    let waiting = state_of(&app, id);
    assert!(waiting.run_at > Utc::now(), "a retry waits for its backoff");
    assert!(queue::claim(&mut app.conn(), "w", LEASE).unwrap().is_none(), "not before its time");

    app.sql(&format!("UPDATE jobs SET run_at = now() WHERE id = {id}"));
    let second = queue::claim(&mut app.conn(), "w", LEASE).unwrap().unwrap();
    let state = queue::fail(&mut app.conn(), &second, "w", &Failure::retry("SMTP 421 still down")).unwrap();
    assert_eq!(state.as_deref(), Some("dead"));

    // An administrator sees it with its error and retries it.
    let (mut admin, _) = app.signed_in("root", true);
    let page = admin.get("/admin/jobs?state=dead");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("SMTP 421 still down") && page.body.contains("test.flaky"), "{}", page.body);
    let csrf = admin.session_csrf();
    let audit_before = app.count("audit_log");
    assert_eq!(admin.post_form(&format!("/admin/jobs/{id}/retry"), &[("csrf_token", &csrf)]).status, 303);
    let retried = state_of(&app, id);
    assert_eq!((retried.state.as_str(), retried.attempts), ("queued", 0));
    assert_eq!(app.count("audit_log"), audit_before + 1, "the retry is audited");

    // Retrying a queued job is refused with a sentence, and changes nothing.
    let refused = admin.post_form(&format!("/admin/jobs/{id}/retry"), &[("csrf_token", &csrf)]);
    assert_eq!(refused.status, 409);
    assert!(refused.body.contains("is queued, so it cannot be retried"), "{}", refused.body);
    assert_eq!(app.count("audit_log"), audit_before + 1);

    assert_eq!(admin.post_form(&format!("/admin/jobs/{id}/discard"), &[("csrf_token", &csrf)]).status, 303);
    assert_eq!(state_of(&app, id).state, "discarded");
    assert!(queue::claim(&mut app.conn(), "w", LEASE).unwrap().is_none(), "a discarded job never runs");

    // A permanent failure dead-letters at once.
    let id = queue::enqueue(&mut app.conn(), &NewJob::new("test.bad", json!({}))).unwrap().unwrap();
    let job = queue::claim(&mut app.conn(), "w", LEASE).unwrap().unwrap();
    queue::fail(&mut app.conn(), &job, "w", &Failure::permanent("payload has no mail_id")).unwrap();
    assert_eq!(state_of(&app, id).state, "dead");
}

#[test]
fn only_administrators_see_the_queue_and_bad_states_are_named() {
    let app = TestApp::start();
    let (mut member, _) = app.signed_in("mia", false);
    assert_eq!(member.get("/admin/jobs").status, 403);
    let csrf = member.session_csrf();
    assert_eq!(member.post_form("/admin/jobs/1/retry", &[("csrf_token", &csrf)]).status, 403);
    let (mut admin, _) = app.signed_in("root", true);
    let bad = admin.get("/admin/jobs?state=sleeping");
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("&quot;sleeping&quot; is not a job state"), "{}", bad.body);
    let csrf = admin.session_csrf();
    assert_eq!(admin.post_form("/admin/jobs/999/retry", &[("csrf_token", &csrf)]).status, 404);
}

#[test]
fn idempotency_keys_priorities_delays_and_ordering_keys() {
    let app = TestApp::start();
    let mut conn = app.conn();
    let once = NewJob::new("test.once", json!({})).with_idempotency_key("event:1");
    assert!(queue::enqueue(&mut conn, &once).unwrap().is_some());
    assert!(queue::enqueue(&mut conn, &once).unwrap().is_none(), "the same key queues nothing");

    let low = queue::enqueue(&mut conn, &NewJob::new("test.low", json!({}))).unwrap().unwrap();
    let urgent = queue::enqueue(&mut conn, &NewJob::new("test.urgent", json!({})).with_priority(10)).unwrap().unwrap();
    let later = NewJob::new("test.later", json!({})).with_delay(Duration::from_secs(3600)).with_priority(20);
    queue::enqueue(&mut conn, &later).unwrap();
    let first = queue::claim(&mut conn, "w", LEASE).unwrap().unwrap();
    assert_eq!(first.id, urgent, "higher priority first; a delayed job waits however urgent");
    queue::succeed(&mut conn, first.id, "w").unwrap();
    let once_job = queue::claim(&mut conn, "w", LEASE).unwrap().unwrap();
    queue::succeed(&mut conn, once_job.id, "w").unwrap();
    assert_eq!(queue::claim(&mut conn, "w", LEASE).unwrap().unwrap().id, low);

    // Two events of one object run one after the other, never side by side.
    let a = queue::enqueue(&mut conn, &NewJob::new("test.ordered", json!({"n": 1})).with_ordering_key("issue:7"))
        .unwrap()
        .unwrap();
    let b = queue::enqueue(&mut conn, &NewJob::new("test.ordered", json!({"n": 2})).with_ordering_key("issue:7"))
        .unwrap()
        .unwrap();
    let c = queue::enqueue(&mut conn, &NewJob::new("test.ordered", json!({"n": 3})).with_ordering_key("issue:8"))
        .unwrap()
        .unwrap();
    let got_a = queue::claim(&mut conn, "w1", LEASE).unwrap().unwrap();
    assert_eq!(got_a.id, a);
    let got_c = queue::claim(&mut conn, "w2", LEASE).unwrap().unwrap();
    assert_eq!(got_c.id, c, "another object's event does not wait; issue 7's second event does");
    assert!(queue::claim(&mut conn, "w3", LEASE).unwrap().is_none());
    queue::succeed(&mut conn, a, "w1").unwrap();
    assert_eq!(queue::claim(&mut conn, "w3", LEASE).unwrap().unwrap().id, b);
}

#[test]
fn a_scheduled_tick_is_queued_once_however_many_nodes_fire() {
    let app = TestApp::start();
    let slot = Utc::now();
    let barrier = Arc::new(Barrier::new(6));
    let nodes: Vec<_> = (0..6)
        .map(|_| {
            let (pool, barrier) = (app.pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                barrier.wait();
                schedule::enqueue_tick(&mut conn, "cleanup", slot).unwrap()
            })
        })
        .collect();
    let queued = nodes.into_iter().map(|n| n.join().unwrap()).filter(|q| *q).count();
    assert_eq!(queued, 1);
    assert_eq!(app.count("jobs"), 1);
    assert!(schedule::enqueue_tick(&mut app.conn(), "cleanup", slot + chrono::Duration::minutes(10)).unwrap());
    assert_eq!(app.count("jobs"), 2, "the next slot is a new run");
}

#[test]
fn cleanup_removes_expired_sessions_and_old_jobs_with_one_audit_row() {
    let app = TestApp::start();
    let (mut page, _) = app.signed_in("ann", false);
    assert_eq!(page.get("/").status, 200);
    app.sql("UPDATE sessions SET last_seen_at = now() - interval '30 days'");
    let old = queue::enqueue(&mut app.conn(), &NewJob::new("test.old", json!({}))).unwrap().unwrap();
    app.sql(&format!("UPDATE jobs SET state = 'succeeded', finished_at = now() - interval '30 days' WHERE id = {old}"));
    assert!(schedule::enqueue_tick(&mut app.conn(), "cleanup", Utc::now()).unwrap());
    app.run_jobs();
    assert_eq!(app.count("sessions"), 0);
    assert!(queue::find(&mut app.conn(), old).unwrap().is_none(), "the old finished job is gone");
    assert_eq!(app.count("audit_log WHERE action = 'maintenance.cleaned_up'"), 1);
    assert_eq!(page.get("/").status, 303, "the expired session no longer signs anyone in");
}

#[test]
fn the_background_runtime_turns_an_event_into_a_notification_by_itself() {
    let app = TestApp::start();
    let root = app.user("root", true);
    let ann = app.user("ann", false);
    let token = app.token(&root);
    let mut api = app.client();
    api.api("POST", "/api/v1/projects", Some(&token), Some(r#"{"key":"OPS","name":"Operations"}"#));
    let runtime =
        Runtime::start(Context { pool: app.pool.clone(), config: app.config.clone(), keys: app.keys.clone() }).unwrap();
    let body = json!({ "title": "Rotate the keys", "assignee": "ann" }).to_string();
    assert_eq!(api.api("POST", "/api/v1/projects/OPS/issues", Some(&token), Some(&body)).status, 201);
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.count(&format!("notifications WHERE user_id = {}", ann.id)) == 0 {
        assert!(Instant::now() < deadline, "no notification within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    runtime.stop();
    let mut page = app.client();
    page.sign_in("ann", PASSWORD);
    let home = page.get("/notifications");
    assert!(home.body.contains("root (test) assigned OPS-1 to you"), "{}", home.body);
}
