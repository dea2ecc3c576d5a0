//! The vendor's public keys that licenses are checked against. More than one may be listed, so
//! that licenses signed with a retired key keep working while new ones use the next.
//!
//! **This is the production key file.** Licenses are signed with the private half of these
//! keys by `outpost-license issue`, which runs at the vendor and never ships. To rotate: add
//! the new key here (keeping the old), release, then sign with the new key.

use std::sync::{OnceLock, RwLock};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VendorKey {
    pub id: String,
    pub public: [u8; 32],
}

/// (key id, ed25519 public key, hex).
const PRODUCTION: &[(&str, &str)] =
    &[("outpost-2026", "2e1a438048d3db210d7705de9956d75b10b7c36b8671dce81c02893ee7a63138")];

fn extra() -> &'static RwLock<Vec<VendorKey>> {
    static EXTRA: OnceLock<RwLock<Vec<VendorKey>>> = OnceLock::new();
    EXTRA.get_or_init(|| RwLock::new(Vec::new()))
}

/// Trusts one more key, for tests: only debug builds honour it (this and the environment
/// variable `TEST_VENDOR_LICENSE_KEY`, `ID:HEX`, for the command-line tests' processes), so a
/// released binary trusts exactly the keys above, whatever its configuration or environment.
pub fn trust_for_testing(key: VendorKey) {
    if cfg!(debug_assertions) {
        let mut keys = extra().write().unwrap_or_else(|e| e.into_inner());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
}

/// Every key a license may be signed with.
pub fn trusted() -> Vec<VendorKey> {
    let mut keys: Vec<VendorKey> = PRODUCTION
        .iter()
        .filter_map(|(id, public)| {
            let bytes = hex::decode(public).ok()?;
            Some(VendorKey { id: (*id).to_owned(), public: <[u8; 32]>::try_from(bytes.as_slice()).ok()? })
        })
        .collect();
    keys.extend(extra().read().unwrap_or_else(|e| e.into_inner()).iter().cloned());
    if cfg!(debug_assertions) {
        keys.extend(std::env::var("TEST_VENDOR_LICENSE_KEY").ok().as_deref().and_then(parse));
    }
    keys
}

/// Parses `id:hex` as the vendor tool prints a public key.
pub fn parse(text: &str) -> Option<VendorKey> {
    let (id, public) = text.trim().split_once(':')?;
    let bytes = hex::decode(public).ok()?;
    Some(VendorKey { id: id.to_owned(), public: <[u8; 32]>::try_from(bytes.as_slice()).ok()? })
}
