//! `outpost quickstart`: everything on one machine with nothing configured.

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::RunQueryDsl;

use crate::audit::Actor;
use crate::config::Config;
use crate::db;
use crate::identity::passwords;
use crate::identity::users::{self, NewUser};
use crate::pgcluster::{self, Cluster, Durability};
use crate::server;

pub const DATABASE: &str = "outpost";

pub fn run(data: &Path, port: u16) -> Result<(), String> {
    let binaries = pgcluster::find_binaries()?;
    let data = std::path::absolute(data).map_err(|e| format!("{}: {e}", data.display()))?;
    eprintln!("Starting a private PostgreSQL cluster in {} …", data.display());
    let mut cluster = Cluster::start(&binaries, &data, Durability::Durable)?;
    let result = serve_with(&cluster, &data, port);
    eprintln!("Stopping PostgreSQL …");
    let stopped = cluster.stop();
    result.and(stopped)
}

/// Writes `DIR/outpost.toml` pointing at the private cluster, so that admin commands
/// (`outpost admin set-password --config DIR/outpost.toml …`) reach it while quickstart runs.
fn write_admin_config(data: &Path, database_url: &str) -> Result<PathBuf, String> {
    let mut database = toml::Table::new();
    database.insert("url".to_owned(), toml::Value::String(database_url.to_owned()));
    let mut keys = toml::Table::new();
    keys.insert("file".to_owned(), toml::Value::String(data.join("kek").display().to_string()));
    let mut table = toml::Table::new();
    table.insert("database".to_owned(), toml::Value::Table(database));
    table.insert("keys".to_owned(), toml::Value::Table(keys));
    let body = toml::to_string(&table).map_err(|e| format!("cannot write the admin config: {e}"))?;
    let path = data.join("outpost.toml");
    let text = format!(
        "# Written by `outpost quickstart`: admin commands reach this cluster with --config {}\n{body}",
        path.display()
    );
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

fn serve_with(cluster: &Cluster, data: &Path, port: u16) -> Result<(), String> {
    cluster.endpoint().create_database(DATABASE, None)?;
    // The key-encryption key of a quickstart: a file beside the data, made once.
    let kek = data.join("kek");
    if !kek.exists() {
        crate::keys::providers::FileKek::create(&kek).map_err(|e| e.to_string())?;
        println!(
            "Made the key-encryption key {} (keep it with the data: without it, encrypted data cannot be read).",
            kek.display()
        );
    }
    let admin_config = write_admin_config(data, &cluster.endpoint().url(DATABASE))?;
    let config = Config::quickstart(cluster.endpoint().url(DATABASE), port, data, std::env::vars())
        .map_err(|problems| problems.join("\n"))?;
    crate::telemetry::init(&config.log_level);
    let ports = server::bind_ports_and_drop_root(&config)?;
    let pool = db::pool(&config.database);
    db::wait_until_reachable(&pool, Duration::from_secs(10))?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    db::migrate(&mut conn)?;
    // The system page's slowest queries; the cluster preloads the library.
    if let Err(e) = diesel::sql_query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(&mut conn) {
        tracing::warn!(error = %e, "pg_stat_statements is not available: the system page shows no slowest queries");
    }
    if users::count(&mut conn).map_err(|e| e.to_string())? == 0 {
        let password = passwords::generate();
        let admin = NewUser {
            username: "admin".to_owned(),
            display_name: "Administrator".to_owned(),
            email: "admin@localhost".to_owned(),
            password: password.clone(),
            role: crate::identity::roles::GlobalRole::Admin,
            is_service: false,
        };
        users::create(&mut conn, &Actor::system(), admin).map_err(|e| e.to_string())?;
        println!("Created the administrator account. It is shown this once:");
        println!("  user name: admin");
        println!("  password:  {password}");
    } else {
        println!("Using the existing accounts. Lost the admin password? While this runs:");
        println!("  outpost admin set-password --config {} --username admin", admin_config.display());
    }
    drop(conn);
    println!("Outpost is at http://127.0.0.1:{port}/ — press Ctrl-C to stop.");
    actix_web::rt::System::new().block_on(server::serve(config, pool, ports))
}
