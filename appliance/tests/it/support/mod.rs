//! What every integration test stands on: a real PostgreSQL database of its own, a real
//! Outpost HTTP server on a loopback port, and helpers to act as a user would.

pub mod cli;
pub mod cluster;
pub mod http;
pub mod receiver;
pub mod s3;
pub mod self_signed;
pub mod smtp;

use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use outpost::audit::Actor;
use outpost::config::Config;
use outpost::db::{self, DbPool};
use outpost::identity::roles::GlobalRole;
use outpost::identity::tokens::{self, TokenScope};
use outpost::identity::users::{self, NewUser, User};
use outpost::jobs::worker::Context;
use outpost::search::indexer::{FileText, Indexer};
use outpost::search::SearchIndex;

pub use cluster::TestDb;
pub use http::{Client, Reply};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub pool: DbPool,
    pub config: Arc<Config>,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    /// The local object store's folder.
    pub objects: TempDir,
    /// The search index the server reads; `index()` brings it up to date.
    pub search: SearchIndex,
    indexer: Mutex<Option<Indexer>>,
    /// The same key-encryption key the server uses, for jobs run by the test.
    pub keys: Arc<outpost::keys::Keyring>,
    // Removed on drop, after the server that reads it.
    _search_dir: TempDir,
    _keys_dir: TempDir,
    // Dropped last: the server's connections go before the database does.
    _db: TestDb,
}

impl TestApp {
    pub fn start() -> TestApp {
        Self::start_with(&[])
    }

    /// Starts with `OUTPOST_*` overrides on top of the test defaults.
    pub fn start_with(overrides: &[(&str, &str)]) -> TestApp {
        let db = TestDb::new();
        let objects = TempDir(std::env::temp_dir().join(format!("outpost-objects-{}", rand::random::<u64>())));
        let search_dir = TempDir(std::env::temp_dir().join(format!("outpost-search-{}", rand::random::<u64>())));
        let keys_dir = TempDir(std::env::temp_dir().join(format!("outpost-kek-{}", rand::random::<u64>())));
        std::fs::create_dir_all(&keys_dir.0).expect("a folder for the key-encryption key");
        let kek = keys_dir.0.join("kek");
        outpost::keys::providers::FileKek::create(&kek).expect("a key-encryption key");
        let mut env: Vec<(String, String)> = vec![
            ("OUTPOST_DATABASE_URL".into(), db.url.clone()),
            ("OUTPOST_SERVER_BIND".into(), "127.0.0.1:0".into()),
            ("OUTPOST_SERVER_WORKERS".into(), "2".into()),
            ("OUTPOST_DATABASE_POOL_SIZE".into(), "6".into()),
            ("OUTPOST_STORAGE_LOCAL_DIR".into(), objects.0.display().to_string()),
            ("OUTPOST_SEARCH_INDEX_DIR".into(), search_dir.0.display().to_string()),
            ("OUTPOST_KEYS_FILE".into(), kek.display().to_string()),
            // Tests send many requests from one address in little time; the rate limit test
            // sets its own.
            ("OUTPOST_API_REQUESTS_PER_MINUTE".into(), "1000000".into()),
            ("OUTPOST_API_REQUESTS_PER_MINUTE_PER_ADDRESS".into(), "1000000".into()),
            ("OUTPOST_API_FAILED_TOKENS_PER_MINUTE".into(), "10000".into()),
        ];
        env.extend(overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::load(None, env).expect("test configuration");
        let scheme = if config.server.tls.is_some() { "https" } else { "http" };
        let keys = Arc::new(outpost::keys::Keyring::open(&config.keys).expect("open the key-encryption key"));
        let pool = db::pool(&config.database);
        let shared = Arc::new(config.clone());
        let (sender, receiver) = mpsc::channel();
        let server_pool = pool.clone();
        let search = SearchIndex::new(&config.search.index_dir);
        let server_search = search.clone();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let mut config = config;
                let keys = outpost::server::open_keys(&mut config, &server_pool).expect("open the key-encryption key");
                let storage = outpost::storage::Storage::open(&config.storage).await.expect("open the test storage");
                let parts = outpost::server::Parts {
                    config,
                    pool: server_pool,
                    storage,
                    search: server_search,
                    keys: Arc::new(keys),
                };
                let bound = outpost::server::bind(parts).expect("bind the test server");
                sender.send((bound.address, bound.server.handle())).expect("report the address");
                let _ = bound.server.await;
            });
        });
        let (address, handle) = receiver.recv().expect("the test server started");
        TestApp {
            base: format!("{scheme}://{address}"),
            pool,
            config: shared,
            handle,
            thread: Some(thread),
            objects,
            search,
            indexer: Mutex::new(None),
            keys,
            _search_dir: search_dir,
            _keys_dir: keys_dir,
            _db: db,
        }
    }

    /// What the background workers would do, done now in this thread: dispatch the outbox and
    /// run every ready job. (The test server runs no background workers, so tests decide
    /// when jobs run.) Returns how many ran.
    pub fn run_jobs(&self) -> usize {
        let context = Context { pool: self.pool.clone(), config: self.config.clone(), keys: self.keys.clone() };
        outpost::jobs::worker::drain(&context).expect("run the jobs")
    }

    /// What this node's indexer thread would do, done now: open (or build) the index, then
    /// apply every outbox event there is. Returns how many events it applied.
    pub fn index(&self) -> usize {
        self.with_indexer(|indexer| indexer.catch_up().expect("index the changes"))
    }

    /// Runs `work` with this app's indexer, opening (or building) the index first if needed.
    pub fn with_indexer<T>(&self, work: impl FnOnce(&mut Indexer) -> T) -> T {
        let mut indexer = self.indexer.lock().unwrap_or_else(|e| e.into_inner());
        if indexer.is_none() {
            let files = FileText::open(&self.config.storage, &self.pool, &self.keys)
                .expect("open the file store for the indexer");
            *indexer = Some(Indexer::open(&self.search, &self.pool, files).expect("open the search index"));
        }
        work(indexer.as_mut().expect("the indexer was just opened"))
    }

    /// Lets go of the index writer, as a stopped node would (its folder stays).
    pub fn stop_indexer(&self) {
        self.indexer.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    pub fn conn(&self) -> db::DbConn {
        self.pool.get().expect("a test connection")
    }

    /// Creates a user whose password is `PASSWORD`.
    pub fn user(&self, username: &str, is_admin: bool) -> User {
        let new = NewUser {
            username: username.to_owned(),
            display_name: format!("{username} (test)"),
            email: format!("{username}@example.test"),
            password: PASSWORD.to_owned(),
            role: if is_admin { GlobalRole::Admin } else { GlobalRole::User },
            is_service: false,
        };
        users::create(&mut self.conn(), &Actor::system(), new).expect("create a test user")
    }

    /// A client signed in as a new user.
    pub fn signed_in(&self, username: &str, is_admin: bool) -> (Client, User) {
        let user = self.user(username, is_admin);
        let mut client = self.client();
        let reply = client.sign_in(username, PASSWORD);
        assert_eq!(reply.status, 303, "sign-in failed: {}", reply.body);
        (client, user)
    }

    pub fn token(&self, user: &User) -> String {
        let scope = if user.is_admin { TokenScope::Admin } else { TokenScope::Write };
        tokens::create(&mut self.conn(), &Actor::system(), user, "test", scope, None).expect("create a token").1
    }

    /// Rows in `table`, to prove that a refused request wrote nothing.
    pub fn count(&self, table: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result::<Count>(&mut self.conn())
            .expect("count rows")
            .n
    }

    /// The one text value a query answers (`SELECT x::text ...`), for checking what was written.
    pub fn value(&self, query: &str) -> String {
        #[derive(QueryableByName)]
        struct Value {
            #[diesel(sql_type = diesel::sql_types::Text)]
            value: String,
        }
        diesel::sql_query(format!("SELECT ({query}) AS value"))
            .get_result::<Value>(&mut self.conn())
            .expect("query a value")
            .value
    }

    /// Counts of the tables a change writes to, for before/after comparisons.
    pub fn footprint(&self) -> [i64; 6] {
        ["projects", "issues", "comments", "api_tokens", "audit_log", "outbox"].map(|t| self.count(t))
    }

    /// Takes the database away from under the running server, as an outage would.
    pub fn lose_database(&self) {
        cluster::endpoint().drop_database(&self._db.name).expect("drop the database");
    }

    /// The key-encryption key file this app was started with, for processes started beside it.
    pub fn kek_file(&self) -> String {
        match &self.config.keys.current {
            outpost::config::KeyProviderConfig::File { path } => path.display().to_string(),
            other => panic!("test apps use a key file, not {other:?}"),
        }
    }

    pub fn sql(&self, statement: &str) {
        diesel::sql_query(statement).execute(&mut self.conn()).expect("run SQL");
    }
}

/// The smallest PNG there is (1×1), for uploads that must be pictures.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99=\x1d\0\0\0\0IEND\xaeB`\x82";

/// A folder removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        actix_web::rt::System::new().block_on(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
