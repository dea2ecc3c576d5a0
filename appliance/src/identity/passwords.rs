//! Password hashing (argon2id) and the rules a new password must meet.

use std::collections::HashSet;
use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use rand::Rng;

use crate::errors::AppError;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 1024;

pub fn check_rules(password: &str) -> Result<(), AppError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(AppError::invalid("password", format!("Password must be at least {MIN_LENGTH} characters long.")));
    }
    if length > MAX_LENGTH {
        return Err(AppError::invalid("password", format!("Password must be at most {MAX_LENGTH} characters long.")));
    }
    if is_common(password) {
        return Err(AppError::invalid(
            "password",
            "That password is one of the most used (or one of them with digits added or repeated), so it is among the first an attacker tries; choose another.",
        ));
    }
    Ok(())
}

/// The 10,000 most used passwords of SecLists' list, bundled (see common-passwords.LICENSE).
fn common_passwords() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| include_str!("common-passwords.txt").lines().collect())
}

/// Whether `password` is a common password as people lengthen them to pass a length rule: the
/// same with digits or punctuation around it, or repeated ("password2024!", "qwertyqwerty").
fn is_common(password: &str) -> bool {
    let lowered = password.to_lowercase();
    let core = lowered.trim_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace());
    let list = common_passwords();
    if list.contains(lowered.as_str()) || list.contains(core) {
        return true;
    }
    repeats_a_common_word(&lowered, list) || repeats_a_common_word(core, list) || is_a_run(&lowered)
}

/// A common word over and over: "abc123abc123".
fn repeats_a_common_word(text: &str, list: &HashSet<&'static str>) -> bool {
    (1..=text.len() / 2).filter(|size| text.len().is_multiple_of(*size) && text.is_char_boundary(*size)).any(|size| {
        text.as_bytes().chunks(size).all(|chunk| chunk == &text.as_bytes()[..size]) && list.contains(&text[..size])
    })
}

/// Keys in a row on the number line or the alphabet, up or down: "1234567890123", "zyxwvut…".
fn is_a_run(text: &str) -> bool {
    let bytes = text.as_bytes();
    let step = |a: u8, b: u8, up: bool| match (a, b) {
        (b'9', b'0') if up => true,
        (b'0', b'9') if !up => true,
        _ if up => b == a.wrapping_add(1),
        _ => b == a.wrapping_sub(1),
    };
    bytes.len() > 1 && [true, false].into_iter().any(|up| bytes.windows(2).all(|pair| step(pair[0], pair[1], up)))
}

pub fn hash(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::internal(format!("argon2: {e}")))
}

pub fn verify(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Verifies against a throwaway hash, so that a sign-in for an unknown user name takes as long
/// as one for a known name and timing does not reveal which names exist.
pub fn verify_against_nothing(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash(&generate()).unwrap_or_default());
    let _ = verify(password, dummy);
}

/// A random password for generated accounts (quickstart's admin): 20 characters, ~119 bits.
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..20).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hashed = hash("correct horse battery").unwrap();
        assert!(hashed.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &hashed));
        assert!(!verify("correct horse battery!", &hashed));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(check_rules("short").unwrap_err().field(), Some("password"));
        assert!(check_rules(&generate()).is_ok());
    }

    #[test]
    fn common_passwords_are_refused_however_they_are_lengthened() {
        assert_eq!(common_passwords().len(), 10_000);
        for common in
            ["password1234", "Password2024!", "qwertyqwerty", "abc123abc123", "  dragon-1234567 ", "1234567890123"]
        {
            let refused = check_rules(common).unwrap_err();
            assert!(refused.to_string().contains("one of the most used"), "{common}: {refused}");
        }
        for fine in ["correct horse battery staple", "dragon lantern orbit", "Qx7-vault-Ember"] {
            assert!(check_rules(fine).is_ok(), "{fine}");
        }
    }
}
