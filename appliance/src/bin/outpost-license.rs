//! `outpost-license`: the vendor's tool that makes signing keys and issues licenses. It runs at
//! the vendor, never at a customer's site, and is not in the packages.
//!
//! ```text
//! outpost-license keygen --id outpost-2027 --out outpost-2027.key    # prints the public key
//! outpost-license issue --key outpost-2027.key --id outpost-2027 --customer-id C-42 \
//!     --customer-name "Example Corp" --seats 250 --days 365 --features ldap,sso > example.license
//! outpost-license sign-file --key outpost-2027.key --id outpost-2027 SHA256SUMS   # SHA256SUMS.sig
//! ```

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use clap::{Parser, Subcommand};
use ed25519_dalek::SigningKey;
use outpost::license::release_signature;
use outpost::license::signed::{sign, Payload, VERSION};

#[derive(Parser)]
#[command(name = "outpost-license", about = "Make vendor keys and issue Outpost licenses")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a signing key: the private half goes to --out (mode 0600), the public half is
    /// printed as ID:HEX for `appliance/src/license/vendor_keys.rs`.
    Keygen {
        #[arg(long)]
        id: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a license and print it.
    Issue {
        /// The private key file keygen wrote.
        #[arg(long)]
        key: PathBuf,
        /// The key's id, as listed in vendor_keys.rs.
        #[arg(long)]
        id: String,
        #[arg(long)]
        customer_id: String,
        #[arg(long)]
        customer_name: String,
        #[arg(long, default_value = "enterprise")]
        edition: String,
        #[arg(long)]
        seats: u32,
        /// Comma-separated: ldap, sso, automation, webhooks.
        #[arg(long, default_value = "", value_delimiter = ',')]
        features: Vec<String>,
        /// Days from --not-before (or now) until it expires.
        #[arg(long)]
        days: i64,
        /// First day it is valid (YYYY-MM-DD, UTC); now by default.
        #[arg(long)]
        not_before: Option<NaiveDate>,
        /// Bind it to one installation (`outpost license show` prints the id).
        #[arg(long)]
        installation_id: Option<String>,
        /// Defaults to a random id.
        #[arg(long)]
        license_id: Option<String>,
    },
    /// Sign a release file (the ISO's SHA256SUMS, a package): writes FILE.sig beside it, which
    /// the installer checks against the same keys as licenses.
    SignFile {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        id: String,
        file: PathBuf,
    },
}

fn main() {
    if let Err(problem) = run(Cli::parse()) {
        eprintln!("outpost-license: {problem}");
        std::process::exit(1);
    }
}

fn read_key(path: &PathBuf) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let bytes = hex::decode(text.trim()).map_err(|_| format!("{} does not hold a hex key", path.display()))?;
    let bytes =
        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| format!("{} does not hold 32 bytes", path.display()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Keygen { id, out } => {
            let secret: [u8; 32] = rand::random();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&out)
                .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
            file.write_all(format!("{}\n", hex::encode(secret)).as_bytes()).map_err(|e| e.to_string())?;
            let public = SigningKey::from_bytes(&secret).verifying_key().to_bytes();
            println!("{id}:{}", hex::encode(public));
            Ok(())
        }
        Command::Issue {
            key,
            id,
            customer_id,
            customer_name,
            edition,
            seats,
            features,
            days,
            not_before,
            installation_id,
            license_id,
        } => {
            let key = read_key(&key)?;
            let now = Utc::now();
            let not_before: DateTime<Utc> =
                not_before.and_then(|day| day.and_hms_opt(0, 0, 0)).map(|at| at.and_utc()).unwrap_or(now);
            let payload = Payload {
                version: VERSION,
                license_id: license_id.unwrap_or_else(|| format!("L-{}", hex::encode(rand::random::<[u8; 6]>()))),
                customer_id,
                customer_name,
                edition,
                issued_at: now,
                not_before,
                expires_at: not_before + Duration::days(days),
                seats,
                features: features.into_iter().filter(|f| !f.trim().is_empty()).collect(),
                installation_id,
            };
            print!("{}", sign(&payload, &id, &key));
            Ok(())
        }
        Command::SignFile { key, id, file } => {
            let key = read_key(&key)?;
            let bytes = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let mut target = file.clone().into_os_string();
            target.push(".sig");
            std::fs::write(&target, release_signature::sign(&bytes, &id, &key))
                .map_err(|e| format!("cannot write {}: {e}", target.to_string_lossy()))?;
            println!("{}", target.to_string_lossy());
            Ok(())
        }
    }
}
