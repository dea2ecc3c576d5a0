//! `outpost-installer`: from a machine (or a mounted ISO) to a running, secured Outpost.

mod answers;
mod host;
mod install;
mod interview;
mod lifecycle;
mod media;
mod postgres;
mod preflight;
mod probe;
mod service;
mod settings;
mod trust;
mod upgrade;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use answers::Answers;
use service::Manager;

#[derive(Parser)]
#[command(name = "outpost-installer", version, about = "Install, check and remove Outpost on this machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Where {
    /// For machines without systemd (containers, chroots): start `outpost serve` in the
    /// background instead of enabling outpost.service.
    #[arg(long)]
    no_systemd: bool,
    /// The `outpost` program.
    #[arg(long, default_value = "/usr/bin/outpost", hide = true)]
    outpost: PathBuf,
}

impl Where {
    fn manager(&self) -> Manager {
        if self.no_systemd {
            Manager::Background
        } else {
            Manager::Systemd
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Install or converge: preflight, packages, PostgreSQL, user and folders, license, key,
    /// certificate, configuration, schema, first administrator, service. Asks what it cannot
    /// decide, unless --answers gives it; safe to run again.
    Install {
        /// Unattended: every answer from this file (see answers.example.toml).
        #[arg(long, value_name = "FILE")]
        answers: Option<PathBuf>,
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The installer medium (the mounted ISO): its signature is checked, then its packages
        /// and offline repository are used.
        #[arg(long, value_name = "DIR")]
        media: Option<PathBuf>,
        #[command(flatten)]
        place: Where,
    },
    /// Upgrade to the release in PACKAGE (a .deb or .rpm with its .sig beside it) or on an
    /// ISO (the .iso file, or the folder it is mounted on): backup, stop, install, migrate, start, health check;
    /// on failure the previous package and the database are put back automatically.
    Upgrade {
        source: PathBuf,
        #[command(flatten)]
        place: Where,
    },
    /// Only the preflight checks; changes nothing.
    Preflight {
        #[arg(long, value_name = "FILE")]
        answers: PathBuf,
        #[command(flatten)]
        place: Where,
    },
    /// Versions, service state, health and license.
    Status {
        #[command(flatten)]
        place: Where,
    },
    /// Stop the service and remove the package; the configuration, keys and data stay unless
    /// --purge (which asks for the host name to confirm, or takes --yes).
    Uninstall {
        /// Also delete /etc/outpost, /var/lib/outpost, the database and the system user.
        #[arg(long)]
        purge: bool,
        /// Do not ask before purging.
        #[arg(long, requires = "purge")]
        yes: bool,
        #[command(flatten)]
        place: Where,
    },
    /// Write the manual pages and shell completions into DIR (for the packages).
    #[command(hide = true)]
    Manuals { dir: PathBuf },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("outpost-installer: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Install { answers, dry_run, media, place } => {
            let answers = match answers {
                Some(file) => Answers::load(&file).map_err(|problems| problems.join("\n"))?,
                None if std::io::stdin().is_terminal() => interview::ask(&mut std::io::stdin().lock())?,
                None => {
                    return Err("No --answers file, and standard input is not a terminal to ask on: give --answers FILE (see /usr/share/doc/outpost/answers.example.toml).".to_owned())
                }
            };
            install::run(&install::Options {
                answers,
                dry_run,
                manager: place.manager(),
                media,
                outpost: place.outpost,
            })
        }
        Command::Preflight { answers, place } => {
            let answers = Answers::load(&answers).map_err(|problems| problems.join("\n"))?;
            let checks = preflight::run(&preflight::Options { answers: &answers, systemd: !place.no_systemd });
            let failed = checks.iter().filter(|check| check.outcome.is_err()).count();
            for check in checks {
                match check.outcome {
                    Ok(found) => println!("ok    {}: {found}", check.name),
                    Err(fix) => println!("FAIL  {}: {fix}", check.name),
                }
            }
            match failed {
                0 => Ok(()),
                n => Err(format!("{n} check(s) failed.")),
            }
        }
        Command::Upgrade { source, place } => {
            upgrade::run(&upgrade::Options { source, manager: place.manager(), outpost: place.outpost })
        }
        Command::Status { place } => lifecycle::status(place.manager(), &place.outpost),
        Command::Uninstall { purge, yes, place } => lifecycle::uninstall(place.manager(), purge, yes),
        Command::Manuals { dir } => outpost::manuals::write(&dir, Cli::command()),
    }
}
