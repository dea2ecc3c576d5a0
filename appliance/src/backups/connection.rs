//! Handing `database.url` to `pg_dump` and `pg_restore` without showing its password: a
//! command line is readable by every local user (`ps`), so the password goes into a passfile
//! of the service's own (mode 0600, removed afterwards) and the command line gets the rest.

use std::io::Write;
use std::path::PathBuf;

/// The connection string without its password, and the password, if it had one. Both forms
/// libpq reads are understood: `postgres://user:password@host/db?password=…` and
/// `host=… password='…'`.
pub fn split_password(conninfo: &str) -> (String, Option<String>) {
    let trimmed = conninfo.trim();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        split_uri(trimmed)
    } else {
        split_keywords(trimmed)
    }
}

fn split_uri(uri: &str) -> (String, Option<String>) {
    let (scheme, rest) = uri.split_once("://").unwrap_or(("postgresql", uri));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut password = None;
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, secret)) => {
                password = Some(decode(secret));
                format!("{user}@{hosts}")
            }
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("password", value)) => password = Some(decode(value)),
            _ => kept.push(pair),
        }
    }
    let query = if kept.is_empty() { String::new() } else { format!("?{}", kept.join("&")) };
    (format!("{scheme}://{authority}{path}{query}"), password)
}

/// Percent-decoding, as libpq does for URIs.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = match bytes[i] {
            b'%' => text.get(i + 1..i + 3).and_then(|hex| u8::from_str_radix(hex, 16).ok()),
            _ => None,
        };
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `keyword = value` pairs, values bare or single-quoted with backslash escapes.
fn split_keywords(conninfo: &str) -> (String, Option<String>) {
    let mut kept = Vec::new();
    let mut password = None;
    let mut chars = conninfo.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut keyword = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            keyword.push(c);
        }
        if keyword.is_empty() {
            break;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        chars.next_if_eq(&'=');
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => break,
                    other => value.push(other),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                match c {
                    '\\' => value.extend(chars.next()),
                    other => value.push(other),
                }
            }
        }
        if keyword == "password" {
            password = Some(value);
        } else {
            kept.push(format!("{keyword}='{}'", value.replace('\\', "\\\\").replace('\'', "\\'")));
        }
    }
    (kept.join(" "), password)
}

/// A passfile holding one password for any host, removed when dropped.
pub struct Passfile(PathBuf);

impl Passfile {
    pub fn write(password: &str) -> std::io::Result<Passfile> {
        let path = std::env::temp_dir().join(format!("outpost-pgpass-{}", hex::encode(rand::random::<[u8; 12]>())));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path)?;
        let escaped = password.replace('\\', "\\\\").replace(':', "\\:");
        writeln!(file, "*:*:*:*:{escaped}")?;
        Ok(Passfile(path))
    }
}

impl Drop for Passfile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `program` (pg_dump, pg_restore) set up to reach `conninfo`: the connection string on its
/// command line without the password, the password in a passfile kept while the returned
/// guard lives.
pub fn command(
    program: &std::path::Path,
    conninfo: &str,
) -> Result<(tokio::process::Command, Option<Passfile>), String> {
    let (without, password) = split_password(conninfo);
    let mut command = tokio::process::Command::new(program);
    command.arg(format!("--dbname={without}"));
    let passfile = match password {
        Some(password) => {
            let file = Passfile::write(&password).map_err(|e| format!("cannot write a passfile: {e}"))?;
            command.env("PGPASSFILE", &file.0);
            Some(file)
        }
        None => None,
    };
    Ok((command, passfile))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_both_forms_of_connection_string() {
        assert_eq!(
            split_password("postgres://outpost:s%3Acret%40x@db.example:5432/outpost?sslmode=require"),
            ("postgres://outpost@db.example:5432/outpost?sslmode=require".to_owned(), Some("s:cret@x".to_owned()))
        );
        assert_eq!(
            split_password("postgresql://outpost@db/outpost?password=hunter2&sslmode=verify-full"),
            ("postgresql://outpost@db/outpost?sslmode=verify-full".to_owned(), Some("hunter2".to_owned()))
        );
        assert_eq!(
            split_password("postgres:///outpost?host=/run/postgresql"),
            ("postgres:///outpost?host=/run/postgresql".to_owned(), None)
        );
        assert_eq!(
            split_password("host='/tmp/x y' user=outpost password = 'it\\'s secret' dbname=outpost"),
            ("host='/tmp/x y' user='outpost' dbname='outpost'".to_owned(), Some("it's secret".to_owned()))
        );
        assert_eq!(
            split_password("host=/run/postgresql dbname=outpost"),
            ("host='/run/postgresql' dbname='outpost'".to_owned(), None)
        );
    }

    #[test]
    fn the_passfile_is_the_owners_alone_escapes_colons_and_goes_away() {
        let file = Passfile::write("a:b\\c").unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file.0).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&file.0).unwrap(), "*:*:*:*:a\\:b\\\\c\n");
        let path = file.0.clone();
        drop(file);
        assert!(!path.exists());
    }
}
