//! Short secrets sealed into text, so they can sit in a database column or a configuration file:
//! `sealed:v1:<data key id>:<base64 of the sealed bytes>`. Each is bound to what it is the secret
//! of (its identity), so a sealed value copied to another place does not open there.

use base64::Engine;
use diesel::PgConnection;

use super::{Keyring, Purpose};
use crate::errors::AppError;

pub const PREFIX: &str = "sealed:v1:";

pub fn is_sealed(text: &str) -> bool {
    text.starts_with(PREFIX)
}

/// Seals `secret` for `identity` with a data key of its own.
pub fn seal(conn: &mut PgConnection, keys: &Keyring, identity: &str, secret: &str) -> Result<String, AppError> {
    let (key_id, sealed) = keys.seal(conn, Purpose::Secret, identity, secret.as_bytes())?;
    Ok(format!("{PREFIX}{key_id}:{}", base64::engine::general_purpose::STANDARD.encode(sealed)))
}

/// The parts of a sealed value, or a sentence saying why it is not one.
pub fn parse(text: &str) -> Result<(i64, Vec<u8>), String> {
    let rest = text.strip_prefix(PREFIX).ok_or_else(|| format!("a sealed value starts with {PREFIX}"))?;
    let (key_id, sealed) = rest
        .split_once(':')
        .ok_or("a sealed value reads sealed:v1:KEY:DATA, as `outpost keys seal-secret` printed it")?;
    let key_id = key_id.parse::<i64>().map_err(|_| format!("{key_id:?} is not a data key number"))?;
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .map_err(|_| "the sealed data is not base64: the value was cut or changed".to_owned())?;
    Ok((key_id, sealed))
}

/// Opens a value `seal` made for `identity`. A value that is not sealed is returned as it is:
/// secrets stored before customer-managed keys were configured.
pub fn open(conn: &mut PgConnection, keys: &Keyring, identity: &str, text: &str) -> Result<String, AppError> {
    if !is_sealed(text) {
        return Ok(text.to_owned());
    }
    let damaged = |why: String| AppError::internal(format!("the sealed secret of {identity} is damaged: {why}"));
    let (key_id, sealed) = parse(text).map_err(damaged)?;
    let opened = keys.unseal(conn, key_id, identity, &sealed)?;
    String::from_utf8(opened).map_err(|_| damaged("it is not text".to_owned()))
}
