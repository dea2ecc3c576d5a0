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

/// A random key this installation made for itself on first use, for signing links and
/// payloads (`name` says what for). Concurrent first uses agree on one key.
pub fn installation_key(conn: &mut diesel::PgConnection, name: &str) -> diesel::QueryResult<Vec<u8>> {
    use crate::schema::installation_secrets as secrets;
    use diesel::prelude::*;
    let mut fresh = vec![0u8; 32];
    rand::Rng::fill(&mut rand::thread_rng(), fresh.as_mut_slice());
    diesel::insert_into(secrets::table)
        .values((secrets::name.eq(name), secrets::value.eq(&fresh)))
        .on_conflict_do_nothing()
        .execute(conn)?;
    secrets::table.find(name).select(secrets::value).first(conn)
}

/// HMAC-SHA256 of `message` under `key`, in hex.
pub fn sign(key: &[u8], message: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}
