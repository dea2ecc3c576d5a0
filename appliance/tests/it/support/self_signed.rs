//! A self-signed server certificate for 127.0.0.1 and localhost, made by the openssl command.

use std::path::PathBuf;
use std::process::Command;

pub struct SelfSigned {
    dir: PathBuf,
}

impl SelfSigned {
    /// Valid from now for `days` days: `cert.pem` and `key.pem` in a folder of its own.
    pub fn make(days: u32) -> SelfSigned {
        let dir = std::env::temp_dir().join(format!("outpost-tls-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .args(["-days", &days.to_string()])
            .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .output()
            .expect("the openssl command must be installed");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        SelfSigned { dir }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for SelfSigned {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
