//! `outpost quickstart` as a newcomer runs it: a private cluster, an admin whose password is
//! printed once, a working server, Ctrl-C that stops everything, and data kept for next time.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::Client;

struct Quickstart {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Quickstart {
    fn start(data: &std::path::Path, port: u16) -> Quickstart {
        let mut child = Command::new(env!("CARGO_BIN_EXE_outpost"))
            .args(["quickstart", "--data", data.to_str().unwrap(), "--port", &port.to_string()])
            .env("OUTPOST_LOG_LEVEL", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Quickstart { child, lines }
    }

    /// Stdout lines up to and including the one that says where Outpost is.
    fn until_ready(&self) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(90))
                .unwrap_or_else(|_| panic!("no 'Outpost is at' line; saw {seen:?}"));
            let done = line.starts_with("Outpost is at");
            seen.push(line);
            if done {
                return seen;
            }
        }
    }

    /// Ctrl-C, as in a terminal, and the exit status.
    fn interrupt(mut self) -> std::process::ExitStatus {
        Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().unwrap();
        self.child.wait().unwrap()
    }
}

fn wait_ready(base: &str) {
    for _ in 0..200 {
        if ureq::get(&format!("{base}/health/ready")).call().is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{base} never became ready");
}

fn postgres_running_in(data: &std::path::Path) -> bool {
    let pid_file = data.join("pg/postmaster.pid");
    let Ok(text) = std::fs::read_to_string(pid_file) else { return false };
    let pid = text.lines().next().unwrap_or_default();
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn quickstart_runs_prints_the_admin_password_stops_cleanly_and_keeps_data() {
    let data = std::env::temp_dir().join(format!("outpost-quickstart-{}", rand::random::<u64>()));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");

    let first = Quickstart::start(&data, port);
    let said = first.until_ready();
    let password =
        said.iter().find_map(|l| l.trim().strip_prefix("password:")).expect("the admin password").trim().to_owned();
    wait_ready(&base);
    let mut client = Client::new(&base);
    assert_eq!(client.sign_in("admin", &password).status, 303, "the printed password works");
    let token = client.session_csrf();
    assert_eq!(client.post_form("/projects", &[("csrf_token", &token), ("key", "KEEP"), ("name", "Kept")]).status, 303);
    assert!(postgres_running_in(&data));
    assert!(first.interrupt().success(), "Ctrl-C ends quickstart cleanly");
    assert!(!postgres_running_in(&data), "and PostgreSQL with it");
    assert!(std::fs::read_to_string(data.join("postgres.log")).unwrap().contains("database system is shut down"));

    let second = Quickstart::start(&data, port);
    let said = second.until_ready().join("\n");
    assert!(!said.contains("password:"), "the password is shown only once: {said}");
    assert!(said.contains("outpost admin set-password --config"), "{said}");
    wait_ready(&base);
    let mut client = Client::new(&base);
    assert_eq!(client.sign_in("admin", &password).status, 303);
    assert!(client.get("/projects").body.contains("Kept"), "the data survived the restart");
    assert!(second.interrupt().success());
    let _ = std::fs::remove_dir_all(&data);
}
