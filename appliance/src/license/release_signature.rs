//! Signatures over release files (the installer ISO's SHA256SUMS, a package for an upgrade),
//! made with the same vendor keys as licenses, so that a customer's machine trusts exactly the
//! keys it already trusts for licenses. The signature file is two lines:
//!
//! ```text
//! Key: outpost-2026
//! Signature: 3q2+7w…   (ed25519 over the file's exact bytes, base64)
//! ```

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::vendor_keys::VendorKey;

/// The signature file's text for `bytes`.
pub fn sign(bytes: &[u8], key_id: &str, key: &SigningKey) -> String {
    format!("Key: {key_id}\nSignature: {}\n", BASE64.encode(key.sign(bytes).to_bytes()))
}

/// Checks `signature` (a signature file's text) over `bytes` against `keys`; the key's id, or
/// one sentence saying why not.
pub fn verify(bytes: &[u8], signature: &str, keys: &[VendorKey]) -> Result<String, String> {
    let mut lines = signature.lines();
    let key_id = lines
        .next()
        .and_then(|line| line.strip_prefix("Key: "))
        .ok_or("The signature file does not start with “Key: …”.")?;
    let encoded = lines
        .next()
        .and_then(|line| line.strip_prefix("Signature: "))
        .ok_or("The signature file's second line is not “Signature: …”.")?;
    let signature = BASE64
        .decode(encoded.trim())
        .ok()
        .and_then(|raw| <[u8; 64]>::try_from(raw.as_slice()).ok())
        .map(|raw| Signature::from_bytes(&raw))
        .ok_or("The signature is not 64 bytes of base64.")?;
    let key = keys
        .iter()
        .find(|key| key.id == key_id)
        .ok_or_else(|| format!("The files were signed with key “{key_id}”, which this installer does not know."))?;
    let verifying = VerifyingKey::from_bytes(&key.public).map_err(|_| format!("Key “{key_id}” is not a valid key."))?;
    verifying.verify_strict(bytes, &signature).map_err(|_| {
        "The signature does not match: the files were changed after they were signed, or signed by someone else."
            .to_owned()
    })?;
    Ok(key_id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_checks_out_and_any_change_or_unknown_key_is_refused() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let trusted = vec![VendorKey { id: "test".to_owned(), public: key.verifying_key().to_bytes() }];
        let signature = sign(b"abc  outpost.deb\n", "test", &key);
        assert_eq!(verify(b"abc  outpost.deb\n", &signature, &trusted).unwrap(), "test");
        let changed = verify(b"abd  outpost.deb\n", &signature, &trusted).unwrap_err();
        assert!(changed.contains("changed after they were signed"), "{changed}");
        let unknown =
            verify(b"abc  outpost.deb\n", &signature.replace("Key: test", "Key: other"), &trusted).unwrap_err();
        assert!(unknown.contains("“other”"), "{unknown}");
        assert!(verify(b"x", "nonsense", &trusted).unwrap_err().contains("Key:"));
    }
}
