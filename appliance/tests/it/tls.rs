//! HTTPS served by Outpost itself, checked with a real certificate (made by the openssl
//! command) and a real client (curl) that trusts only that certificate.

use std::path::PathBuf;
use std::process::Command;

use crate::support::TestApp;

struct Certificate {
    dir: PathBuf,
}

impl Certificate {
    /// A self-signed certificate for 127.0.0.1 and localhost, valid for two days.
    fn make() -> Certificate {
        let dir = std::env::temp_dir().join(format!("outpost-tls-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .output()
            .expect("the openssl command must be installed");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        Certificate { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// curl's status line and headers for `url`, trusting only `ca`.
fn curl_head(url: &str, ca: Option<&str>) -> (bool, String) {
    let mut command = Command::new("curl");
    command.args(["-s", "-S", "-D", "-", "-o", "/dev/null", "--max-time", "10"]);
    if let Some(ca) = ca {
        command.args(["--cacert", ca]);
    }
    let output = command.arg(url).output().expect("the curl command must be installed");
    (
        output.status.success(),
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
    )
}

#[test]
fn outpost_serves_https_with_the_configured_certificate() {
    let certificate = Certificate::make();
    let (cert, key) = (certificate.path("cert.pem"), certificate.path("key.pem"));
    let app =
        TestApp::start_with(&[("OUTPOST_SERVER_TLS_CERTIFICATE", &cert), ("OUTPOST_SERVER_TLS_PRIVATE_KEY", &key)]);
    assert!(app.base.starts_with("https://"));

    let (ok, head) = curl_head(&format!("{}/health/live", app.base), Some(&cert));
    assert!(ok && head.starts_with("HTTP/1.1 200"), "{head}");
    let (_, login) = curl_head(&format!("{}/login", app.base), Some(&cert));
    let cookie = login.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie: outpost_login_csrf")).unwrap();
    assert!(cookie.contains("Secure"), "cookies are Secure under TLS: {cookie}");

    let (ok, untrusted) = curl_head(&format!("{}/health/live", app.base), None);
    assert!(!ok, "a client that does not trust the certificate is refused: {untrusted}");
    let (ok, plain) = curl_head(&app.base.replacen("https://", "http://", 1), None);
    assert!(!ok || !plain.contains("200"), "no plain HTTP on the TLS port: {plain}");
}
