//! Logs: structured lines on stderr, which journald collects under systemd.

use tracing_subscriber::EnvFilter;

/// `RUST_LOG` wins over the configured level, for one-off debugging. Tantivy's own lines
/// (every segment flushed and file deleted) are kept to warnings unless the level names it.
pub fn init(level: &str) {
    let configured = |level: &str| {
        let filter = EnvFilter::try_new(level)?;
        Ok::<_, tracing_subscriber::filter::ParseError>(match level.contains("tantivy") {
            true => filter,
            false => filter.add_directive("tantivy=warn".parse()?),
        })
    };
    let filter =
        EnvFilter::try_from_default_env().or_else(|_| configured(level)).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
