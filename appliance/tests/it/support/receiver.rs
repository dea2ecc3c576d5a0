//! A real HTTP receiver for outgoing webhooks (a Python stdlib server) that checks each
//! request's signature with its own HMAC implementation and logs what it got.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::smtp::free_port;

const RECEIVER: &str = r#"
import hashlib, hmac, json, ssl, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
secret_file, log_path, port, fail_first = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
tls = sys.argv[5:7]
seen = 0
class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        seen += 1
        body = self.rfile.read(int(self.headers['Content-Length']))
        parts = dict(p.split('=', 1) for p in self.headers.get('X-Outpost-Signature', '').split(',') if '=' in p)
        secret = open(secret_file).read().strip().encode()
        expected = hmac.new(secret, parts.get('t', '').encode() + b'.' + body, hashlib.sha256).hexdigest()
        fresh = parts.get('t', '').isdigit() and abs(time.time() - int(parts['t'])) < 300
        valid = hmac.compare_digest(expected, parts.get('v1', '')) and fresh
        with open(log_path, 'a') as log:
            log.write(json.dumps({'valid': valid, 'event': self.headers.get('X-Outpost-Event'), 'path': self.path, 'body': json.loads(body)}) + '\n')
        if self.path == '/redirect':
            self.send_response(302); self.send_header('Location', 'http://169.254.169.254/latest/meta-data'); self.end_headers(); return
        status = 503 if seen <= fail_first else (200 if valid else 401)
        self.send_response(status); self.end_headers(); self.wfile.write(b'busy' if status == 503 else b'thanks')
    def log_message(self, *args): pass
server = HTTPServer(('127.0.0.1', port), Hook)
if tls:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls[0], tls[1])
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"#;

pub struct Receiver {
    scheme: &'static str,
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl Receiver {
    /// Answers 503 to the first `fail_first` requests, then 200 to correctly signed ones.
    pub fn start(fail_first: u32) -> Receiver {
        Self::spawn(fail_first, None)
    }

    /// The same over HTTPS with `certificate` and `key` (PEM files).
    pub fn start_tls(certificate: &str, key: &str) -> Receiver {
        Self::spawn(0, Some((certificate, key)))
    }

    fn spawn(fail_first: u32, tls: Option<(&str, &str)>) -> Receiver {
        let dir = std::env::temp_dir().join(format!("outpost-hook-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("receiver.py"), RECEIVER).unwrap();
        std::fs::write(dir.join("secret"), "not yet").unwrap();
        let port = free_port();
        let child = Command::new("/usr/bin/python3")
            .arg(dir.join("receiver.py"))
            .arg(dir.join("secret"))
            .arg(dir.join("log.jsonl"))
            .arg(port.to_string())
            .arg(fail_first.to_string())
            .args(tls.map(|(certificate, key)| [certificate, key]).into_iter().flatten())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 must be installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the receiver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Receiver { scheme: if tls.is_some() { "https" } else { "http" }, port, dir, child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    pub fn trust(&self, secret: &str) {
        std::fs::write(self.dir.join("secret"), secret).unwrap();
    }

    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("log.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
