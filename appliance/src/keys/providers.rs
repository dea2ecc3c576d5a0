//! Key-encryption keys (KEKs), which the customer controls, and the three ways to reach one:
//! - `file`: 32 random bytes in a file only the service may read; wrapping is AES-256-GCM
//!   here, in memory;
//! - `pkcs11`: a secret key on an HSM, found by token and key label; wrapping and unwrapping
//!   happen inside the HSM (CKM_AES_GCM), and the key never leaves it;
//! - `command`: an external program (a KMIP client, a vendor tool) that reads a data key on
//!   stdin and writes it wrapped on stdout (`wrap`), or the reverse (`unwrap`).
//!
//! Each KEK has an id, stored beside every data key it wraps, so that rotation knows what is
//! left to re-wrap and an unwrap names the key it needs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use super::envelope::DataKey;
use super::KeyError;
use crate::config::{KeyProviderConfig, KeysConfig};

/// One KEK, however it is reached.
pub trait Kek: Send + Sync {
    fn id(&self) -> &str;
    fn wrap(&self, key: &DataKey) -> Result<Vec<u8>, KeyError>;
    fn unwrap(&self, wrapped: &[u8]) -> Result<DataKey, KeyError>;
}

/// The current KEK (which wraps new data keys) and the previous ones (which only unwrap, until
/// rotation has moved every data key off them).
pub struct Keks {
    pub current: Box<dyn Kek>,
    pub previous: Vec<Box<dyn Kek>>,
}

impl Keks {
    /// Opens every configured KEK and proves each with a wrap and unwrap round trip, so that a
    /// key that cannot be used stops the service at start-up with one sentence.
    pub fn open(config: &KeysConfig) -> Result<Keks, KeyError> {
        let current = open_one(&config.current)?;
        let previous = config.previous.iter().map(open_one).collect::<Result<Vec<_>, _>>()?;
        for kek in std::iter::once(&current).chain(previous.iter()) {
            prove(&**kek)?;
        }
        Ok(Keks { current, previous })
    }

    /// The KEK with this id, current or previous.
    pub fn find(&self, id: &str) -> Option<&dyn Kek> {
        std::iter::once(&self.current).chain(self.previous.iter()).find(|kek| kek.id() == id).map(|kek| &**kek)
    }
}

/// A wrap and unwrap round trip with a random key: the KEK works now.
pub fn prove(kek: &dyn Kek) -> Result<(), KeyError> {
    let probe = DataKey::generate()?;
    let back = kek.unwrap(&kek.wrap(&probe)?)?;
    if back.as_bytes() != probe.as_bytes() {
        return Err(KeyError::Provider(format!("key {} did not give back what it wrapped", kek.id())));
    }
    Ok(())
}

fn open_one(config: &KeyProviderConfig) -> Result<Box<dyn Kek>, KeyError> {
    Ok(match config {
        KeyProviderConfig::File { path } => Box::new(FileKek::open(path)?),
        KeyProviderConfig::Pkcs11 { module, token_label, pin_file, key_label } => {
            Box::new(HsmKek::open(module, token_label, pin_file, key_label)?)
        }
        KeyProviderConfig::Command { program, key_id } => {
            Box::new(CommandKek { program: program.clone(), id: key_id.clone() })
        }
    })
}

/// A KEK in a file: 32 bytes, raw or as 64 hex digits.
pub struct FileKek {
    id: String,
    key: DataKey,
}

impl FileKek {
    pub fn open(path: &Path) -> Result<FileKek, KeyError> {
        let unusable = |why: String| KeyError::Provider(format!("the key file {}: {why}", path.display()));
        let bytes = std::fs::read(path).map_err(|e| unusable(e.to_string()))?;
        let raw = match bytes.len() {
            32 => bytes,
            _ => hex::decode(String::from_utf8_lossy(&bytes).trim())
                .map_err(|_| unusable("it must hold 32 bytes, raw or as 64 hex digits".into()))?,
        };
        let key =
            DataKey::from_bytes(&raw).map_err(|_| unusable("it must hold 32 bytes, raw or as 64 hex digits".into()))?;
        // An id that names the key without revealing it.
        let id = format!("file:{}", &hex::encode(Sha256::digest([b"outpost-kek-id:".as_slice(), &raw].concat()))[..16]);
        Ok(FileKek { id, key })
    }

    /// Writes a new random key to `path` (mode 0600), refusing to overwrite one.
    pub fn create(path: &Path) -> Result<(), KeyError> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut key = [0u8; 32];
        SystemRandom::new().fill(&mut key).map_err(|_| KeyError::Crypto("no randomness".into()))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| KeyError::Provider(format!("cannot create the key file {}: {e}", path.display())))?;
        file.write_all(format!("{}\n", hex::encode(key)).as_bytes())
            .map_err(|e| KeyError::Provider(format!("cannot write the key file {}: {e}", path.display())))
    }
}

impl Kek for FileKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, key: &DataKey) -> Result<Vec<u8>, KeyError> {
        self.key.seal("outpost data key", key.as_bytes())
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<DataKey, KeyError> {
        DataKey::from_bytes(&self.key.open("outpost data key", wrapped).map_err(|_| KeyError::Unwrap(self.id.clone()))?)
    }
}

/// A KEK on an HSM, used through PKCS#11.
pub struct HsmKek {
    id: String,
    session: Mutex<Session>,
    key: ObjectHandle,
}

impl HsmKek {
    pub fn open(module: &Path, token_label: &str, pin_file: &Path, key_label: &str) -> Result<HsmKek, KeyError> {
        let hsm = |what: &str, e: &dyn std::fmt::Display| KeyError::Provider(format!("the HSM ({what}): {e}"));
        let pin = std::fs::read_to_string(pin_file)
            .map_err(|e| KeyError::Provider(format!("cannot read the PIN file {}: {e}", pin_file.display())))?;
        let pkcs11 = Pkcs11::new(module).map_err(|e| hsm(&format!("loading {}", module.display()), &e))?;
        pkcs11
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| hsm("initializing", &e))?;
        // Slots are renumbered as tokens come and go: the label is what names a token.
        let slot = pkcs11
            .get_slots_with_token()
            .map_err(|e| hsm("listing tokens", &e))?
            .into_iter()
            .find(|slot| pkcs11.get_token_info(*slot).is_ok_and(|info| info.label().trim() == token_label))
            .ok_or_else(|| KeyError::Provider(format!("the HSM has no token labelled “{token_label}”")))?;
        let session = pkcs11.open_ro_session(slot).map_err(|e| hsm("opening a session", &e))?;
        session
            .login(UserType::User, Some(&AuthPin::from(pin.trim().to_owned())))
            .map_err(|e| hsm(&format!("signing in to token “{token_label}”; is the PIN right?"), &e))?;
        let found = session
            .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Label(key_label.as_bytes().to_vec())])
            .map_err(|e| hsm("finding the key", &e))?;
        let key = match found.as_slice() {
            [key] => *key,
            [] => {
                return Err(KeyError::Provider(format!(
                    "token “{token_label}” has no secret key labelled “{key_label}”"
                )))
            }
            _ => {
                return Err(KeyError::Provider(format!(
                    "token “{token_label}” has several keys labelled “{key_label}”"
                )))
            }
        };
        Ok(HsmKek { id: format!("pkcs11:{token_label}/{key_label}"), session: Mutex::new(session), key })
    }
}

impl Kek for HsmKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, key: &DataKey) -> Result<Vec<u8>, KeyError> {
        let mut iv = [0u8; 12];
        SystemRandom::new().fill(&mut iv).map_err(|_| KeyError::Crypto("no randomness".into()))?;
        let mut nonce = iv;
        let params = GcmParams::new(&mut nonce, b"outpost data key", 128.into())
            .map_err(|e| KeyError::Provider(format!("the HSM: {e}")))?;
        let session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let sealed = session
            .encrypt(&Mechanism::AesGcm(params), self.key, key.as_bytes())
            .map_err(|e| KeyError::Provider(format!("the HSM could not wrap a data key: {e}")))?;
        Ok([iv.as_slice(), &sealed].concat())
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<DataKey, KeyError> {
        if wrapped.len() < 12 {
            return Err(KeyError::Unwrap(self.id.clone()));
        }
        let (iv, sealed) = wrapped.split_at(12);
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(iv);
        let params = GcmParams::new(&mut nonce, b"outpost data key", 128.into())
            .map_err(|e| KeyError::Provider(format!("the HSM: {e}")))?;
        let session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let opened = session
            .decrypt(&Mechanism::AesGcm(params), self.key, sealed)
            .map_err(|_| KeyError::Unwrap(self.id.clone()))?;
        DataKey::from_bytes(&opened)
    }
}

/// A KEK behind an external program: `PROGRAM wrap` and `PROGRAM unwrap`, bytes on stdin and
/// stdout, a non-zero exit and its stderr as the reason.
pub struct CommandKek {
    program: PathBuf,
    id: String,
}

impl CommandKek {
    fn run(&self, verb: &str, input: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed =
            |why: String| KeyError::Provider(format!("the key command {} {verb}: {why}", self.program.display()));
        let mut child = Command::new(&self.program)
            .arg(verb)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A program that refuses may exit before reading: its exit and stderr say why.
            match stdin.write_all(input) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(failed(e.to_string())),
                _ => {}
            }
        }
        let output = child.wait_with_output().map_err(|e| failed(e.to_string()))?;
        if !output.status.success() {
            return Err(failed(format!("{} ({})", String::from_utf8_lossy(&output.stderr).trim(), output.status)));
        }
        Ok(output.stdout)
    }
}

impl Kek for CommandKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, key: &DataKey) -> Result<Vec<u8>, KeyError> {
        self.run("wrap", key.as_bytes())
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<DataKey, KeyError> {
        let opened = self.run("unwrap", wrapped)?;
        DataKey::from_bytes(&opened).map_err(|_| KeyError::Unwrap(self.id.clone()))
    }
}
