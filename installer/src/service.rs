//! Starting the service: `outpost.service` under systemd, or, with `--no-systemd` (containers,
//! chroots, machines with another init), `outpost serve` in the background with its log in
//! /var/log/outpost and its process id in /run/outpost.pid.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::host::Host;
use crate::probe;
use crate::settings::CONFIG_FILE;

pub const UNIT: &str = "outpost.service";
pub const PID_FILE: &str = "/run/outpost.pid";
pub const LOG_FILE: &str = "/var/log/outpost/outpost.log";
/// Migrations on a large database and an HSM's first session take their time.
const PATIENCE: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    Systemd,
    Background,
}

impl Manager {
    /// Enables and starts the service (restarts it when `changed`), then waits for
    /// `/health/ready` on `port`.
    pub fn start(
        self,
        host: &Host,
        outpost: &Path,
        changed: bool,
        port: u16,
        pin: Option<[u8; 32]>,
    ) -> Result<(), String> {
        match self {
            Manager::Systemd => {
                if !host.dry_run {
                    host.run("systemctl", &["daemon-reload"])?;
                }
                let enabled =
                    host.run("systemctl", &["is-enabled", UNIT]).map(|s| s.trim() == "enabled").unwrap_or(false);
                if enabled {
                    host.kept(&format!("{UNIT} enabled"));
                } else {
                    host.change(&format!("enable {UNIT}"), || host.run("systemctl", &["enable", UNIT]).map(|_| ()))?;
                }
                let active = host.run("systemctl", &["is-active", UNIT]).is_ok();
                match (active, changed) {
                    (true, false) => host.kept(&format!("{UNIT} running")),
                    (true, true) => host.change(&format!("restart {UNIT} with the new configuration"), || {
                        host.run("systemctl", &["restart", UNIT]).map(|_| ())
                    })?,
                    (false, _) => {
                        host.change(&format!("start {UNIT}"), || host.run("systemctl", &["start", UNIT]).map(|_| ()))?
                    }
                }
            }
            Manager::Background => {
                let running = running_pid();
                match (running, changed) {
                    (Some(pid), false) => host.kept(&format!("outpost serve running (process {pid})")),
                    (running, _) => host.change("start outpost serve in the background", || {
                        if let Some(pid) = running {
                            stop_process(pid)?;
                        }
                        spawn(outpost)
                    })?,
                }
            }
        }
        if host.dry_run {
            return Ok(());
        }
        probe::wait_ready(port, pin, PATIENCE).map_err(|e| {
            let logs = match self {
                Manager::Systemd => format!("journalctl -u {UNIT}"),
                Manager::Background => LOG_FILE.to_owned(),
            };
            format!("{e} See {logs}; fix what it says and run the installer again.")
        })
    }

    pub fn stop(self, host: &Host) -> Result<(), String> {
        match self {
            Manager::Systemd => host.change(&format!("stop and disable {UNIT}"), || {
                host.run("systemctl", &["disable", "--now", UNIT]).map(|_| ())
            }),
            Manager::Background => match running_pid() {
                Some(pid) => host.change(&format!("stop outpost serve (process {pid})"), || stop_process(pid)),
                None => Ok(()),
            },
        }
    }

    /// Stops the service for an upgrade, leaving it enabled.
    pub fn halt(self, host: &Host) -> Result<(), String> {
        match self {
            Manager::Systemd => {
                host.change(&format!("stop {UNIT}"), || host.run("systemctl", &["stop", UNIT]).map(|_| ()))
            }
            Manager::Background => match running_pid() {
                Some(pid) => host.change(&format!("stop outpost serve (process {pid})"), || stop_process(pid)),
                None => Ok(()),
            },
        }
    }

    /// What the service manager says, for `status`.
    pub fn state(self, host: &Host) -> String {
        match self {
            Manager::Systemd => host
                .run("systemctl", &["is-active", UNIT])
                .unwrap_or_else(|e| e.lines().last().unwrap_or("unknown").to_owned())
                .trim()
                .to_owned(),
            Manager::Background => match running_pid() {
                Some(pid) => format!("running in the background (process {pid})"),
                None => "not running".to_owned(),
            },
        }
    }
}

fn running_pid() -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(PID_FILE).ok()?.trim().parse().ok()?;
    let command = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).ok()?;
    command.contains("serve").then_some(pid)
}

fn spawn(outpost: &Path) -> Result<(), String> {
    let folder = Path::new(LOG_FILE).parent().unwrap_or(Path::new("/var/log"));
    std::fs::create_dir_all(folder).map_err(|e| format!("Cannot create {}: {e}.", folder.display()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(LOG_FILE)
        .map_err(|e| format!("Cannot open {LOG_FILE}: {e}."))?;
    let child = Command::new(outpost)
        .args(["serve", "--config", CONFIG_FILE])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .current_dir("/")
        // Its own process group, so that it outlives the installer and its terminal.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("Cannot start {}: {e}.", outpost.display()))?;
    std::fs::write(PID_FILE, format!("{}\n", child.id())).map_err(|e| format!("Cannot write {PID_FILE}: {e}."))
}

fn stop_process(pid: i32) -> Result<(), String> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    kill(Pid::from_raw(pid), Signal::SIGTERM).map_err(|e| format!("Cannot stop process {pid}: {e}."))?;
    for _ in 0..300 {
        if kill(Pid::from_raw(pid), None).is_err() {
            let _ = std::fs::remove_file(PID_FILE);
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("Process {pid} did not stop within 30 seconds of SIGTERM."))
}
