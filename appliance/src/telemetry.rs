//! Logs: under systemd, structured entries straight to journald (each field its own journal
//! field: REQUEST_ID, ROUTE, STATUS, USER_ID…); elsewhere, lines on stderr. The level comes
//! from `log.level` and can be changed while running (Administration → System), per node.

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

static LEVEL: OnceLock<(reload::Handle<EnvFilter, Registry>, std::sync::Mutex<String>)> = OnceLock::new();

/// A filter for `level`; Tantivy's own lines (every segment flushed and file deleted) are kept
/// to warnings unless the level names it.
fn filter(level: &str) -> Result<EnvFilter, String> {
    let refused = |e: &dyn std::fmt::Display| format!("\"{level}\" is not a log level or directive: {e}");
    let filter = EnvFilter::try_new(level).map_err(|e| refused(&e))?;
    Ok(match level.contains("tantivy") {
        true => filter,
        false => filter.add_directive("tantivy=warn".parse().map_err(|e| refused(&e))?),
    })
}

/// `RUST_LOG` wins over the configured level, for one-off debugging. systemd tells a service
/// whose output goes to the journal by `JOURNAL_STREAM`.
pub fn init(level: &str) {
    let from_env = std::env::var("RUST_LOG").ok().filter(|value| EnvFilter::try_new(value).is_ok());
    let chosen = from_env.unwrap_or_else(|| level.to_owned());
    let (filter, handle) = reload::Layer::new(filter(&chosen).unwrap_or_else(|_| EnvFilter::new("info")));
    let journald = std::env::var_os("JOURNAL_STREAM")
        .and_then(|_| tracing_journald::layer().ok().map(|layer| layer.with_syslog_identifier("outpost".to_owned())));
    let stderr =
        journald.is_none().then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false));
    if tracing_subscriber::registry().with(filter).with(journald).with(stderr).try_init().is_ok() {
        let _ = LEVEL.set((handle, std::sync::Mutex::new(chosen)));
    }
}

/// The level in force on this node.
pub fn level() -> Option<String> {
    LEVEL.get().map(|(_, level)| level.lock().unwrap_or_else(|e| e.into_inner()).clone())
}

/// Changes this node's level until it restarts; refused with a sentence when `level` is not
/// one, or when logging was not set up here.
pub fn set_level(level: &str) -> Result<(), String> {
    let (handle, current) = LEVEL.get().ok_or("logging is not set up in this process")?;
    let filter = filter(level.trim())?;
    handle.reload(filter).map_err(|e| format!("the level could not be changed: {e}"))?;
    *current.lock().unwrap_or_else(|e| e.into_inner()) = level.trim().to_owned();
    Ok(())
}
