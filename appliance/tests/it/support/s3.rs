//! A real S3-compatible server for the tests: `s3s-fs` (crates.io; `.ci/run` installs it with
//! `cargo install s3s-fs --version 0.14.1 --locked --features binary`), on a free loopback
//! port, keeping its objects in a temporary folder.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::smtp::{free_port, Certificates};

pub const ACCESS_KEY: &str = "outpost-test";
pub const SECRET_KEY: &str = "outpost-test-secret";

pub struct S3Server {
    pub port: u16,
    root: PathBuf,
    child: Child,
}

/// `OUTPOST_S3S_FS`, else `s3s-fs` on the PATH, else the one `cargo install` put in ~/.cargo/bin.
fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("OUTPOST_S3S_FS") {
        return PathBuf::from(path);
    }
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"));
    let installed = home.join("bin/s3s-fs");
    if installed.exists() {
        installed
    } else {
        PathBuf::from("s3s-fs")
    }
}

impl S3Server {
    pub fn start() -> S3Server {
        let port = free_port();
        let root = std::env::temp_dir().join(format!("outpost-s3-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&root).unwrap();
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs must be installed: cargo install s3s-fs --version 0.14.1 --locked --features binary");
        let server = S3Server { port, root, child };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// TLS in front of a loopback server, as an on-prem MinIO behind a private CA would have it:
/// `socat` terminates TLS with the certificate `Certificates` made and forwards the bytes
/// unchanged, so the S3 requests and their signatures are the real ones.
pub struct TlsFront {
    pub port: u16,
    child: Child,
}

impl TlsFront {
    pub fn start(target_port: u16, certificates: &Certificates) -> TlsFront {
        let port = free_port();
        let listen = format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={},key={}",
            certificates.path("server.pem"),
            certificates.path("server.key")
        );
        let child = Command::new("socat")
            .args([listen, format!("TCP:127.0.0.1:{target_port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat must be installed (Debian: apt-get install socat)");
        let front = TlsFront { port, child };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "socat did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        front
    }

    pub fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
