//! A real SMTP server for the tests: Debian's aiosmtpd, on a free loopback port, storing what
//! it receives in a Maildir the tests read back.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpServer {
    pub port: u16,
    maildir: PathBuf,
    child: Child,
}

/// The interpreter with Debian's python3-aiosmtpd (not a pyenv one that lacks it).
const PYTHON: &str = "/usr/bin/python3";

impl SmtpServer {
    /// Plain SMTP.
    pub fn start() -> SmtpServer {
        Self::spawn(&[])
    }

    /// SMTP that requires STARTTLS with `cert`/`key`.
    pub fn start_tls(cert: &str, key: &str) -> SmtpServer {
        Self::spawn(&["--tlscert", cert, "--tlskey", key])
    }

    fn spawn(extra: &[&str]) -> SmtpServer {
        let port = free_port();
        let maildir = std::env::temp_dir().join(format!("outpost-maildir-{}", rand::random::<u64>()));
        let child = Command::new(PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .args(extra)
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd must be installed (Debian: python3-aiosmtpd)");
        let server = SmtpServer { port, maildir, child };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Every message received so far, raw, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return Vec::new() };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| (e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), e.path()))
            .collect();
        files.sort();
        files.into_iter().map(|(_, path)| std::fs::read_to_string(path).unwrap_or_default()).collect()
    }

    /// Waits up to 10 s for at least `n` messages.
    pub fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let messages = self.messages();
            if messages.len() >= n || Instant::now() > deadline {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A private certificate authority and a certificate it signed for localhost and 127.0.0.1,
/// made by the openssl command, removed on drop.
pub struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    pub fn make() -> Certificates {
        let dir = std::env::temp_dir().join(format!("outpost-ca-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("openssl").current_dir(&dir).args(args).output().expect("openssl must be installed");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        run(&[
            &["req", "-x509"][..],
            &ec,
            &["-days", "2", "-subj", "/CN=Outpost test CA", "-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat());
        run(&[&["req"][..], &ec, &["-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"]].concat());
        std::fs::write(
            dir.join("server.ext"),
            "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ]);
        Certificates { dir }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Settings that send Outpost's mail to `smtp` in plain SMTP, with links to a public URL.
pub fn plain_mail(smtp: &SmtpServer) -> Vec<(String, String)> {
    vec![
        ("OUTPOST_MAIL_SMTP_HOST".to_owned(), "127.0.0.1".to_owned()),
        ("OUTPOST_MAIL_SMTP_PORT".to_owned(), smtp.port.to_string()),
        ("OUTPOST_MAIL_SECURITY".to_owned(), "none".to_owned()),
        ("OUTPOST_MAIL_FROM".to_owned(), "Outpost <outpost@example.test>".to_owned()),
        ("OUTPOST_SERVER_PUBLIC_URL".to_owned(), "https://outpost.example.test".to_owned()),
    ]
}

/// The decoded text of a mail's parts (quoted-printable soft breaks and escapes undone).
pub fn decoded(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let mut out = String::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    let mut pending = Vec::new();
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                pending.push(byte);
                i += 3;
                continue;
            }
        }
        pending.push(bytes[i]);
        i += 1;
    }
    out.push_str(&String::from_utf8_lossy(&pending));
    out
}
