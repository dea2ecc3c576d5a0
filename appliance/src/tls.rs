//! HTTPS: when a certificate and key are configured, Outpost serves TLS itself (rustls with
//! the ring provider; TLS 1.2 and 1.3 only). The certificate can be replaced while serving:
//! `SIGHUP` re-reads the files, and new connections get the new certificate while open ones
//! carry on.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The PEM files of a configured certificate.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

/// Reads and checks the files; each problem names its configuration key.
fn certified_key(files: &TlsFiles) -> Result<CertifiedKey, Vec<String>> {
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
    CertifiedKey::from_der(certificates, key, &rustls::crypto::ring::default_provider())
        .map_err(|e| vec![format!("server.tls_private_key: does not fit the certificate or is not supported: {e}")])
}

/// The certificate being served, replaceable while serving.
#[derive(Debug)]
pub struct ServedCertificate {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ServedCertificate {
    /// Re-reads the files; on a problem the certificate in use stays, and the problem is said.
    pub fn reload(&self) -> Result<(), Vec<String>> {
        let fresh = Arc::new(certified_key(&self.files)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }
}

/// What the administrator needs to know of the certificate being served.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CertificateFacts {
    pub subject: String,
    pub issuer: String,
    /// The DNS names and addresses it is valid for.
    pub names: Vec<String>,
    pub not_after: chrono::DateTime<chrono::Utc>,
    /// The file it was read from.
    pub file: String,
}

impl ServedCertificate {
    /// The facts of the certificate being served (not of the files, which may have changed
    /// since the last reload).
    pub fn facts(&self) -> Result<CertificateFacts, String> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner()).clone();
        let der = current.end_entity_cert().map_err(|e| format!("no certificate is served: {e}"))?;
        facts_of(der.as_ref(), &self.files.certificate.display().to_string())
    }
}

/// What a DER certificate says, read from `file`.
pub fn facts_of(der: &[u8], file: &str) -> Result<CertificateFacts, String> {
    let (_, certificate) =
        x509_parser::parse_x509_certificate(der).map_err(|e| format!("the certificate cannot be read: {e}"))?;
    let not_after = chrono::DateTime::from_timestamp(certificate.validity().not_after.timestamp(), 0)
        .ok_or("the certificate's expiry is out of range")?;
    let names = certificate
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|extension| extension.value.general_names.iter().map(general_name).collect())
        .unwrap_or_default();
    Ok(CertificateFacts {
        subject: certificate.subject().to_string(),
        issuer: certificate.issuer().to_string(),
        names,
        not_after,
        file: file.to_owned(),
    })
}

/// A subject alternative name as a person writes it: a host name, or an address.
fn general_name(name: &x509_parser::extensions::GeneralName<'_>) -> String {
    use x509_parser::extensions::GeneralName;
    match name {
        GeneralName::DNSName(host) => (*host).to_owned(),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*bytes).unwrap_or_default()).to_string(),
            16 => std::net::IpAddr::from(<[u8; 16]>::try_from(*bytes).unwrap_or_default()).to_string(),
            _ => hex::encode(bytes),
        },
        other => other.to_string(),
    }
}

impl ResolvesServerCert for ServedCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// The TLS settings, and the certificate they serve (to reload on `SIGHUP`).
pub fn server_config(files: &TlsFiles) -> Result<(rustls::ServerConfig, Arc<ServedCertificate>), Vec<String>> {
    let served =
        Arc::new(ServedCertificate { files: files.clone(), current: RwLock::new(Arc::new(certified_key(files)?)) });
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| vec![format!("server.tls_certificate: {e}")])?
        .with_no_client_auth()
        .with_cert_resolver(served.clone());
    Ok((config, served))
}

/// What Outpost trusts as a client (webhook targets, the LDAP directory, the single sign-on
/// provider): the public roots, plus the certificate authorities in `ca_file`, the
/// on-premises CA that signed an internal service's certificate.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_file {
        let (added, _) = roots.add_parsable_certificates(read_certificates(path)?);
        if added == 0 {
            return Err(format!("{} holds no usable CA certificate", path.display()));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
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
