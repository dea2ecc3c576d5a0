//! The interactive installer: asks only what it cannot decide, each question with the answer
//! it takes on Enter, and builds the same `Answers` an answers file gives.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use crate::answers::{self, Admin, Answers, Database, Keys, License, Server, Tls};

pub fn ask(input: &mut impl BufRead) -> Result<Answers, String> {
    println!("Outpost installer. Press Enter to take the answer in [brackets].\n");
    let default_host = nix::unistd::gethostname().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let hostname = question(input, "Host name people will use", &default_host, |a| {
        answers::valid_hostname(a).then_some(()).ok_or("that is not a host name (like outpost.example.com)")
    })?;
    let port = question(input, "HTTPS port", "443", |a| {
        a.parse::<u16>().ok().filter(|p| *p > 0).map(|_| ()).ok_or("a port is 1 to 65535")
    })?;
    let database = match question(
        input,
        "PostgreSQL: local (installed here) or external",
        "local",
        one_of(&["local", "external"]),
    )?
    .as_str()
    {
        "external" => Database::External {
            url: question(input, "Database URL", "postgres://outpost@db.example.com/outpost", non_empty)?,
            ca_file: optional_path(question(input, "CA file of the database server (empty for none)", "", |_| Ok(()))?),
        },
        _ => Database::Local,
    };
    let license_file = question(input, "License file (empty for evaluation mode)", "", |a| {
        (a.is_empty() || std::path::Path::new(a).is_file()).then_some(()).ok_or("no such file")
    })?;
    let license = match optional_path(license_file) {
        Some(file) => License { file: Some(file), evaluation: false },
        None => {
            let sure = question(
                input,
                "Install in evaluation mode (25 people, until a license is installed)? yes/no",
                "yes",
                one_of(&["yes", "no"]),
            )?;
            if sure != "yes" {
                return Err("Stopped: no license file and no evaluation mode. Run the installer again with the license file at hand.".to_owned());
            }
            License { file: None, evaluation: true }
        }
    };
    let keys = match question(
        input,
        "Customer-managed key: file, pkcs11 or command",
        "file",
        one_of(&["file", "pkcs11", "command"]),
    )?
    .as_str()
    {
        "pkcs11" => Keys::Pkcs11 {
            module: PathBuf::from(question(input, "PKCS#11 module", "/usr/lib/softhsm/libsofthsm2.so", non_empty)?),
            token: question(input, "Token label", "outpost", non_empty)?,
            pin_file: PathBuf::from(question(input, "File holding the user PIN", "/etc/outpost/hsm-pin", non_empty)?),
            key: question(input, "AES key label", "outpost-kek", non_empty)?,
        },
        "command" => Keys::Command {
            command: PathBuf::from(question(
                input,
                "Program (run as PROGRAM wrap|unwrap)",
                "/usr/local/bin/outpost-kms",
                non_empty,
            )?),
            key_id: question(input, "Key id to record", "kms-1", non_empty)?,
        },
        _ => Keys::File {
            file: PathBuf::from(question(input, "Key file (made when missing)", "/etc/outpost/kek", non_empty)?),
        },
    };
    let certificate =
        optional_path(question(input, "TLS certificate file (empty for a self-signed one)", "", |_| Ok(()))?);
    let private_key = match certificate {
        Some(_) => optional_path(question(input, "Its private key file", "", non_empty)?),
        None => None,
    };
    let username = question(input, "First administrator's user name", "admin", |a| {
        answers::valid_username(a).then_some(()).ok_or("letters, digits, dots, hyphens and underscores")
    })?;
    let email = question(input, "Their email address", &format!("{username}@{hostname}"), |a| {
        a.contains('@').then_some(()).ok_or("that is not an email address")
    })?;
    let answers = Answers {
        server: Server { hostname, port: port.parse().unwrap_or(443), redirect_port: 80, listen: "0.0.0.0".to_owned() },
        database,
        license,
        keys,
        tls: Tls { certificate, private_key },
        admin: Admin { username, email, password_file: None },
    };
    answers.check().map_err(|problems| problems.join("\n"))?;
    Ok(answers)
}

fn non_empty(answer: &str) -> Result<(), &'static str> {
    (!answer.is_empty()).then_some(()).ok_or("an answer is needed")
}

fn one_of(choices: &'static [&'static str]) -> impl Fn(&str) -> Result<(), &'static str> {
    move |answer| choices.contains(&answer).then_some(()).ok_or("choose one of the words shown")
}

fn optional_path(answer: String) -> Option<PathBuf> {
    (!answer.is_empty()).then(|| PathBuf::from(answer))
}

/// Asks until the answer passes `rule`; Enter takes `default`.
fn question(
    input: &mut impl BufRead,
    prompt: &str,
    default: &str,
    rule: impl Fn(&str) -> Result<(), &'static str>,
) -> Result<String, String> {
    loop {
        if default.is_empty() {
            print!("{prompt}: ");
        } else {
            print!("{prompt} [{default}]: ");
        }
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let read = input.read_line(&mut line).map_err(|e| format!("Cannot read the answer: {e}."))?;
        if read == 0 {
            return Err("Standard input ended before every question was answered; nothing was changed.".to_owned());
        }
        let answer = match line.trim() {
            "" => default.to_owned(),
            given => given.to_owned(),
        };
        match rule(&answer) {
            Ok(()) => return Ok(answer),
            Err(why) => println!("  {why}."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enter_takes_the_defaults_and_a_wrong_answer_is_asked_again() {
        let typed = "outpost.example.org\n0\n8443\n\n\nmaybe\nyes\n\n\n\n\nops@example.org\n";
        let answers = ask(&mut std::io::Cursor::new(typed)).unwrap();
        assert_eq!(answers.server.hostname, "outpost.example.org");
        assert_eq!(answers.server.port, 8443);
        assert_eq!(answers.database, Database::Local);
        assert!(answers.license.evaluation);
        assert_eq!(answers.keys, Keys::File { file: PathBuf::from("/etc/outpost/kek") });
        assert_eq!((answers.admin.username.as_str(), answers.admin.email.as_str()), ("admin", "ops@example.org"));
    }

    #[test]
    fn input_that_ends_early_stops_with_a_sentence() {
        let error = ask(&mut std::io::Cursor::new("outpost.example.org\n")).unwrap_err();
        assert!(error.contains("nothing was changed"), "{error}");
    }
}
