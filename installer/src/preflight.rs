//! Preflight: can Outpost be installed here? Every check runs (one failure does not hide the
//! next) and a failed one says what to do. Nothing is changed.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use nix::sys::statvfs::statvfs;

use crate::answers::Answers;
use crate::probe;

pub struct Check {
    pub name: &'static str,
    /// What was found, or what to do about it.
    pub outcome: Result<String, String>,
}

pub struct Options<'a> {
    pub answers: &'a Answers,
    pub systemd: bool,
}

const MIN_MEMORY_MIB: u64 = 2048;
const MIN_DATA_FREE_MIB: u64 = 2048;
const MIN_PROGRAM_FREE_MIB: u64 = 300;
/// No clock before this release was built can be right.
const EARLIEST_SANE_YEAR: i32 = 2026;

pub fn run(options: &Options) -> Vec<Check> {
    let mut checks = vec![
        Check { name: "administrator", outcome: administrator() },
        Check { name: "operating system", outcome: operating_system(&read("/etc/os-release")) },
        Check { name: "architecture", outcome: architecture(std::env::consts::ARCH) },
        Check { name: "processors", outcome: processors() },
        Check { name: "memory", outcome: memory(&read("/proc/meminfo")) },
        Check { name: "disk for data", outcome: free_space(Path::new("/var/lib/outpost"), MIN_DATA_FREE_MIB) },
        Check { name: "disk for programs", outcome: free_space(Path::new("/usr"), MIN_PROGRAM_FREE_MIB) },
        Check { name: "clock", outcome: clock(chrono::Utc::now()) },
    ];
    let server = &options.answers.server;
    let mut ports = vec![("server.port", server.port)];
    if server.redirect_port != 0 {
        ports.push(("server.redirect_port", server.redirect_port));
    }
    for (field, port) in ports {
        checks.push(Check { name: "port", outcome: port_free(&server.listen, port, field, server.port) });
    }
    if options.systemd {
        checks.push(Check { name: "systemd", outcome: systemd(Path::new("/run/systemd/system")) });
    }
    checks
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn administrator() -> Result<String, String> {
    if crate::host::is_root() {
        Ok("running as root".to_owned())
    } else {
        Err("The installer creates a system user, folders in /etc and /var/lib and a service: run it as root (sudo outpost-installer install).".to_owned())
    }
}

/// The distributions the packages are built and tested for.
pub fn operating_system(os_release: &str) -> Result<String, String> {
    let field = |key: &str| {
        os_release.lines().find_map(|line| {
            let value = line.strip_prefix(key)?.strip_prefix('=')?;
            Some(value.trim_matches('"').to_owned())
        })
    };
    let id = field("ID").unwrap_or_default();
    let version = field("VERSION_ID").unwrap_or_default();
    let major = version.split('.').next().unwrap_or_default();
    let supported = match id.as_str() {
        "debian" => major == "12",
        "ubuntu" => version == "22.04" || version == "24.04",
        "rhel" | "rocky" | "almalinux" => major == "9",
        _ => false,
    };
    let name = field("PRETTY_NAME").unwrap_or_else(|| format!("{id} {version}"));
    if supported {
        Ok(name)
    } else if id.is_empty() {
        Err("/etc/os-release cannot be read, so the operating system is unknown; Outpost installs on Debian 12, Ubuntu 22.04 or 24.04, and RHEL, Rocky or AlmaLinux 9.".to_owned())
    } else {
        Err(format!(
            "This is {name}; Outpost installs on Debian 12, Ubuntu 22.04 or 24.04, and RHEL, Rocky or AlmaLinux 9."
        ))
    }
}

pub fn architecture(arch: &str) -> Result<String, String> {
    if arch == "x86_64" {
        Ok("x86_64 (amd64)".to_owned())
    } else {
        Err(format!("This machine is {arch}; the packages on this medium are built for x86_64 (amd64)."))
    }
}

fn processors() -> Result<String, String> {
    let count = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if count >= 2 {
        Ok(format!("{count}"))
    } else {
        Err("Only one processor: Outpost needs at least 2 (one for PostgreSQL, one for the server); give the machine another.".to_owned())
    }
}

pub fn memory(meminfo: &str) -> Result<String, String> {
    let total_kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mib = total_kib / 1024;
    if mib >= MIN_MEMORY_MIB {
        Ok(format!("{mib} MiB"))
    } else {
        Err(format!(
            "The machine has {mib} MiB of memory; Outpost with PostgreSQL needs at least {MIN_MEMORY_MIB} MiB: give it more."
        ))
    }
}

/// Free space on the file system that holds `path` (or its nearest existing parent).
pub fn free_space(path: &Path, minimum_mib: u64) -> Result<String, String> {
    let existing = path.ancestors().find(|p| p.exists()).unwrap_or(Path::new("/"));
    let stats = statvfs(existing).map_err(|e| format!("Cannot read the free space at {}: {e}.", existing.display()))?;
    let free_mib = stats.blocks_available() as u64 * stats.fragment_size() as u64 / (1024 * 1024);
    if free_mib >= minimum_mib {
        Ok(format!("{free_mib} MiB free for {}", path.display()))
    } else {
        Err(format!(
            "Only {free_mib} MiB are free for {} (on {}); Outpost needs {minimum_mib} MiB there: free some space or grow the file system.",
            path.display(),
            existing.display()
        ))
    }
}

pub fn clock(now: chrono::DateTime<chrono::Utc>) -> Result<String, String> {
    use chrono::Datelike;
    if now.year() >= EARLIEST_SANE_YEAR {
        Ok(now.format("%Y-%m-%d %H:%M UTC").to_string())
    } else {
        Err(format!(
            "The clock says {}, before this release was made; set it (timedatectl set-time, or NTP): licenses and certificates are checked against it.",
            now.format("%Y-%m-%d")
        ))
    }
}

/// A port is free, or already Outpost's own (a second run of the installer): Outpost answers
/// on its main port, and it holds its redirect port too, since it binds both or neither.
pub fn port_free(listen: &str, port: u16, field: &str, main_port: u16) -> Result<String, String> {
    let address: SocketAddr =
        format!("{listen}:{port}").parse().map_err(|_| format!("server.listen: {listen} is not an IP address."))?;
    match TcpListener::bind(address) {
        Ok(_) => Ok(format!("{port} is free")),
        Err(_) if probe::is_outpost(main_port) => Ok(format!("{port} is Outpost's own, already running")),
        Err(e) => Err(format!(
            "{field}: port {port} is taken ({e}); stop what listens there (ss -ltnp 'sport = :{port}' shows it) or choose another port."
        )),
    }
}

fn systemd(marker: &Path) -> Result<String, String> {
    if marker.is_dir() {
        Ok("systemd is running".to_owned())
    } else {
        Err("systemd is not running here, and the service is installed as a systemd unit; on a machine without it, install with --no-systemd and start `outpost serve` yourself.".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_and_unsupported_systems() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n";
        assert_eq!(operating_system(debian).unwrap(), "Debian GNU/Linux 12 (bookworm)");
        let rocky = "ID=\"rocky\"\nVERSION_ID=\"9.4\"\n";
        assert!(operating_system(rocky).is_ok());
        let old = "PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\nID=debian\nVERSION_ID=\"11\"\n";
        let refusal = operating_system(old).unwrap_err();
        assert!(refusal.contains("Debian GNU/Linux 11") && refusal.contains("Debian 12"), "{refusal}");
        assert!(operating_system("").unwrap_err().contains("/etc/os-release"));
    }

    #[test]
    fn too_little_memory_and_a_wrong_architecture_say_what_is_needed() {
        assert!(memory("MemTotal:        8000000 kB\n").is_ok());
        let refusal = memory("MemTotal:        1000000 kB\n").unwrap_err();
        assert!(refusal.contains("976 MiB") && refusal.contains("2048"), "{refusal}");
        assert!(architecture("aarch64").unwrap_err().contains("aarch64"));
    }

    #[test]
    fn a_taken_port_names_its_field_and_how_to_find_the_holder() {
        let holder = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        let refusal = port_free("127.0.0.1", port, "server.port", port).unwrap_err();
        assert!(refusal.starts_with(&format!("server.port: port {port} is taken")), "{refusal}");
        drop(holder);
        assert!(port_free("127.0.0.1", port, "server.port", port).is_ok());
    }

    #[test]
    fn a_full_disk_and_a_clock_in_the_past_are_refused() {
        let refusal = free_space(Path::new("/tmp/outpost-nothing-here"), u64::MAX / (1024 * 1024 * 1024)).unwrap_err();
        assert!(refusal.contains("free some space"), "{refusal}");
        let past = chrono::DateTime::parse_from_rfc3339("2001-01-01T00:00:00Z").unwrap().with_timezone(&chrono::Utc);
        assert!(clock(past).unwrap_err().contains("2001-01-01"));
    }
}
