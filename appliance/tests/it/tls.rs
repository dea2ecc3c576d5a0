//! HTTPS served by Outpost itself, checked with a real certificate (made by the openssl
//! command) and a real client (curl) that trusts only that certificate.

use std::process::Command;

use crate::support::self_signed::SelfSigned;
use crate::support::TestApp;

/// curl's status line and headers for `url`, trusting only `ca`.
pub fn curl_head(url: &str, ca: Option<&str>) -> (bool, String) {
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
    let certificate = SelfSigned::make(2);
    let (cert, key) = (certificate.path("cert.pem"), certificate.path("key.pem"));
    let app =
        TestApp::start_with(&[("OUTPOST_SERVER_TLS_CERTIFICATE", &cert), ("OUTPOST_SERVER_TLS_PRIVATE_KEY", &key)]);
    assert!(app.base.starts_with("https://"));

    let (ok, head) = curl_head(&format!("{}/health/live", app.base), Some(&cert));
    assert!(ok && head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("strict-transport-security: max-age=31536000"),
        "HSTS under TLS: {head}"
    );
    let (_, login) = curl_head(&format!("{}/login", app.base), Some(&cert));
    let cookie = login.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie: outpost_login_csrf")).unwrap();
    assert!(cookie.contains("Secure"), "cookies are Secure under TLS: {cookie}");

    let (ok, untrusted) = curl_head(&format!("{}/health/live", app.base), None);
    assert!(!ok, "a client that does not trust the certificate is refused: {untrusted}");
    let (ok, plain) = curl_head(&app.base.replacen("https://", "http://", 1), None);
    assert!(!ok || !plain.contains("200"), "no plain HTTP on the TLS port: {plain}");
}

/// `outpost serve` with TLS redirects plain HTTP from its own port, and reloads its certificate
/// on SIGHUP: new connections get the new one, and files that do not load leave the one in use.
#[test]
fn sighup_replaces_the_certificate_without_stopping() {
    let app = TestApp::start();
    let (first, second) = (SelfSigned::make(2), SelfSigned::make(2));
    let served = SelfSigned::make(2);
    let copy = |from: &SelfSigned| {
        for name in ["cert.pem", "key.pem"] {
            std::fs::copy(from.path(name), served.path(name)).unwrap();
        }
    };
    copy(&first);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let index =
        crate::support::TempDir(std::env::temp_dir().join(format!("outpost-tls-index-{}", rand::random::<u64>())));
    let mut server = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["serve", "--config", "/dev/null"])
        .env("OUTPOST_DATABASE_URL", app.config.database.url.clone())
        .env("OUTPOST_SERVER_BIND", format!("127.0.0.1:{port}"))
        .env("OUTPOST_SERVER_TLS_CERTIFICATE", served.path("cert.pem"))
        .env("OUTPOST_SERVER_TLS_PRIVATE_KEY", served.path("key.pem"))
        .env("OUTPOST_SERVER_REDIRECT_HTTP_FROM", format!("127.0.0.1:{plain}"))
        .env("OUTPOST_JOBS_WORKERS", "0")
        .env("OUTPOST_SERVER_USER", "root")
        .env("OUTPOST_SEARCH_INDEX_DIR", index.0.display().to_string())
        .env("OUTPOST_STORAGE_LOCAL_DIR", app.objects.0.display().to_string())
        .env("OUTPOST_KEYS_FILE", app.kek_file())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("https://localhost:{port}/health/live");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !curl_head(&url, Some(&first.path("cert.pem"))).0 {
        assert!(std::time::Instant::now() < deadline, "serve did not answer over TLS");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Plain HTTP on its own port only redirects, to the same path over HTTPS.
    let (_, redirect) = curl_head(&format!("http://127.0.0.1:{plain}/issues/OPS-1?tab=history"), None);
    assert!(redirect.starts_with("HTTP/1.1 308"), "{redirect}");
    assert!(redirect.contains(&format!("location: https://127.0.0.1:{port}/issues/OPS-1?tab=history")), "{redirect}");
    let hangup = || assert!(Command::new("kill").args(["-HUP", &server.id().to_string()]).status().unwrap().success());

    copy(&second);
    hangup();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !curl_head(&url, Some(&second.path("cert.pem"))).0 {
        assert!(std::time::Instant::now() < deadline, "the new certificate was not served after SIGHUP");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!curl_head(&url, Some(&first.path("cert.pem"))).0, "the old certificate is gone");

    // A broken key: the certificate in use stays.
    std::fs::write(served.path("key.pem"), "not a key").unwrap();
    hangup();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (ok, head) = curl_head(&url, Some(&second.path("cert.pem")));
    assert!(ok && head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(server.try_wait().unwrap().is_none(), "still serving");
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let _ = server.wait();
}
