//! HTTPS: when a certificate and key are configured, Outpost serves TLS itself (rustls with
//! the ring provider; TLS 1.2 and 1.3 only).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The PEM files of a configured certificate.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

/// Reads and checks the files; each problem names its configuration key.
pub fn server_config(files: &TlsFiles) -> Result<rustls::ServerConfig, Vec<String>> {
    let certificates = read_certificates(&files.certificate).map_err(|e| vec![format!("server.tls_certificate: {e}")]);
    let key = PrivateKeyDer::from_pem_file(&files.private_key).map_err(|e| {
        vec![format!("server.tls_private_key: {} holds no usable PEM private key ({e})", files.private_key.display())]
    });
    let (certificates, key) = match (certificates, key) {
        (Ok(certificates), Ok(key)) => (certificates, key),
        (certificates, key) => {
            return Err([certificates.err(), key.err()].into_iter().flatten().flatten().collect());
        }
    };
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(certificates, key))
        .map_err(|e| vec![format!("server.tls_private_key: does not fit the certificate or is not supported: {e}")])
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certificates)
}
