//! The three things an installation's trust rests on, each checked with the appliance's own
//! code before anything depends on it: the license, the customer-managed key, the certificate.

use std::path::{Path, PathBuf};

use outpost::config::{KeyProviderConfig, KeysConfig};
use outpost::keys::providers::{FileKek, Keks};
use outpost::license::{signed, vendor_keys};
use outpost::tls::{self, TlsFiles};

use crate::answers::{Answers, Keys};
use crate::host::{self, write_atomically, Host, Owner, SERVICE_USER};
use crate::probe;

pub const LICENSE_FILE: &str = "/etc/outpost/license";
pub const TLS_FOLDER: &str = "/etc/outpost/tls";
pub const PRIVATE_KEY: &str = "/etc/outpost/tls/outpost.key";

/// Root owns, the service's group reads. A dry run on a machine without the group yet plans
/// with root's group: nothing is written in a dry run.
pub fn service_readable(host: &Host) -> Result<Owner, String> {
    match host::group_id(SERVICE_USER) {
        Ok(gid) => Ok(Owner { uid: 0, gid }),
        Err(_) if host.dry_run => Ok(Owner::ROOT),
        Err(e) => Err(e),
    }
}

/// Checks the license with the appliance's verification; what it grants, or why not.
pub fn check_license(answers: &Answers) -> Result<String, String> {
    let Some(file) = &answers.license.file else {
        return Ok("evaluation mode: every feature for up to 25 people, until a license is installed".to_owned());
    };
    let text =
        std::fs::read_to_string(file).map_err(|e| format!("license.file: cannot read {}: {e}.", file.display()))?;
    let refuse = |why: String| {
        format!("license.file: {why} Ask the vendor for a valid license, or set license.evaluation = true to install in evaluation mode.")
    };
    let license = signed::verify(&text, &vendor_keys::trusted()).map_err(|e| refuse(e.to_string()))?;
    let now = chrono::Utc::now();
    signed::check_not_before(&license, now).map_err(|e| refuse(e.to_string()))?;
    if license.payload.expires_at < now {
        return Err(refuse(format!("The license expired on {}.", signed::day_and_time(license.payload.expires_at))));
    }
    let payload = &license.payload;
    Ok(format!(
        "{} license for {}, {} people, until {}",
        payload.edition,
        payload.customer_name,
        payload.seats,
        payload.expires_at.format("%Y-%m-%d")
    ))
}

/// Checks the license, then puts it where the service reads it.
pub fn license(host: &Host, answers: &Answers) -> Result<String, String> {
    let summary = check_license(answers)?;
    let Some(file) = &answers.license.file else {
        return Ok(summary);
    };
    let text =
        std::fs::read_to_string(file).map_err(|e| format!("license.file: cannot read {}: {e}.", file.display()))?;
    if std::fs::read_to_string(LICENSE_FILE).ok().as_deref() == Some(text.as_str()) {
        host.kept(&format!("license in {LICENSE_FILE}"));
    } else {
        host.change(&format!("put the license in {LICENSE_FILE}"), || {
            write_atomically(Path::new(LICENSE_FILE), text.as_bytes(), service_readable(host)?, 0o640)
        })?;
    }
    Ok(summary)
}

/// The configuration's view of the answers' key provider.
pub fn keys_config(keys: &Keys) -> KeysConfig {
    let current = match keys {
        Keys::File { file } => KeyProviderConfig::File { path: file.clone() },
        Keys::Pkcs11 { module, token, pin_file, key } => KeyProviderConfig::Pkcs11 {
            module: module.clone(),
            token_label: token.clone(),
            pin_file: pin_file.clone(),
            key_label: key.clone(),
        },
        Keys::Command { command, key_id } => {
            KeyProviderConfig::Command { program: command.clone(), key_id: key_id.clone() }
        }
    };
    KeysConfig { current, previous: Vec::new() }
}

/// Makes the key file when the provider is `file` and there is none (an existing key is never
/// replaced: data may depend on it), then proves the key with a wrap and unwrap round trip.
pub fn customer_key(host: &Host, keys: &Keys) -> Result<String, String> {
    match keys {
        Keys::File { file } if file.exists() => host.kept(&format!("key file {}", file.display())),
        Keys::File { file } => host.change(&format!("create a new key file {} (mode 0600)", file.display()), || {
            if let Some(folder) = file.parent() {
                std::fs::create_dir_all(folder).map_err(|e| format!("Cannot create {}: {e}.", folder.display()))?;
            }
            FileKek::create(file).map_err(|e| format!("keys.file: {e}"))?;
            let account = host::account(SERVICE_USER)?;
            host::set_owner_and_mode(file, Owner { uid: account.uid, gid: account.gid }, 0o600)
        })?,
        Keys::Pkcs11 { pin_file, .. } => readable_by_service(host, pin_file, "keys.pin_file")?,
        Keys::Command { .. } => {}
    }
    if host.dry_run && matches!(keys, Keys::File { file } if !file.exists()) {
        return Ok("a new key file (its round trip is tried when it exists)".to_owned());
    }
    let opened = Keks::open(&keys_config(keys)).map_err(|e| {
        let field = match keys {
            Keys::File { .. } => "keys.file",
            Keys::Pkcs11 { .. } => "keys (pkcs11)",
            Keys::Command { .. } => "keys.command",
        };
        format!("{field}: the key failed its wrap and unwrap round trip: {e}. Nothing depends on it yet: fix it and run the installer again.")
    })?;
    Ok(format!("key {} wraps and unwraps", opened.current.id()))
}

/// The service reads the HSM's PIN file: it must be the service group's to read, and no one
/// else's.
fn readable_by_service(host: &Host, path: &Path, field: &str) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let wanted = service_readable(host)?;
    let metadata = std::fs::metadata(path).map_err(|e| format!("{field}: cannot read {}: {e}.", path.display()))?;
    if metadata.gid() == wanted.gid && metadata.mode() & 0o077 == 0o040 {
        host.kept(&format!("{} readable by group {SERVICE_USER} only", path.display()));
        return Ok(());
    }
    host.change(&format!("let group {SERVICE_USER} read {} (mode 0640)", path.display()), || {
        host::set_owner_and_mode(path, Owner { uid: metadata.uid(), gid: wanted.gid }, 0o640)
    })
}

/// The certificate the service will present: the one given (checked as the service will load
/// it), or a self-signed one for the host name, made once and then kept. Its fingerprint.
pub fn certificate(host: &Host, answers: &Answers) -> Result<String, String> {
    let certificate = PathBuf::from(probe::CERTIFICATE);
    let private_key = PathBuf::from(PRIVATE_KEY);
    let readable = service_readable(host)?;
    let folder = Path::new(TLS_FOLDER);
    if !host::folder_is(folder, readable, 0o750) {
        host.change(&format!("create {TLS_FOLDER} (root:{SERVICE_USER}, 0750)"), || {
            host::make_folder(folder, readable, 0o750)
        })?;
    }
    match (&answers.tls.certificate, &answers.tls.private_key) {
        (Some(given_certificate), Some(given_key)) => {
            tls::server_config(&TlsFiles { certificate: given_certificate.clone(), private_key: given_key.clone() })
                .map_err(|problems| {
                    problems
                        .join(" ")
                        .replace("server.tls_certificate", "tls.certificate")
                        .replace("server.tls_private_key", "tls.private_key")
                })?;
            for (from, to, mode) in [(given_certificate, &certificate, 0o644), (given_key, &private_key, 0o640)] {
                let bytes = std::fs::read(from).map_err(|e| format!("Cannot read {}: {e}.", from.display()))?;
                if std::fs::read(to).ok().as_deref() == Some(bytes.as_slice()) {
                    host.kept(&format!("{}", to.display()));
                } else {
                    host.change(&format!("put {} in {}", from.display(), to.display()), || {
                        write_atomically(to, &bytes, readable, mode)
                    })?;
                }
            }
        }
        _ if names(&certificate).contains(&answers.server.hostname) => {
            host.kept(&format!("certificate for {} in {}", answers.server.hostname, certificate.display()));
        }
        _ => host.change(&format!("make a self-signed certificate for {}", answers.server.hostname), || {
            let (pem, key) = self_signed(&answers.server.hostname)?;
            write_atomically(&private_key, key.as_bytes(), readable, 0o640)?;
            write_atomically(&certificate, pem.as_bytes(), readable, 0o644)
        })?,
    }
    if host.dry_run && !certificate.exists() {
        return Ok("(made during the install)".to_owned());
    }
    Ok(probe::shown(&probe::fingerprint(&certificate)?))
}

/// A certificate for `hostname` (and localhost, for the checks on this machine), valid for
/// 825 days, the longest browsers accept.
pub fn self_signed(hostname: &str) -> Result<(String, String), String> {
    let mut parameters = rcgen::CertificateParams::new(vec![hostname.to_owned(), "localhost".to_owned()])
        .map_err(|e| format!("server.hostname: cannot be put in a certificate: {e}."))?;
    parameters.subject_alt_names.push(rcgen::SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    parameters.distinguished_name.push(rcgen::DnType::CommonName, hostname);
    parameters.distinguished_name.push(rcgen::DnType::OrganizationName, "Outpost (self-signed by the installer)");
    // A day's slack for a client whose clock is a little behind.
    parameters.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    parameters.not_after = parameters.not_before + time::Duration::days(825);
    let key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| format!("Cannot make a key: {e}."))?;
    let certificate = parameters.self_signed(&key).map_err(|e| format!("Cannot sign the certificate: {e}."))?;
    Ok((certificate.pem(), key.serialize_pem()))
}

/// The DNS names a certificate file is for.
fn names(pem_file: &Path) -> Vec<String> {
    use rustls::pki_types::pem::PemObject;
    let Ok(Some(Ok(der))) = rustls::pki_types::CertificateDer::pem_file_iter(pem_file).map(|mut i| i.next()) else {
        return Vec::new();
    };
    outpost::tls::facts_of(der.as_ref(), &pem_file.display().to_string()).map(|facts| facts.names).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("outpost-installer-trust-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn run(program: &str, args: &[&str]) {
        let output = Command::new(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program} (Debian: apt-get install softhsm2 opensc): {e}"));
        assert!(output.status.success(), "{program}: {}", String::from_utf8_lossy(&output.stderr));
    }

    #[test]
    fn a_key_is_proven_before_use_and_a_wrong_hsm_pin_or_damaged_key_file_is_refused() {
        // A real SoftHSM2 token, in a token folder of this test's own.
        let dir = temp_dir();
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!("directories.tokendir = {}\nobjectstore.backend = file\n", dir.join("tokens").display()),
        )
        .unwrap();
        // Only this test in this binary uses an HSM.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        run("softhsm2-util", &["--init-token", "--free", "--label", "installer", "--pin", "1234", "--so-pin", "5678"]);
        // A dry run plans the PIN file's mode and still tries the key.
        let host = Host::new(true);
        let pin_file = dir.join("pin");
        std::fs::write(&pin_file, "1234\n").unwrap();
        let hsm = |pin_file: &Path| Keys::Pkcs11 {
            module: PathBuf::from(MODULE),
            token: "installer".to_owned(),
            pin_file: pin_file.to_owned(),
            key: "kek".to_owned(),
        };
        // The right PIN signs in; the token has no key yet, and the refusal says so (the appliance's
        // own tests make one and use it).
        let refusal = customer_key(&host, &hsm(&pin_file)).unwrap_err();
        assert!(refusal.contains("token “installer” has no secret key labelled “kek”"), "{refusal}");

        let wrong = dir.join("wrong-pin");
        std::fs::write(&wrong, "9999\n").unwrap();
        let refusal = customer_key(&host, &hsm(&wrong)).unwrap_err();
        assert!(refusal.starts_with("keys (pkcs11): the key failed its wrap and unwrap round trip"), "{refusal}");
        assert!(refusal.contains("is the PIN right?"), "{refusal}");

        let damaged = dir.join("kek");
        std::fs::write(&damaged, "not a key").unwrap();
        let refusal = customer_key(&host, &Keys::File { file: damaged }).unwrap_err();
        assert!(refusal.starts_with("keys.file: the key failed its wrap and unwrap round trip"), "{refusal}");
        assert!(refusal.contains("run the installer again"), "{refusal}");

        let planned = customer_key(&host, &Keys::File { file: dir.join("new-kek") }).unwrap();
        assert!(planned.starts_with("a new key file"), "{planned}");
        assert!(!dir.join("new-kek").exists(), "a dry run made the key file");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_self_signed_certificate_names_the_host_and_localhost_and_lasts_825_days() {
        let (pem, key) = self_signed("outpost.example.org").unwrap();
        assert!(key.contains("PRIVATE KEY"));
        let dir = temp_dir();
        std::fs::write(dir.join("c.pem"), &pem).unwrap();
        assert_eq!(names(&dir.join("c.pem")), ["outpost.example.org", "localhost", "127.0.0.1"]);
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let facts = outpost::tls::facts_of(der.as_ref(), "c.pem").unwrap();
        let days = (facts.not_after - chrono::Utc::now()).num_days();
        assert!((822..=825).contains(&days), "{days}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
