//! `outpost-installer` run as an administrator runs it, on this machine: the refusals that
//! come before any change, and a dry run that plans every step and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn installer(args: &[&str], as_nobody: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_outpost-installer"));
    command.args(args).stdin(std::process::Stdio::null());
    if as_nobody {
        command.uid(65534).gid(65534);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

struct Folder(PathBuf);

impl Folder {
    fn new() -> Folder {
        let path = std::env::temp_dir().join(format!("outpost-installer-cli-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&path).unwrap();
        // Readable by nobody, for the test that runs as nobody.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        Folder(path)
    }

    fn write(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        path.display().to_string()
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn evaluation_answers(port: u16) -> String {
    format!(
        "[server]\nhostname = \"outpost.test\"\nport = {port}\nredirect_port = 0\nlisten = \"127.0.0.1\"\n\
         [license]\nevaluation = true\n[admin]\nemail = \"admin@outpost.test\"\n"
    )
}

#[test]
fn answers_are_checked_before_anything_and_every_mistake_named() {
    let folder = Folder::new();
    let answers = folder.write(
        "answers.toml",
        "[server]\nhostname = \"bad host\"\nport = 0\n[license]\nfile = \"/nonexistent.license\"\n[admin]\nemail = \"nobody\"\n",
    );
    let refused = installer(&["install", "--answers", &answers], false);
    assert!(!refused.status.success());
    for sentence in [
        "server.hostname: “bad host” is not a host name",
        "server.port: 0 is not a port",
        "license.file: /nonexistent.license does not exist or is not a file.",
        "admin.email: “nobody” is not an email address.",
    ] {
        assert!(text(&refused).contains(sentence), "{sentence} missing from {}", text(&refused));
    }
    let unknown = folder.write("unknown.toml", &format!("{}[extras]\nx = 1\n", evaluation_answers(8443)));
    assert!(text(&installer(&["install", "--answers", &unknown], false)).contains("unknown field `extras`"));

    let unattended = installer(&["install"], false);
    assert!(
        text(&unattended).contains("No --answers file, and standard input is not a terminal"),
        "{}",
        text(&unattended)
    );
}

#[test]
fn not_root_is_refused_with_the_fix_and_a_taken_port_names_its_field() {
    let folder = Folder::new();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port();
    let answers = folder.write("answers.toml", &evaluation_answers(taken));
    let checked = installer(&["preflight", "--answers", &answers, "--no-systemd"], true);
    assert!(!checked.status.success());
    let said = text(&checked);
    assert!(said.contains("FAIL  administrator: The installer creates a system user"), "{said}");
    assert!(said.contains("run it as root (sudo outpost-installer install)"), "{said}");
    assert!(said.contains(&format!("FAIL  port: server.port: port {taken} is taken")), "{said}");
    assert!(said.contains("ok    operating system"), "{said}");
}

#[test]
fn a_dry_run_plans_every_step_and_changes_nothing() {
    let folder = Folder::new();
    let answers = folder.write("answers.toml", &evaluation_answers(free_port()));
    let config = Path::new("/etc/outpost/outpost.toml");
    let existed = config.exists();
    let planned =
        installer(&["install", "--answers", &answers, "--dry-run", "--no-systemd", "--outpost", "/bin/true"], false);
    let said = text(&planned);
    assert!(planned.status.success(), "{said}");
    for step in 1..=9 {
        assert!(said.contains(&format!("[{step}/9]")), "step {step} missing from {said}");
    }
    assert!(said.contains("Dry run: this is the plan; nothing is changed."), "{said}");
    assert!(said.contains("would write /etc/outpost/outpost.toml") || existed, "{said}");
    assert!(said.contains("would start outpost serve in the background"), "{said}");
    assert!(!said.contains(": done"), "a dry run changed something: {said}");
    assert_eq!(config.exists(), existed, "the dry run wrote the configuration");
}
