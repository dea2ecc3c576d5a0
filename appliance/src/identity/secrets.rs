//! Random bearer secrets (session cookies, API tokens) and the digest they are stored under:
//! the database never holds a value that would let its reader sign in.

use sha2::{Digest, Sha256};

pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::Rng::fill(&mut rand::thread_rng(), buffer.as_mut_slice());
    hex::encode(buffer)
}

pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
