//! Envelope encryption: each object gets its own 256-bit data key; the data is sealed with it
//! (AES-256-GCM, a random 96-bit nonce, the object's identity as associated data, so a sealed
//! value moved to another object does not open); the data key is kept only wrapped by the
//! customer's key-encryption key (see `providers`).

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use super::KeyError;

/// A data key in the clear: only ever in memory, zeroed when dropped.
pub struct DataKey([u8; 32]);

impl DataKey {
    pub fn generate() -> Result<DataKey, KeyError> {
        let mut key = [0u8; 32];
        SystemRandom::new().fill(&mut key).map_err(|_| KeyError::Crypto("no randomness".into()))?;
        Ok(DataKey(key))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<DataKey, KeyError> {
        <[u8; 32]>::try_from(bytes)
            .map(DataKey)
            .map_err(|_| KeyError::Crypto(format!("a data key must be 32 bytes, not {}", bytes.len())))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> Result<LessSafeKey, KeyError> {
        UnboundKey::new(&AES_256_GCM, &self.0)
            .map(LessSafeKey::new)
            .map_err(|_| KeyError::Crypto("the data key was refused".into()))
    }

    /// `nonce ‖ ciphertext ‖ tag` of `plaintext`, bound to `identity`.
    pub fn seal(&self, identity: &str, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| KeyError::Crypto("no randomness".into()))?;
        let mut sealed = plaintext.to_vec();
        self.cipher()?
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(identity.as_bytes()), &mut sealed)
            .map_err(|_| KeyError::Crypto("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what `seal` made for `identity`; anything changed, or made for another object,
    /// is refused rather than returned as garbage.
    pub fn open(&self, identity: &str, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        if sealed.len() < NONCE_LEN {
            return Err(KeyError::Tampered);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Tampered)?;
        let mut buffer = rest.to_vec();
        let opened = self
            .cipher()?
            .open_in_place(nonce, Aad::from(identity.as_bytes()), &mut buffer)
            .map_err(|_| KeyError::Tampered)?;
        Ok(opened.to_vec())
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0 = [0; 32];
        // Keeps the zeroing from being optimised away as a write nobody reads.
        std::hint::black_box(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_for_its_object_and_unchanged() {
        let key = DataKey::generate().unwrap();
        let sealed = key.seal("user:7:totp", b"seed bytes").unwrap();
        assert_eq!(key.open("user:7:totp", &sealed).unwrap(), b"seed bytes");
        assert!(matches!(key.open("user:8:totp", &sealed), Err(KeyError::Tampered)), "another object");
        let mut changed = sealed.clone();
        changed[20] ^= 1;
        assert!(matches!(key.open("user:7:totp", &changed), Err(KeyError::Tampered)));
        let other = DataKey::generate().unwrap();
        assert!(matches!(other.open("user:7:totp", &sealed), Err(KeyError::Tampered)), "another key");
        assert_ne!(key.seal("x", b"same").unwrap(), key.seal("x", b"same").unwrap(), "a fresh nonce each time");
    }
}
