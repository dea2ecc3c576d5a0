//! The license file: a canonical JSON payload signed with the vendor's ed25519 key, armoured
//! as text an administrator can paste into a form or drop into `/etc/outpost/`:
//!
//! ```text
//! -----BEGIN OUTPOST LICENSE-----
//! Key: outpost-2026
//! eyJ2ZXJzaW9uIjoxLCJsaWNlbnNlX2lkIjoi…   (the payload, base64, 64 characters a line)
//! Signature: 3q2+7w…                      (ed25519 over the payload's exact bytes, base64)
//! -----END OUTPOST LICENSE-----
//! ```
//!
//! Verification is offline: the signature against the embedded vendor key the `Key` line
//! names, then the payload's version, canonical form and dates. Every refusal says which check
//! failed, in one sentence.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::vendor_keys::VendorKey;

const BEGIN: &str = "-----BEGIN OUTPOST LICENSE-----";
const END: &str = "-----END OUTPOST LICENSE-----";
/// The payload versions this Outpost understands.
pub const VERSION: u32 = 1;

/// What a license grants. Field order is the canonical order: the payload is exactly
/// `serde_json::to_vec` of this struct, and a payload in any other form is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub version: u32,
    pub license_id: String,
    pub customer_id: String,
    pub customer_name: String,
    /// `enterprise`, `business`, …; shown, not interpreted: `features` decide.
    pub edition: String,
    pub issued_at: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Active people (service accounts do not count).
    pub seats: u32,
    pub features: Vec<String>,
    /// When set, only the installation with this id accepts the license.
    pub installation_id: Option<String>,
}

/// Why a license text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("This is not an Outpost license: {0}")]
    Armour(String),
    #[error("The license was signed with key “{0}”, which this version of Outpost does not know.")]
    UnknownKey(String),
    #[error("The license's signature does not match its contents: it was changed after it was signed, or signed by someone else.")]
    BadSignature,
    #[error("The license's contents cannot be read: {0}")]
    Payload(String),
    #[error("The license has version {0}, which this version of Outpost does not understand; upgrade Outpost or ask for a version {VERSION} license.")]
    UnknownVersion(u32),
    #[error("The license is valid only from {0} (UTC); its start date is in the future.")]
    NotYetValid(String),
    #[error("The license expired on {0} (UTC).")]
    Expired(String),
    #[error("The license is for installation {licensed}, and this is installation {this}.")]
    OtherInstallation { licensed: String, this: String },
}

/// A license whose signature checked out, with its armoured text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct License {
    pub payload: Payload,
    pub key_id: String,
    pub text: String,
}

/// Signs `payload` with `key` (named `key_id`) and armours it: what `outpost-license issue`
/// writes.
pub fn sign(payload: &Payload, key_id: &str, key: &SigningKey) -> String {
    let bytes = canonical(payload);
    let signature = key.sign(&bytes);
    let encoded = BASE64.encode(&bytes);
    let mut text = format!("{BEGIN}\nKey: {key_id}\n");
    for line in encoded.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str(&format!("Signature: {}\n{END}\n", BASE64.encode(signature.to_bytes())));
    text
}

fn canonical(payload: &Payload) -> Vec<u8> {
    // Serializing a struct of plain fields cannot fail.
    serde_json::to_vec(payload).unwrap_or_default()
}

/// Checks the armour, the signature against `keys` and the payload's form and version; dates
/// and installation are `check_dates`' and `check_installation`'s.
pub fn verify(text: &str, keys: &[VendorKey]) -> Result<License, Refusal> {
    let armour = |why: &str| Refusal::Armour(why.to_owned());
    let text = text.trim();
    let inner = text
        .strip_prefix(BEGIN)
        .ok_or_else(|| armour("it does not start with “-----BEGIN OUTPOST LICENSE-----”."))?
        .strip_suffix(END)
        .ok_or_else(|| armour("it does not end with “-----END OUTPOST LICENSE-----”."))?;
    // Strict about the armour, so that no change to the file goes unnoticed; only line ends
    // may be Windows ones (a browser's form sends those).
    let inner = inner.replace("\r\n", "\n");
    let inner = inner
        .strip_prefix('\n')
        .and_then(|inner| inner.strip_suffix('\n'))
        .ok_or_else(|| armour("its first and last lines must stand alone."))?;
    let lines: Vec<&str> = inner.split('\n').collect();
    if lines.iter().any(|line| line.is_empty() || line.trim() != *line) {
        return Err(armour("it has an empty line, or a line with spaces around it."));
    }
    let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
        return Err(armour("it is empty between its first and last lines."));
    };
    let key_id = first.strip_prefix("Key: ").ok_or_else(|| armour("its first line must be “Key: …”."))?;
    let signature = last.strip_prefix("Signature: ").ok_or_else(|| armour("its last line must be “Signature: …”."))?;
    if lines.len() < 3 {
        return Err(armour("it holds no contents between its key and its signature."));
    }
    let body: String = lines[1..lines.len() - 1].concat();
    let bytes = BASE64.decode(body.as_bytes()).map_err(|_| armour("its contents are not base64."))?;
    let signature = BASE64
        .decode(signature.as_bytes())
        .ok()
        .and_then(|raw| <[u8; 64]>::try_from(raw.as_slice()).ok())
        .map(|raw| Signature::from_bytes(&raw))
        .ok_or_else(|| armour("its signature is not 64 bytes of base64."))?;
    let key = keys.iter().find(|key| key.id == key_id).ok_or_else(|| Refusal::UnknownKey(key_id.to_owned()))?;
    let verifying = VerifyingKey::from_bytes(&key.public).map_err(|_| Refusal::UnknownKey(key_id.to_owned()))?;
    verifying.verify_strict(&bytes, &signature).map_err(|_| Refusal::BadSignature)?;
    // Signed, so written by the vendor's tool: an older or newer tool's form still says which.
    let version = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|value| value.get("version").and_then(serde_json::Value::as_u64))
        .ok_or_else(|| Refusal::Payload("it has no version.".to_owned()))?;
    if version != u64::from(VERSION) {
        return Err(Refusal::UnknownVersion(u32::try_from(version).unwrap_or(u32::MAX)));
    }
    let payload: Payload = serde_json::from_slice(&bytes).map_err(|e| Refusal::Payload(format!("{e}.")))?;
    if canonical(&payload) != bytes {
        return Err(Refusal::Payload("it is not in canonical form.".to_owned()));
    }
    Ok(License { payload, key_id: key_id.to_owned(), text: format!("{text}\n") })
}

/// Refuses a license whose start is in the future. Expiry is not a refusal here: an expired
/// license still decides the grace period and read-only mode (see `status`).
pub fn check_not_before(license: &License, now: DateTime<Utc>) -> Result<(), Refusal> {
    if license.payload.not_before > now {
        return Err(Refusal::NotYetValid(day_and_time(license.payload.not_before)));
    }
    Ok(())
}

/// Refuses a license bound to another installation.
pub fn check_installation(license: &License, this: &str) -> Result<(), Refusal> {
    match &license.payload.installation_id {
        Some(licensed) if licensed != this => {
            Err(Refusal::OtherInstallation { licensed: licensed.clone(), this: this.to_owned() })
        }
        _ => Ok(()),
    }
}

pub fn day_and_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn key() -> (SigningKey, VendorKey) {
        let signing = SigningKey::from_bytes(&[7u8; 32]);
        let public = signing.verifying_key().to_bytes();
        (signing, VendorKey { id: "test-1".into(), public })
    }

    fn payload() -> Payload {
        let now = Utc::now();
        Payload {
            version: VERSION,
            license_id: "L-1".into(),
            customer_id: "C-9".into(),
            customer_name: "Example Corp".into(),
            edition: "enterprise".into(),
            issued_at: now,
            not_before: now - Duration::days(1),
            expires_at: now + Duration::days(365),
            seats: 50,
            features: vec!["ldap".into(), "sso".into()],
            installation_id: None,
        }
    }

    #[test]
    fn a_signed_license_verifies_and_reads_back() {
        let (signing, public) = key();
        let text = sign(&payload(), "test-1", &signing);
        let license = verify(&text, &[public]).unwrap();
        assert_eq!(license.payload, payload_like(&license.payload));
        assert_eq!(license.key_id, "test-1");
        assert!(text.lines().all(|line| line.len() <= 100), "{text}");
    }

    fn payload_like(p: &Payload) -> Payload {
        Payload { issued_at: p.issued_at, not_before: p.not_before, expires_at: p.expires_at, ..payload() }
    }

    #[test]
    fn any_single_bit_changed_anywhere_is_refused() {
        let (signing, public) = key();
        let text = sign(&payload(), "test-1", &signing);
        let keys = [public];
        let bytes = text.as_bytes();
        for index in 0..bytes.len() {
            for bit in 0..8 {
                let mut changed = bytes.to_vec();
                changed[index] ^= 1 << bit;
                let Ok(changed) = String::from_utf8(changed) else { continue };
                // Whitespace around the armour is not part of it.
                if changed.trim() == text.trim() {
                    continue;
                }
                assert!(verify(&changed, &keys).is_err(), "byte {index} bit {bit} changed and still verified");
            }
        }
    }

    #[test]
    fn each_refusal_says_which_check_failed() {
        let (signing, public) = key();
        let keys = [public];
        let good = sign(&payload(), "test-1", &signing);
        assert_eq!(
            verify("hello", &keys).unwrap_err().to_string(),
            "This is not an Outpost license: it does not start with “-----BEGIN OUTPOST LICENSE-----”."
        );
        let other = SigningKey::from_bytes(&[9u8; 32]);
        let wrong_key = sign(&payload(), "test-1", &other);
        assert_eq!(verify(&wrong_key, &keys).unwrap_err(), Refusal::BadSignature);
        let unknown = sign(&payload(), "test-2", &signing);
        assert_eq!(verify(&unknown, &keys).unwrap_err(), Refusal::UnknownKey("test-2".into()));
        let newer = sign(&Payload { version: 2, ..payload() }, "test-1", &signing);
        assert_eq!(verify(&newer, &keys).unwrap_err(), Refusal::UnknownVersion(2));
        let future = Payload { not_before: Utc::now() + Duration::days(2), ..payload() };
        let license = verify(&sign(&future, "test-1", &signing), &keys).unwrap();
        assert!(matches!(check_not_before(&license, Utc::now()), Err(Refusal::NotYetValid(_))));
        let bound = Payload { installation_id: Some("abc".into()), ..payload() };
        let license = verify(&sign(&bound, "test-1", &signing), &keys).unwrap();
        assert_eq!(
            check_installation(&license, "def").unwrap_err().to_string(),
            "The license is for installation abc, and this is installation def."
        );
        assert!(check_installation(&license, "abc").is_ok());
        let cut = good.replace("-----END OUTPOST LICENSE-----", "");
        assert!(matches!(verify(&cut, &keys), Err(Refusal::Armour(_))));
    }
}
