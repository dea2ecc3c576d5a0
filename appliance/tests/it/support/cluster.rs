//! One real PostgreSQL cluster per test run, and one database per test cloned from a migrated
//! template, so tests run in parallel without touching each other's data.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};

use diesel::{Connection, PgConnection};
use outpost::db;
use outpost::pgcluster::{find_binaries, Cluster, Durability, Endpoint};

const TEMPLATE: &str = "outpost_template";

/// Removes the folders of earlier runs whose process is gone.
fn remove_stale_runs(base: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("outpost-test-pg-") else { continue };
        if !PathBuf::from(format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Starts the run's cluster on first use. It is started from a thread that lives as long as
/// the test process, so the kernel stops PostgreSQL when the process ends, however it ends.
pub fn endpoint() -> &'static Endpoint {
    static ENDPOINT: OnceLock<Endpoint> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let base = std::env::temp_dir();
            remove_stale_runs(&base);
            let root = base.join(format!("outpost-test-pg-{}", std::process::id()));
            let started = find_binaries().and_then(|binaries| Cluster::start(&binaries, &root, Durability::Throwaway));
            let cluster = match started {
                Ok(cluster) => cluster,
                Err(error) => {
                    let _ = sender.send(Err(error));
                    return;
                }
            };
            let prepared = prepare_template(cluster.endpoint());
            let _ = sender.send(prepared.map(|()| cluster.endpoint().clone()));
            // Keeps the cluster (and this thread) alive until the process exits.
            loop {
                std::thread::park();
            }
        });
        match receiver.recv() {
            Ok(Ok(endpoint)) => endpoint,
            Ok(Err(error)) => panic!("cannot start the test PostgreSQL cluster: {error}"),
            Err(_) => panic!("the test PostgreSQL thread died"),
        }
    })
}

fn prepare_template(endpoint: &Endpoint) -> Result<(), String> {
    endpoint.create_database(TEMPLATE, None)?;
    let mut conn = PgConnection::establish(&endpoint.url(TEMPLATE)).map_err(|e| e.to_string())?;
    db::migrate(&mut conn)?;
    Ok(())
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> TestDb {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let endpoint = endpoint();
        let name = format!("test_{}", NEXT.fetch_add(1, Ordering::SeqCst));
        endpoint.create_database(&name, Some(TEMPLATE)).expect("create the test database");
        TestDb { url: endpoint.url(&name), name }
    }

    /// An empty database without migrations, for the migration tests.
    pub fn empty() -> TestDb {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let endpoint = endpoint();
        let name = format!("empty_{}", NEXT.fetch_add(1, Ordering::SeqCst));
        endpoint.create_database(&name, None).expect("create the empty database");
        TestDb { url: endpoint.url(&name), name }
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = endpoint().drop_database(&self.name);
    }
}
