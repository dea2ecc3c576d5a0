//! Logs: structured lines on stderr, which journald collects under systemd.

use tracing_subscriber::EnvFilter;

/// `RUST_LOG` wins over the configured level, for one-off debugging.
pub fn init(level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
