//! Object storage: one suite run against both stores (a folder on disk, and a real S3 server,
//! s3s-fs), a 200 MB upload that must stream through in bounded memory, the refusals, and
//! `outpost storage check` as an administrator runs it.

use std::path::PathBuf;
use std::process::Command;

use bytes::Bytes;
use futures_util::StreamExt;
use outpost::config::{S3Settings, StorageBackend, StorageConfig};
use outpost::storage::{ByteStream, Listed, ObjectKey, ObjectStore, Storage, StorageError};
use sha2::{Digest, Sha256};

use crate::support::s3::{S3Server, TlsFront, ACCESS_KEY, SECRET_KEY};
use crate::support::smtp::Certificates;

const MIB: u64 = 1024 * 1024;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn temp_dir(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("outpost-{what}-{}", rand::random::<u64>()))
}

fn local(dir: &std::path::Path) -> StorageConfig {
    StorageConfig { backend: StorageBackend::Local { dir: dir.to_path_buf() }, max_upload_bytes: 100 * MIB }
}

fn s3_settings(server: &S3Server, secret: &str) -> S3Settings {
    S3Settings {
        endpoint: server.endpoint(),
        region: "us-east-1".to_owned(),
        bucket: "outpost-test".to_owned(),
        access_key: ACCESS_KEY.to_owned(),
        secret_key: secret.to_owned(),
        ca_file: None,
    }
}

fn s3(server: &S3Server) -> StorageConfig {
    StorageConfig { backend: StorageBackend::S3(s3_settings(server, SECRET_KEY)), max_upload_bytes: 100 * MIB }
}

fn key(text: &str) -> ObjectKey {
    ObjectKey::new(text).unwrap()
}

fn body(chunks: Vec<&'static [u8]>) -> ByteStream {
    Box::pin(futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c)))))
}

async fn read_all<S: ObjectStore>(store: &S, key: &ObjectKey) -> Vec<u8> {
    let mut stream = store.get(key).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// What every store must do, the same way.
async fn suite<S: ObjectStore>(store: &S, name: &str) {
    // Clocks of the test and the server agree to within a few seconds; both run here.
    let before_write = chrono::Utc::now() - chrono::Duration::seconds(5);
    let first = key("attachments/aa/one");
    let stored = store.put(&first, body(vec![b"hello ", b"world"]), 1000, "text/plain").await.unwrap();
    assert_eq!(stored.size, 11, "{name}");
    assert_eq!(stored.sha256, hex::encode(Sha256::digest(b"hello world")), "{name}");
    assert_eq!(store.size(&first).await.unwrap(), Some(11), "{name}");
    assert_eq!(read_all(store, &first).await, b"hello world", "{name}");

    // Writing again replaces the object whole.
    store.put(&first, body(vec![b"second"]), 1000, "text/plain").await.unwrap();
    assert_eq!(read_all(store, &first).await, b"second", "{name}");
    let empty = key("attachments/bb/empty");
    assert_eq!(store.put(&empty, body(vec![]), 1000, "text/plain").await.unwrap().size, 0, "{name}");

    // Past the limit: refused, and nothing is left under the key.
    let big = key("attachments/cc/big");
    let refused = store.put(&big, body(vec![&[7u8; 600], &[8u8; 600]]), 1000, "application/octet-stream").await;
    assert!(matches!(refused, Err(StorageError::TooLarge { limit: 1000 })), "{name}: {refused:?}");
    assert_eq!(store.size(&big).await.unwrap(), None, "{name}");

    let other = key("backups/x");
    store.put(&other, body(vec![b"x"]), 10, "text/plain").await.unwrap();
    assert_eq!(keys(store.list("attachments").await.unwrap()), vec![first.clone(), empty.clone()], "{name}");
    assert!(store.list("attachments").await.unwrap().iter().all(|entry| entry.modified >= before_write), "{name}");
    assert_eq!(keys(store.list("nothing-here").await.unwrap()), Vec::<ObjectKey>::new(), "{name}");

    store.delete(&first).await.unwrap();
    store.delete(&first).await.unwrap();
    assert_eq!(store.size(&first).await.unwrap(), None, "{name}");
    assert!(matches!(store.get(&first).await, Err(StorageError::NotFound(_))), "{name}");
    assert_eq!(keys(store.list("attachments").await.unwrap()), vec![empty], "{name}");
}

fn keys(listed: Vec<Listed>) -> Vec<ObjectKey> {
    listed.into_iter().map(|entry| entry.key).collect()
}

#[test]
fn both_stores_write_whole_measured_objects_and_refuse_the_same_way() {
    let rt = runtime();
    let dir = temp_dir("objects");
    let disk = rt.block_on(Storage::open(&local(&dir))).unwrap();
    rt.block_on(suite(&disk, "local"));
    let unfinished: Vec<_> = std::fs::read_dir(dir.join(".unfinished")).unwrap().collect();
    assert!(unfinished.is_empty(), "a refused write leaves no temporary file behind");
    let _ = std::fs::remove_dir_all(&dir);

    let server = S3Server::start();
    let bucket = rt.block_on(Storage::open(&s3(&server))).unwrap();
    assert!(bucket.describe().contains("bucket outpost-test at http://127.0.0.1:"), "{}", bucket.describe());
    rt.block_on(suite(&bucket, "s3"));
    // Opening again finds the bucket that is now there.
    rt.block_on(Storage::open(&s3(&server))).unwrap();
}

/// The process's resident memory in bytes, from /proc.
fn resident() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// Uploads and reads back 200 MiB made on the fly, and returns the highest resident memory
/// above the start seen meanwhile.
fn stream_200_mib(rt: &tokio::runtime::Runtime, store: &Storage) -> u64 {
    let chunk = |i: u64| Bytes::from(vec![(i % 251) as u8; MIB as usize]);
    let mut expected = Sha256::new();
    (0..200).for_each(|i| expected.update(chunk(i)));
    let expected = hex::encode(expected.finalize());
    let start = resident();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(start));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(resident(), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    let key = key("attachments/big/two-hundred");
    let body: ByteStream = Box::pin(futures_util::stream::iter((0..200).map(move |i| Ok(chunk(i)))));
    let stored = rt.block_on(store.put(&key, body, 300 * MIB, "application/octet-stream")).unwrap();
    assert_eq!((stored.size, stored.sha256.as_str()), (200 * MIB, expected.as_str()));
    let read = rt.block_on(async {
        let mut stream = store.get(&key).await.unwrap();
        let mut digest = Sha256::new();
        while let Some(chunk) = stream.next().await {
            digest.update(chunk.unwrap());
        }
        hex::encode(digest.finalize())
    });
    assert_eq!(read, expected);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    watcher.join().unwrap();
    rt.block_on(store.delete(&key)).unwrap();
    peak.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(start)
}

#[test]
fn a_200_mib_file_streams_through_either_store_in_bounded_memory() {
    let rt = runtime();
    let dir = temp_dir("objects");
    let disk = rt.block_on(Storage::open(&local(&dir))).unwrap();
    let grown = stream_200_mib(&rt, &disk);
    let _ = std::fs::remove_dir_all(&dir);
    // Holding the file would take 200 MiB; streaming takes a chunk or a part at a time (other
    // tests in this process share the measurement, hence the margin).
    assert!(grown < 100 * MIB, "local disk: resident memory grew by {} MiB", grown / MIB);

    let server = S3Server::start();
    let bucket = rt.block_on(Storage::open(&s3(&server))).unwrap();
    let grown = stream_200_mib(&rt, &bucket);
    assert!(grown < 100 * MIB, "s3: resident memory grew by {} MiB", grown / MIB);
}

#[test]
fn an_unreachable_or_refusing_s3_server_is_named_as_such() {
    let rt = runtime();
    let server = S3Server::start();
    let wrong_secret =
        StorageConfig { backend: StorageBackend::S3(s3_settings(&server, "not-the-secret")), max_upload_bytes: MIB };
    let denied = rt.block_on(Storage::open(&wrong_secret)).err().expect("a wrong secret is refused");
    assert!(matches!(denied, StorageError::Denied(_)), "{denied:?}");

    let mut gone = s3_settings(&server, SECRET_KEY);
    gone.endpoint = format!("http://127.0.0.1:{}", crate::support::smtp::free_port());
    let unreachable = StorageConfig { backend: StorageBackend::S3(gone), max_upload_bytes: MIB };
    let error = rt.block_on(Storage::open(&unreachable)).err().expect("nothing listens there");
    assert!(matches!(error, StorageError::Unreachable(_)), "{error:?}");
}

fn check(config_text: &str) -> (bool, String) {
    let path = temp_dir("storage-config").with_extension("toml");
    std::fs::write(&path, config_text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["storage", "check", "--config"])
        .arg(&path)
        .env_remove("OUTPOST_CONFIG")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[test]
fn outpost_storage_check_walks_each_step_and_names_the_one_that_fails() {
    let dir = temp_dir("objects");
    let (ok, text) =
        check(&format!("[database]\nurl = \"postgres://unused\"\n[storage]\nlocal_dir = \"{}\"\n", dir.display()));
    assert!(ok, "{text}");
    for line in [
        "ok: reached local disk at",
        "ok: wrote outpost-check/",
        "ok: read it back unchanged",
        "ok: deleted it",
        "Storage works.",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    let _ = std::fs::remove_dir_all(&dir);

    let server = S3Server::start();
    let s3_config = |secret: &str, port: u16| {
        format!(
            "[database]\nurl = \"postgres://unused\"\n[storage]\nbackend = \"s3\"\ns3_endpoint = \"http://127.0.0.1:{port}\"\n\
             s3_bucket = \"checked\"\ns3_access_key = \"{ACCESS_KEY}\"\ns3_secret_key = \"{secret}\"\n"
        )
    };
    let (ok, text) = check(&s3_config(SECRET_KEY, server.port));
    assert!(
        ok && text.contains("ok: reached bucket checked at http://127.0.0.1:")
            && text.contains("ok: found it in a listing"),
        "{text}"
    );
    let (ok, text) = check(&s3_config("wrong", server.port));
    assert!(!ok && text.contains("Cannot open the object store: the object store refused access"), "{text}");
    let (ok, text) = check(&s3_config(SECRET_KEY, crate::support::smtp::free_port()));
    assert!(!ok && text.contains("Cannot open the object store: the object store cannot be reached"), "{text}");
}

#[test]
fn an_s3_server_behind_tls_from_a_private_ca_is_trusted_with_that_ca_only() {
    let rt = runtime();
    let server = S3Server::start();
    let certificates = Certificates::make();
    let front = TlsFront::start(server.port, &certificates);
    let mut settings = s3_settings(&server, SECRET_KEY);
    settings.endpoint = front.endpoint();
    let config = |settings: &S3Settings| StorageConfig {
        backend: StorageBackend::S3(settings.clone()),
        max_upload_bytes: 100 * MIB,
    };

    // The system's roots do not know the private CA: refused, with the reason in the sentence.
    let refused = rt.block_on(Storage::open(&config(&settings))).err().expect("an unknown CA is refused");
    assert!(refused.to_string().to_lowercase().contains("certificate"), "{refused}");

    settings.ca_file = Some(PathBuf::from(certificates.path("ca.pem")));
    let store = rt.block_on(Storage::open(&config(&settings))).expect("trusted with the CA file");
    rt.block_on(suite(&store, "s3 over tls"));
}
