//! Asks the installed service how it is: one HTTP GET on loopback, over TLS when the service
//! has a certificate. The certificate is pinned by its SHA-256 fingerprint (the installer
//! knows which certificate it installed), so a self-signed one is checked, not trusted blindly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// Where the installer puts the service's certificate.
pub const CERTIFICATE: &str = "/etc/outpost/tls/outpost.crt";

/// The SHA-256 fingerprint of the first certificate in a PEM file.
pub fn fingerprint(pem_file: &Path) -> Result<[u8; 32], String> {
    let first = CertificateDer::pem_file_iter(pem_file)
        .map_err(|e| format!("Cannot read the certificate {}: {e}.", pem_file.display()))?
        .next()
        .ok_or_else(|| format!("{} holds no PEM certificate.", pem_file.display()))?
        .map_err(|e| format!("Cannot read the certificate {}: {e}.", pem_file.display()))?;
    Ok(Sha256::digest(first.as_ref()).into())
}

/// As browsers show it: AA:BB:…
pub fn shown(fingerprint: &[u8; 32]) -> String {
    fingerprint.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The status and body of `GET path` on loopback `port`, over TLS pinned to `pin` when given.
pub fn get(port: u16, path: &str, pin: Option<[u8; 32]>) -> Result<(u16, String), String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let tcp = TcpStream::connect_timeout(&address, Duration::from_secs(3))
        .map_err(|e| format!("Nothing answers on {address}: {e}."))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let mut response = Vec::new();
    match pin {
        None => exchange(tcp, &request, &mut response)?,
        Some(fingerprint) => {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned { fingerprint, provider }))
                .with_no_client_auth();
            let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
            let connection = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
            exchange(rustls::StreamOwned::new(connection, tcp), &request, &mut response)?;
        }
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("The answer on port {port} is not HTTP."))?;
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    Ok((status, body))
}

fn exchange(mut stream: impl Read + Write, request: &str, response: &mut Vec<u8>) -> Result<(), String> {
    stream.write_all(request.as_bytes()).map_err(|e| format!("Cannot send the request: {e}."))?;
    match stream.read_to_end(response) {
        Ok(_) => Ok(()),
        // A server may close without TLS's close_notify once it has answered.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => Ok(()),
        Err(e) => Err(format!("No answer: {e}.")),
    }
}

/// Is the service on `port` this machine's Outpost (a second run of the installer finds its
/// ports taken by the service the first run started)?
pub fn is_outpost(port: u16) -> bool {
    let pin = fingerprint(Path::new(CERTIFICATE)).ok();
    matches!(get(port, "/health/live", pin), Ok((200, body)) if body.contains("\"live\""))
}

/// Polls `/health/ready` until it answers 200 or `patience` runs out; the last answer on failure.
pub fn wait_ready(port: u16, pin: Option<[u8; 32]>, patience: Duration) -> Result<(), String> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        let last = match get(port, "/health/ready", pin) {
            Ok((200, _)) => return Ok(()),
            Ok((status, body)) => format!("it answered {status}: {}", body.trim()),
            Err(e) => e,
        };
        if std::time::Instant::now() >= deadline {
            return Err(format!(
                "Outpost did not become ready on port {port} within {} seconds; the last check: {last}",
                patience.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[derive(Debug)]
struct Pinned {
    fingerprint: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if presented == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the service presented certificate {}, not the installed one {}",
                shown(&presented),
                shown(&self.fingerprint)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
