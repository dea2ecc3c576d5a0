//! Customer-managed keys with each real provider: key files, an external command (openssl as
//! a stand-in for a KMIP client), and a real SoftHSM2 token set up here in a temporary token
//! folder. Envelope round trips, a rotation stopped half-way and resumed, a key gone
//! (crypto-shredding) named instead of garbage, and each provider's refusal in one sentence.

use std::path::{Path, PathBuf};
use std::process::Command;

use outpost::audit::Actor;
use outpost::config::{KeyProviderConfig, KeysConfig};
use outpost::keys::providers::FileKek;
use outpost::keys::{Keyring, Purpose};

use crate::support::cli::{outpost, text};
use crate::support::s3::{S3Server, ACCESS_KEY, SECRET_KEY};
use crate::support::{TempDir, TestDb};

fn temp_dir() -> TempDir {
    let dir = TempDir(std::env::temp_dir().join(format!("outpost-keys-{}", rand::random::<u64>())));
    std::fs::create_dir_all(&dir.0).unwrap();
    dir
}

fn file_keys(current: &Path, previous: &[&Path]) -> KeysConfig {
    KeysConfig {
        current: KeyProviderConfig::File { path: current.to_owned() },
        previous: previous.iter().map(|path| KeyProviderConfig::File { path: path.to_path_buf() }).collect(),
    }
}

fn migrated() -> (TestDb, diesel::PgConnection) {
    let db = TestDb::new();
    let conn = db.connect();
    (db, conn)
}

#[test]
fn data_keys_move_to_a_new_key_file_by_rotation_resumed_after_a_stop() {
    let dir = temp_dir();
    let (old, new) = (dir.0.join("old.kek"), dir.0.join("new.kek"));
    FileKek::create(&old).unwrap();
    FileKek::create(&new).unwrap();
    assert!(FileKek::create(&old).unwrap_err().to_string().contains("cannot create the key file"), "never overwritten");
    let (_db, mut conn) = migrated();
    let first = Keyring::open(&file_keys(&old, &[])).unwrap();
    let sealed: Vec<(i64, Vec<u8>)> = (0..5)
        .map(|i| {
            first.seal(&mut conn, Purpose::TotpSeed, &format!("user:{i}:totp"), format!("seed {i}").as_bytes()).unwrap()
        })
        .collect();
    assert_eq!(first.unseal(&mut conn, sealed[3].0, "user:3:totp", &sealed[3].1).unwrap(), b"seed 3");
    assert!(!String::from_utf8_lossy(&sealed[3].1).contains("seed 3"), "stored sealed");

    // Rotation to the new file, stopped after its first batch of two: both keys still open
    // everything, and a second run finishes the rest.
    let rotating = Keyring::open(&file_keys(&new, &[&old])).unwrap();
    let mut batches = 0;
    let done = rotating
        .rotate(&mut conn, &Actor::system(), 2, |_, _| {
            batches += 1;
            false
        })
        .unwrap();
    assert_eq!((done, batches), (2, 1));
    let counts = rotating.counts(&mut conn).unwrap();
    let seeds = |n: i64| vec![("totp_seed".to_owned(), n)];
    assert_eq!(counts, [(rotating.current_kek().to_owned(), seeds(2)), (first.current_kek().to_owned(), seeds(3))]);
    for (i, (id, bytes)) in sealed.iter().enumerate() {
        assert_eq!(
            rotating.unseal(&mut conn, *id, &format!("user:{i}:totp"), bytes).unwrap(),
            format!("seed {i}").as_bytes()
        );
    }
    assert_eq!(rotating.rotate(&mut conn, &Actor::system(), 2, |_, _| true).unwrap(), 3);
    assert_eq!(rotating.counts(&mut conn).unwrap(), [(rotating.current_kek().to_owned(), seeds(5))]);

    // The old key retired: everything opens with the new one alone.
    let retired = Keyring::open(&file_keys(&new, &[])).unwrap();
    assert_eq!(retired.verify_all(&mut conn).unwrap(), (5, Vec::new()));
    // The new key gone instead (revoked): nothing opens, and each refusal names the key.
    let shredded = Keyring::open(&file_keys(&old, &[])).unwrap();
    let error = shredded.unseal(&mut conn, sealed[0].0, "user:0:totp", &sealed[0].1).unwrap_err();
    assert_eq!(error.status().as_u16(), 503);
    assert!(error
        .for_operator()
        .contains(&format!("is wrapped by key {}, which is not configured", retired.current_kek())));
    let (opened, problems) = shredded.verify_all(&mut conn).unwrap();
    assert_eq!((opened, problems.len()), (0, 5));

    let missing = Keyring::open(&file_keys(&dir.0.join("nope.kek"), &[])).err().unwrap().to_string();
    assert!(missing.starts_with(&format!("the key file {}", dir.0.join("nope.kek").display())), "{missing}");
    std::fs::write(dir.0.join("short.kek"), "abc").unwrap();
    let short = Keyring::open(&file_keys(&dir.0.join("short.kek"), &[])).err().unwrap().to_string();
    assert!(short.contains("it must hold 32 bytes, raw or as 64 hex digits"), "{short}");
}

/// A stand-in for a KMIP client or vendor tool: openssl with a key of its own.
fn key_command(dir: &Path, fail: bool) -> PathBuf {
    let path = dir.join(if fail { "broken-kms" } else { "kms" });
    let body = if fail {
        "#!/bin/sh\necho 'kms: the key server refused the request (HTTP 403)' >&2\nexit 3\n".to_owned()
    } else {
        let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  wrap) exec openssl enc -aes-256-cbc -K {key} -iv 0102030405060708090a0b0c0d0e0f10 ;;\n  \
             unwrap) exec openssl enc -d -aes-256-cbc -K {key} -iv 0102030405060708090a0b0c0d0e0f10 ;;\n  \
             *) echo \"usage: $0 wrap|unwrap\" >&2; exit 2 ;;\nesac\n"
        )
    };
    std::fs::write(&path, body).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
    path
}

#[test]
fn an_external_command_wraps_data_keys_and_its_refusal_is_said() {
    let dir = temp_dir();
    let (_db, mut conn) = migrated();
    let config = KeysConfig {
        current: KeyProviderConfig::Command { program: key_command(&dir.0, false), key_id: "kms-1".into() },
        previous: Vec::new(),
    };
    let keyring = Keyring::open(&config).unwrap();
    assert_eq!(keyring.current_kek(), "kms-1");
    let (id, sealed) = keyring.seal(&mut conn, Purpose::Secret, "webhook:4:secret", b"whsec_abc").unwrap();
    assert_eq!(keyring.unseal(&mut conn, id, "webhook:4:secret", &sealed).unwrap(), b"whsec_abc");

    let broken = KeysConfig {
        current: KeyProviderConfig::Command { program: key_command(&dir.0, true), key_id: "kms-2".into() },
        previous: Vec::new(),
    };
    let refused = Keyring::open(&broken).err().unwrap().to_string();
    assert!(refused.contains("broken-kms wrap: kms: the key server refused the request (HTTP 403)"), "{refused}");
}

struct Hsm {
    dir: TempDir,
    conf: PathBuf,
}

impl Hsm {
    /// A fresh SoftHSM2 token "outpost" (user PIN 1234) with a non-extractable AES-256 key
    /// "kek", in a token folder of its own.
    fn start() -> Hsm {
        let dir = temp_dir();
        std::fs::create_dir_all(dir.0.join("tokens")).unwrap();
        let conf = dir.0.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.0.join("tokens").display()
            ),
        )
        .unwrap();
        std::fs::write(dir.0.join("pin"), "1234\n").unwrap();
        std::fs::write(dir.0.join("wrong-pin"), "9999\n").unwrap();
        let hsm = Hsm { dir, conf };
        hsm.run(
            "softhsm2-util",
            &["--init-token", "--free", "--label", "outpost", "--pin", "1234", "--so-pin", "5678"],
        );
        hsm.run(
            "pkcs11-tool",
            &[
                "--module",
                MODULE,
                "--token-label",
                "outpost",
                "--login",
                "--pin",
                "1234",
                "--keygen",
                "--key-type",
                "AES:32",
                "--label",
                "kek",
                "--sensitive",
            ],
        );
        hsm
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = Command::new(program)
            .args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .unwrap_or_else(|e| panic!("{program} (Debian: apt-get install softhsm2 opensc): {e}"));
        assert!(output.status.success(), "{program}: {}", String::from_utf8_lossy(&output.stderr));
    }

    fn outpost(&self, args: &[&str]) -> (bool, String) {
        let output =
            Command::new(env!("CARGO_BIN_EXE_outpost")).args(args).env("SOFTHSM2_CONF", &self.conf).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    }
}

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

#[test]
fn a_softhsm2_token_takes_over_the_data_keys_and_refuses_a_wrong_pin() {
    let hsm = Hsm::start();
    let (db, mut conn) = migrated();
    let file = hsm.dir.0.join("file.kek");
    FileKek::create(&file).unwrap();
    let keyring = Keyring::open(&file_keys(&file, &[])).unwrap();
    let sealed: Vec<(i64, Vec<u8>)> = (0..4)
        .map(|i| keyring.seal(&mut conn, Purpose::Attachment, &format!("attachment:{i}"), b"bytes").unwrap())
        .collect();

    let config = |pin: &str, token: &str| {
        let path = hsm.dir.0.join(format!("outpost-{pin}-{token}.toml"));
        std::fs::write(
            &path,
            format!(
                "[database]\nurl = \"{}\"\n[keys]\nprovider = \"pkcs11\"\npkcs11_module = \"{MODULE}\"\npkcs11_token = \"{token}\"\n\
                 pkcs11_pin_file = \"{}\"\npkcs11_key = \"kek\"\nprevious_files = [\"{}\"]\n",
                db.url,
                hsm.dir.0.join(pin).display(),
                file.display()
            ),
        )
        .unwrap();
        path
    };
    let good = config("pin", "outpost");
    let good = good.to_str().unwrap();
    let (ok, text) = hsm.outpost(&["keys", "rotate", "--config", good, "--batch", "3"]);
    assert!(ok, "{text}");
    assert!(text.contains("re-wrapped 3, 1 to go") && text.contains("(4 re-wrapped)"), "{text}");
    let (ok, text) = hsm.outpost(&["keys", "status", "--config", good]);
    assert!(
        ok && text.contains("4 data keys wrapped by pkcs11:outpost/kek") && text.contains("Last rotation: "),
        "{text}"
    );
    let (ok, text) = hsm.outpost(&["keys", "verify", "--config", good]);
    assert!(ok && text.contains("4 data keys open."), "{text}");
    // The file key alone no longer opens them: the HSM holds the only key that does.
    let alone = Keyring::open(&file_keys(&file, &[])).unwrap();
    assert!(alone.unseal(&mut conn, sealed[0].0, "attachment:0", &sealed[0].1).is_err());

    let (ok, text) = hsm.outpost(&["keys", "status", "--config", config("wrong-pin", "outpost").to_str().unwrap()]);
    assert!(!ok && text.contains("signing in to token “outpost”; is the PIN right?"), "{text}");
    let (ok, text) = hsm.outpost(&["keys", "status", "--config", config("pin", "elsewhere").to_str().unwrap()]);
    assert!(!ok && text.contains("the HSM has no token labelled “elsewhere”"), "{text}");
}

/// Two-factor seeds and webhook secrets written before customer-managed keys are sealed by the
/// first start that has a key: afterwards no column holds them in the clear, and they open.
#[test]
fn plain_two_factor_seeds_and_webhook_secrets_are_sealed_once_by_start_up() {
    use diesel::prelude::*;
    let dir = temp_dir();
    let kek = dir.0.join("kek");
    FileKek::create(&kek).unwrap();
    let keyring = Keyring::open(&file_keys(&kek, &[])).unwrap();
    let (_db, mut conn) = migrated();
    diesel::sql_query(
        "INSERT INTO users (username, display_name, email, password_hash, totp_secret, totp_enabled_at) \
         VALUES ('ana', 'Ana', 'ana@example.test', '!', '\\x3132333435363738393031323334353637383930', now())",
    )
    .execute(&mut conn)
    .unwrap();
    assert_eq!(outpost::identity::mfa::seal_plain_seeds(&mut conn, &keyring).unwrap(), 1);
    assert_eq!(outpost::identity::mfa::seal_plain_seeds(&mut conn, &keyring).unwrap(), 0, "once");
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Bytea)]
        totp_secret: Vec<u8>,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        totp_key_id: i64,
    }
    let row: Row = diesel::sql_query("SELECT id, totp_secret, totp_key_id FROM users WHERE username = 'ana'")
        .get_result(&mut conn)
        .unwrap();
    assert_ne!(row.totp_secret, b"12345678901234567890");
    let opened =
        keyring.unseal(&mut conn, row.totp_key_id, &format!("user:{}:totp", row.id), &row.totp_secret).unwrap();
    assert_eq!(opened, b"12345678901234567890");

    let plain = format!("whsec_{}", "a".repeat(48));
    diesel::sql_query(format!(
        "INSERT INTO webhooks (name, url, secret, events, created_by) \
         SELECT 'CI', 'https://203.0.113.9/h', '{plain}', '{{*}}', id FROM users WHERE username = 'ana'"
    ))
    .execute(&mut conn)
    .unwrap();
    use outpost::integrations::webhooks::{seal_plain_secrets, signing_secret, Webhook};
    assert_eq!(seal_plain_secrets(&mut conn, &keyring).unwrap(), 1);
    assert_eq!(seal_plain_secrets(&mut conn, &keyring).unwrap(), 0, "once");
    let hook: Webhook = outpost::schema::webhooks::table.select(Webhook::as_select()).first(&mut conn).unwrap();
    assert!(hook.secret.starts_with("sealed:v1:") && !hook.secret.contains(&plain));
    assert_eq!(signing_secret(&mut conn, &keyring, &hook).unwrap(), plain);
}

#[test]
fn configuration_secrets_are_sealed_by_the_command_and_open_only_where_they_were_sealed() {
    let dir = temp_dir();
    let db = TestDb::new();
    let kek = dir.0.join("kek");
    FileKek::create(&kek).unwrap();
    let server = S3Server::start();
    let config_with = |name: &str, kek: &Path, extra: &str| {
        let path = dir.0.join(name);
        std::fs::write(
            &path,
            format!(
                "[database]\nurl = \"{}\"\n[keys]\nfile = \"{}\"\n[storage]\nbackend = \"s3\"\ns3_endpoint = \"{}\"\n\
                 s3_bucket = \"sealed\"\ns3_access_key = \"{ACCESS_KEY}\"\n{extra}\n",
                db.url,
                kek.display(),
                server.endpoint()
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let plain = config_with("plain.toml", &kek, &format!("s3_secret_key = \"{SECRET_KEY}\""));
    let seal =
        |setting: &str, secret: &str| outpost(&["keys", "seal-secret", "--config", &plain, setting], Some(secret));
    let footprint =
        |db: &TestDb| ["data_keys", "audit_log"].map(|table| value_in(db, &format!("SELECT count(*) FROM {table}")));

    // Refusals: a setting that is no secret, and nothing on standard input. Nothing is written.
    let before = footprint(&db);
    let refused = seal("mail.from", "x\n");
    assert!(!refused.status.success());
    assert!(text(&refused).contains("SETTING: \"mail.from\" is not a secret that can be sealed; give one of mail.password, ldap.bind_password, oidc.client_secret, storage.s3_secret_key, metrics.token"), "{}", text(&refused));
    let empty = seal("storage.s3_secret_key", "\n");
    assert!(
        !empty.status.success() && text(&empty).contains("standard input: give the secret to seal"),
        "{}",
        text(&empty)
    );
    assert_eq!(footprint(&db), before);

    let sealed = seal("storage.s3_secret_key", &format!("{SECRET_KEY}\n"));
    assert!(sealed.status.success(), "{}", text(&sealed));
    let value = String::from_utf8(sealed.stdout.clone()).unwrap().trim().to_owned();
    assert!(value.starts_with("sealed:v1:") && !value.contains(SECRET_KEY), "{value}");
    let audit = value_in(&db, "SELECT after_state FROM audit_log WHERE action = 'config.secret_sealed'");
    assert!(audit.contains("storage.s3_secret_key") && !audit.contains(SECRET_KEY), "{audit}");

    // The sealed value works where the secret did.
    let in_config = config_with("sealed.toml", &kek, &format!("s3_secret_key = \"{value}\""));
    let checked = outpost(&["storage", "check", "--config", &in_config], None);
    assert!(checked.status.success() && text(&checked).contains("Storage works."), "{}", text(&checked));

    // Sealed for another setting, it does not open here.
    let other = seal("ldap.bind_password", &format!("{SECRET_KEY}\n"));
    let other = String::from_utf8(other.stdout).unwrap().trim().to_owned();
    let moved = config_with("moved.toml", &kek, &format!("s3_secret_key = \"{other}\""));
    let refused = outpost(&["storage", "check", "--config", &moved], None);
    assert!(
        !refused.status.success()
            && text(&refused).contains("storage.s3_secret_key: the sealed value does not open (encrypted data failed its integrity check); seal the secret again with `outpost keys seal-secret storage.s3_secret_key`"),
        "{}",
        text(&refused)
    );

    // Without the key that sealed it (another installation's, or a revoked one), neither.
    let stranger = dir.0.join("stranger.kek");
    FileKek::create(&stranger).unwrap();
    let elsewhere = config_with("elsewhere.toml", &stranger, &format!("s3_secret_key = \"{value}\""));
    let refused = outpost(&["storage", "check", "--config", &elsewhere], None);
    assert!(
        !refused.status.success()
            && text(&refused).contains("storage.s3_secret_key: the sealed value does not open (data key")
            && text(&refused).contains("which is not configured"),
        "{}",
        text(&refused)
    );

    // What does not read as a sealed value, or seals what is no secret, is a configuration problem.
    let cut =
        config_with("cut.toml", &kek, "s3_secret_key = \"sealed:v1:abc:def\"\n[mail]\nfrom = \"sealed:v1:1:AAAA\"");
    let problems = outpost(&["check-config", "--config", &cut], None);
    assert!(!problems.status.success());
    for problem in [
        "storage.s3_secret_key: \"abc\" is not a data key number",
        "mail.from: only secrets can be sealed (mail.password, ldap.bind_password, oidc.client_secret, storage.s3_secret_key, metrics.token); write this setting in the clear",
    ] {
        assert!(text(&problems).contains(problem), "{problem}: {}", text(&problems));
    }
}

/// One value a query selects, as text.
fn value_in(db: &TestDb, query: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Value {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    use diesel::RunQueryDsl;
    diesel::sql_query(format!("SELECT ({query})::text AS value")).get_result::<Value>(&mut db.connect()).unwrap().value
}
