//! Running the HTTP(S) server until SIGINT/SIGTERM, then draining in-flight requests.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::HttpServer;

use crate::config::Config;
use crate::db::DbPool;
use crate::jobs::worker::{Context, Runtime, Stop};
use crate::keys::Keyring;
use crate::operations::usage::Counter;
use crate::privileges::{self, Identity};
use crate::search::{indexer, SearchIndex};
use crate::storage::Storage;
use crate::tls;
use crate::web::{self, AppState};

/// Binds the configured address (with TLS when a certificate is configured) and returns the
/// server, not yet running, with the address it got, which differs from the configured one
/// when that says port 0.
pub fn bind(parts: Parts) -> Result<Bound, String> {
    let listener = listen(parts.config.server.bind, "server.bind")?;
    start(listener, parts)
}

/// What a node serves with, opened before it serves.
pub struct Parts {
    pub config: Config,
    pub pool: DbPool,
    pub storage: Storage,
    pub search: SearchIndex,
    pub keys: Arc<Keyring>,
}

/// A server ready to run, and what the caller needs of it.
pub struct Bound {
    pub server: Server,
    /// The address it listens on.
    pub address: SocketAddr,
    /// The certificate it serves, for reloading.
    pub certificate: Option<Arc<tls::ServedCertificate>>,
    /// Its usage counts, which it adds to the database every minute; one last time at stop.
    pub usage: Arc<Counter>,
}

/// How often a node adds its API calls and active people to the usage rows.
const USAGE_FLUSH: std::time::Duration = std::time::Duration::from_secs(60);

/// Serves on a listener already bound (perhaps by root, before dropping to the service user).
fn start(listener: TcpListener, parts: Parts) -> Result<Bound, String> {
    let Parts { config, pool, storage, search, keys } = parts;
    let workers = config.server.workers;
    let tls = match &config.server.tls {
        Some(files) => Some(tls::server_config(files).map_err(|problems| problems.join("\n"))?),
        None => None,
    };
    let (tls, certificate) = match tls {
        Some((tls, certificate)) => (Some(tls), Some(certificate)),
        None => (None, None),
    };
    let https = tls.is_some();
    let address = listener.local_addr().map_err(|e| format!("cannot read the listening address: {e}"))?;
    let limits = Arc::new(crate::web::rate_limit::RateLimiter::new(&config.api));
    let usage = Arc::new(Counter::default());
    flush_usage_every_minute(usage.clone(), pool.clone());
    let state = AppState {
        pool,
        config: Arc::new(config),
        storage,
        search,
        limits,
        keys,
        certificate: certificate.clone(),
        started_at: chrono::Utc::now(),
        metrics: Arc::default(),
        usage: usage.clone(),
    };
    let server = HttpServer::new(move || web::app(state.clone())).workers(workers).shutdown_timeout(10);
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls),
        None => server.listen(listener),
    }
    .map_err(|e| format!("cannot serve on {address}: {e}"))?;
    tracing::info!(%address, workers, https, "Outpost is listening");
    Ok(Bound { server: server.run(), address, certificate, usage })
}

fn flush_usage_every_minute(usage: Arc<Counter>, pool: DbPool) {
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(USAGE_FLUSH);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            flush_usage(&usage, &pool).await;
        }
    });
}

async fn flush_usage(usage: &Arc<Counter>, pool: &DbPool) {
    let usage = usage.clone();
    if let Err(error) = crate::db::run(pool, move |conn| Ok(usage.flush(conn)?)).await {
        tracing::warn!(error = %error.for_operator(), "usage counts were not written; they are kept for the next try");
    }
}

/// Binds `address` for the setting `setting`; a port in use is said as such.
fn listen(address: SocketAddr, setting: &str) -> Result<TcpListener, String> {
    TcpListener::bind(address).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            format!("{setting}: {address} is already in use; stop what uses it or choose another port.")
        }
        std::io::ErrorKind::PermissionDenied => format!(
            "{setting}: only root (or a service with CAP_NET_BIND_SERVICE) may listen on {address}; start Outpost as \
             root, which becomes server.user once the port is bound, or choose a port above 1023"
        ),
        _ => format!("{setting}: cannot listen on {address}: {e}"),
    })
}

/// The ports `serve` listens on, bound before anything else.
pub struct Ports {
    main: TcpListener,
    redirect: Option<TcpListener>,
}

/// Binds the configured ports, then, when running as root, becomes `server.user`: call it
/// first, so that no connection, file, key or certificate is opened as root (a database
/// reached over its socket with peer authentication then sees the service user).
pub fn bind_ports_and_drop_root(config: &Config) -> Result<Ports, String> {
    let main = listen(config.server.bind, "server.bind")?;
    let redirect = match config.server.redirect_http_from {
        Some(from) => Some(listen(from, "server.redirect_http_from")?),
        None => None,
    };
    match privileges::drop_root(&config.server.user)? {
        Identity::Became { user, uid } => tracing::info!(%user, uid, "dropped root: serving as the service user"),
        Identity::KeptRoot => {
            tracing::warn!("serving as root because server.user says root; an unprivileged user is safer")
        }
        Identity::Unprivileged => {}
    }
    Ok(Ports { main, redirect })
}

/// Serves on `ports` (with this node's background jobs) until SIGINT or SIGTERM, then lets
/// in-flight requests and jobs finish.
pub async fn serve(mut config: Config, pool: DbPool, ports: Ports) -> Result<(), String> {
    let Ports { main: listener, redirect: redirect_listener } = ports;
    // Before anything starts, so that a key that cannot be used stops the service.
    let keys = Arc::new(open_keys(&mut config, &pool)?);
    // A store that cannot be opened now would fail every upload later: say so at start.
    let storage = Storage::open(&config.storage)
        .await
        .map_err(|e| format!("file storage: {e}; `outpost storage check` shows which step fails"))?;
    tracing::info!(storage = %storage.describe(), "file storage is ready");
    install_dropped_license(&config, &pool).await;
    let stop_listening = Stop::default();
    let listener_thread = crate::changes::spawn_listener(config.database.url.clone(), stop_listening.clone())
        .map_err(|e| format!("cannot start the change listener: {e}"))?;
    let background = crate::db::background_pool(&config.database, config.jobs.workers);
    let context = Context { pool: background.clone(), config: Arc::new(config.clone()), keys: keys.clone() };
    let jobs = Runtime::start(context).map_err(|e| format!("cannot start the background jobs: {e}"))?;
    // The index opens (or is built) in the background: the server answers meanwhile, and
    // searches say that the index is on its way.
    let search = SearchIndex::new(&config.search.index_dir);
    let stop_indexing = Stop::default();
    let indexer =
        indexer::spawn(search.clone(), background, config.storage.clone(), keys.clone(), stop_indexing.clone())
            .map_err(|e| format!("cannot start the search indexer: {e}"))?;
    let redirect = match redirect_listener {
        Some(listener) => {
            Some(redirect_to_https(listener, config.server.bind.port(), config.server.public_url.clone())?)
        }
        None => None,
    };
    let flush_pool = pool.clone();
    let Bound { server, certificate, usage, address } = start(listener, Parts { config, pool, storage, search, keys })?;
    if let Some(certificate) = certificate {
        reload_on_hangup(certificate)?;
    }
    crate::service_manager::ready(&format!("Serving on {address}"));
    let served = server.await.map_err(|e| format!("the HTTP server stopped: {e}"));
    crate::service_manager::stopping();
    flush_usage(&usage, &flush_pool).await;
    if let Some(redirect) = redirect {
        redirect.stop(true).await;
    }
    actix_web::rt::task::spawn_blocking(move || {
        stop_indexing.request();
        stop_listening.request();
        let _ = indexer.join();
        let _ = listener_thread.join();
        jobs.stop();
    })
    .await
    .map_err(|e| e.to_string())?;
    served
}

/// A license file dropped into `license.file` is put in force; one that does not verify is
/// logged and left, and the installation goes on as it was.
async fn install_dropped_license(config: &Config, pool: &DbPool) {
    let path = config.license_file.clone();
    let installed = crate::db::run(pool, move |conn| crate::license::install_dropped_file(conn, &path)).await;
    match installed {
        Ok(Some(license)) => tracing::info!(license = %license.payload.license_id, "installed the license file"),
        Ok(None) => {}
        Err(problem) => tracing::warn!(%problem, "the license file was not installed"),
    }
}

/// Opens and proves the key-encryption keys (a key that cannot be used stops start-up with one
/// sentence), opens the configuration's sealed secrets, then seals the two-factor seeds and
/// webhook secrets written before customer-managed keys.
pub fn open_keys(config: &mut Config, pool: &DbPool) -> Result<Keyring, String> {
    let keys = Keyring::open(&config.keys)
        .map_err(|e| format!("the customer-managed key cannot be used: {e}; see keys.* in the configuration"))?;
    let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
    config.open_sealed_secrets(&mut conn, &keys).map_err(|problems| problems.join("\n"))?;
    for setting in config.plain_secrets() {
        tracing::warn!(
            setting,
            "a secret is written in the clear in the configuration; `outpost keys seal-secret {setting}` prints it sealed"
        );
    }
    let sealed = crate::identity::mfa::seal_plain_seeds(&mut conn, &keys).map_err(|e| e.for_operator())?
        + crate::integrations::webhooks::seal_plain_secrets(&mut conn, &keys).map_err(|e| e.for_operator())?;
    if sealed > 0 {
        tracing::info!(sealed, "sealed two-factor seeds and webhook secrets with the customer-managed key");
    }
    tracing::info!(key = %keys.current_kek(), "the customer-managed key is ready");
    Ok(keys)
}

/// `SIGHUP` re-reads the certificate files: new connections get the new certificate, open
/// ones carry on, and a certificate that does not load is said in the log and not used.
fn reload_on_hangup(certificate: Arc<tls::ServedCertificate>) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup()).map_err(|e| format!("cannot listen for SIGHUP: {e}"))?;
    actix_web::rt::spawn(async move {
        while hangups.recv().await.is_some() {
            match certificate.reload() {
                Ok(()) => tracing::info!("reloaded the TLS certificate"),
                Err(problems) => {
                    tracing::error!(problems = %problems.join("; "), "kept the TLS certificate in use: the new files do not load")
                }
            }
        }
    });
    Ok(())
}

/// A plain HTTP listener on `from` that sends every request to the same path over HTTPS: at
/// `public_url` when it is set, else at the host the browser asked for, on `https_port`.
fn redirect_to_https(
    listener: TcpListener,
    https_port: u16,
    public_url: Option<String>,
) -> Result<actix_web::dev::ServerHandle, String> {
    use actix_web::{web, HttpRequest, HttpResponse};
    let target = move |req: HttpRequest| {
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let base = match &public_url {
            Some(url) if url.starts_with("https://") => url.trim_end_matches('/').to_owned(),
            _ => {
                let host = req.connection_info().host().to_owned();
                let name = host.rsplit_once(':').map_or(host.as_str(), |(name, _)| name).to_owned();
                match https_port {
                    443 => format!("https://{name}"),
                    port => format!("https://{name}:{port}"),
                }
            }
        };
        HttpResponse::PermanentRedirect().insert_header(("Location", format!("{base}{path}"))).finish()
    };
    let from = listener.local_addr().map_err(|e| format!("server.redirect_http_from: {e}"))?;
    let server = HttpServer::new(move || {
        let target = target.clone();
        actix_web::App::new().default_service(web::to(move |req: HttpRequest| {
            let answer = target(req);
            async move { answer }
        }))
    })
    .workers(1)
    .listen(listener)
    .map_err(|e| format!("server.redirect_http_from: cannot serve on {from}: {e}"))?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    tracing::info!(%from, "plain HTTP is redirected to HTTPS");
    Ok(handle)
}
