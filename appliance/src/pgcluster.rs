//! A private PostgreSQL cluster run from the system's PostgreSQL binaries: quickstart's
//! database, and the test suite's. It listens on a Unix socket in its own folder only (no TCP),
//! and stops when its owner stops, even if the owner crashes.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

/// The database superuser that `initdb` creates; connections come over the private socket.
pub const SUPERUSER: &str = "outpost";

pub struct Binaries {
    pub initdb: PathBuf,
    pub postgres: PathBuf,
}

/// Finds `initdb` and `postgres`: on PATH, else the newest under /usr/lib/postgresql/*/bin
/// (Debian) or /usr/pgsql-*/bin (RHEL).
pub fn find_binaries() -> Result<Binaries, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    find_binaries_in(&path, &[(Path::new("/usr/lib/postgresql"), ""), (Path::new("/usr"), "pgsql-")])
}

/// `find_binaries` with the places to look spelled out: `PATH`, and folders holding
/// `<prefix><major version>/bin`.
pub fn find_binaries_in(path: &std::ffi::OsStr, versioned_roots: &[(&Path, &str)]) -> Result<Binaries, String> {
    let mut candidates: Vec<PathBuf> = std::env::split_paths(path).collect();
    candidates.extend(versioned_folders(versioned_roots));
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        .map(|dir| Binaries { initdb: dir.join("initdb"), postgres: dir.join("postgres") })
        .ok_or_else(|| {
            "The PostgreSQL server programs (initdb, postgres) were not found on PATH or under \
             /usr/lib/postgresql/*/bin; install them with `apt-get install postgresql` (Debian, Ubuntu) \
             or `dnf install postgresql-server` (RHEL)."
                .to_owned()
        })
}

/// `pg_dump` and `pg_restore`: in `folder` when one is configured, else the newest under
/// /usr/lib/postgresql/*/bin or /usr/pgsql-*/bin (a newer pg_dump reads an older server; an
/// older one refuses a newer server), else on PATH.
pub fn find_dump_tools(folder: Option<&Path>) -> Result<(PathBuf, PathBuf), String> {
    let candidates: Vec<PathBuf> = match folder {
        Some(folder) => vec![folder.to_owned()],
        None => versioned_folders(&[(Path::new("/usr/lib/postgresql"), ""), (Path::new("/usr"), "pgsql-")])
            .into_iter()
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()))
            .collect(),
    };
    candidates
        .into_iter()
        .find(|dir| dir.join("pg_dump").is_file() && dir.join("pg_restore").is_file())
        .map(|dir| (dir.join("pg_dump"), dir.join("pg_restore")))
        .ok_or_else(|| match folder {
            Some(folder) => format!("backup.pg_bin_dir: {} holds no pg_dump and pg_restore", folder.display()),
            None => "pg_dump and pg_restore were not found under /usr/lib/postgresql/*/bin or on PATH; install \
                     the PostgreSQL client (`apt-get install postgresql-client`) or set backup.pg_bin_dir"
                .to_owned(),
        })
}

/// The `<prefix><major version>/bin` folders under `roots`, newest version first.
fn versioned_folders(versioned_roots: &[(&Path, &str)]) -> Vec<PathBuf> {
    let mut versioned: Vec<(u32, PathBuf)> = Vec::new();
    for &(root, prefix) in versioned_roots {
        let Ok(entries) = fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(version) = name.strip_prefix(prefix).and_then(|v| v.parse::<u32>().ok()) else {
                continue;
            };
            versioned.push((version, entry.path().join("bin")));
        }
    }
    versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    versioned.into_iter().map(|(_, dir)| dir).collect()
}

/// How the cluster trades safety for speed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Normal crash-safe settings: quickstart.
    Durable,
    /// fsync off and friends: throwaway test clusters.
    Throwaway,
}

pub struct Cluster {
    child: Option<Child>,
    endpoint: Endpoint,
    log_path: PathBuf,
}

/// Where a running cluster is reached: its socket folder. Cheap to clone and share.
#[derive(Clone, Debug)]
pub struct Endpoint {
    socket_dir: PathBuf,
}

/// PostgreSQL refuses to run as root. When we are root, it runs as the `postgres` system user
/// (which Debian's and RHEL's packages create) and owns its folders.
fn run_as() -> Result<Option<(u32, u32)>, String> {
    let status = fs::read_to_string("/proc/self/status").map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|id| id.parse::<u32>().ok());
    if euid != Some(0) {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").map_err(|e| format!("cannot read /etc/passwd: {e}"))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres") && fields.len() > 3)
        .and_then(|fields| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
        .map(Some)
        .ok_or_else(|| {
            "PostgreSQL refuses to run as root and there is no `postgres` user to run it as; run this as an \
             ordinary user, or install the postgresql package, which creates that user."
                .to_owned()
        })
}

fn command(program: &Path, owner: Option<(u32, u32)>) -> Command {
    let mut command = Command::new(program);
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
    command
}

impl Cluster {
    /// Creates the cluster in `root` on first use (`root/pg`), then starts it with its socket
    /// in `root/run` and its log in `root/postgres.log`, and waits until it accepts connections.
    pub fn start(binaries: &Binaries, root: &Path, durability: Durability) -> Result<Cluster, String> {
        let owner = run_as()?;
        let data_dir = root.join("pg");
        let socket_dir = root.join("run");
        let log_path = root.join("postgres.log");
        for dir in [root, &socket_dir] {
            fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        fs::set_permissions(&socket_dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot restrict {}: {e}", socket_dir.display()))?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
        if let Some((uid, gid)) = owner {
            for path in [&socket_dir, &log_path] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .map_err(|e| format!("cannot hand {} to the postgres user: {e}", path.display()))?;
            }
        }

        if !data_dir.join("PG_VERSION").exists() {
            fs::create_dir_all(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
            fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("cannot restrict {}: {e}", data_dir.display()))?;
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(&data_dir, Some(uid), Some(gid))
                    .map_err(|e| format!("cannot hand {} to the postgres user: {e}", data_dir.display()))?;
            }
            let mut initdb = command(&binaries.initdb, owner);
            initdb
                .arg("--pgdata")
                .arg(&data_dir)
                .args(["--username", SUPERUSER, "--auth", "trust", "--encoding", "UTF8", "--no-locale"])
                .current_dir(root);
            if durability == Durability::Throwaway {
                initdb.arg("--no-sync");
            }
            let output = initdb.output().map_err(|e| format!("cannot run {}: {e}", binaries.initdb.display()))?;
            if !output.status.success() {
                return Err(format!(
                    "initdb failed for {}{}:\n{}",
                    data_dir.display(),
                    if owner.is_some() {
                        " (run as the postgres user, which must be able to reach that folder)"
                    } else {
                        ""
                    },
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
        }

        let mut postgres = command(&binaries.postgres, owner);
        postgres
            .arg("-D")
            .arg(&data_dir)
            .args(["-c", "listen_addresses="])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", socket_dir.display()))
            .args(["-c", "unix_socket_permissions=0700", "-c", "max_connections=200"])
            // So that the system page can show the slowest queries (once the extension is
            // created in the database).
            .args(["-c", "shared_preload_libraries=pg_stat_statements"])
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            // Its own process group: Ctrl-C in a terminal reaches Outpost, which then stops the
            // server and this cluster in order, instead of both at once.
            .process_group(0);
        if durability == Durability::Throwaway {
            postgres.args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]);
        }
        stop_with_parent(&mut postgres);
        let child = postgres.spawn().map_err(|e| format!("cannot start {}: {e}", binaries.postgres.display()))?;
        let mut cluster = Cluster { child: Some(child), endpoint: Endpoint { socket_dir }, log_path };
        cluster.wait_until_ready(Duration::from_secs(60))?;
        Ok(cluster)
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn wait_until_ready(&mut self, patience: Duration) -> Result<(), String> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("PostgreSQL exited ({status}) while starting:\n{}", self.log_tail()));
                }
            }
            if PgConnection::establish(&self.endpoint.url("postgres")).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "PostgreSQL did not accept connections within {}s:\n{}",
                    patience.as_secs(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Fast shutdown: open transactions are rolled back, and the cluster is consistent on disk.
    pub fn stop(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err("PostgreSQL did not stop within 30 s and was killed".to_owned())
    }
}

impl Endpoint {
    /// A libpq connection string for `database` over the private socket.
    pub fn url(&self, database: &str) -> String {
        format!("host='{}' user={SUPERUSER} dbname={database}", self.socket_dir.display())
    }

    /// Creates `name` unless it exists; `template` clones another database.
    pub fn create_database(&self, name: &str, template: Option<&str>) -> Result<(), String> {
        let mut conn = PgConnection::establish(&self.url("postgres")).map_err(|e| e.to_string())?;
        #[derive(diesel::QueryableByName)]
        struct Exists {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            exists: bool,
        }
        let found: Exists = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result(&mut conn)
            .map_err(|e| e.to_string())?;
        if !found.exists {
            let template = template.map(|t| format!(" TEMPLATE \"{t}\" STRATEGY FILE_COPY")).unwrap_or_default();
            diesel::sql_query(format!("CREATE DATABASE \"{name}\"{template}"))
                .execute(&mut conn)
                .map_err(|e| format!("cannot create database {name}: {e}"))?;
        }
        Ok(())
    }

    pub fn drop_database(&self, name: &str) -> Result<(), String> {
        let mut conn = PgConnection::establish(&self.url("postgres")).map_err(|e| e.to_string())?;
        diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut conn)
            .map(|_| ())
            .map_err(|e| format!("cannot drop database {name}: {e}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "stopping the private PostgreSQL cluster");
        }
    }
}

/// Asks the kernel to send SIGTERM to the child when the thread that started it ends, so a
/// crashed Outpost (or an ended test run) never leaves a cluster behind.
#[allow(unsafe_code)]
fn stop_with_parent(command: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only makes one async-signal-safe
    // system call.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_are_explained_with_the_package_to_install() {
        let error =
            find_binaries_in(std::ffi::OsStr::new("/nonexistent"), &[(Path::new("/nonexistent"), "")]).err().unwrap();
        assert!(error.contains("apt-get install postgresql"), "{error}");
        assert!(error.contains("initdb"), "{error}");
    }

    #[test]
    fn the_newest_versioned_folder_wins() {
        let root = std::env::temp_dir().join(format!("outpost-pgbin-{}", rand::random::<u64>()));
        for version in ["13", "16", "notaversion"] {
            let bin = root.join(version).join("bin");
            fs::create_dir_all(&bin).unwrap();
            fs::write(bin.join("initdb"), "").unwrap();
            fs::write(bin.join("postgres"), "").unwrap();
        }
        let found = find_binaries_in(std::ffi::OsStr::new(""), &[(&root, "")]).unwrap();
        assert_eq!(found.initdb, root.join("16/bin/initdb"));
        fs::remove_dir_all(&root).unwrap();
    }
}
