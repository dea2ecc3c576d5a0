//! The machine being installed on: every change the installer makes goes through `Host::change`,
//! so that `--dry-run` prints the same plan and changes nothing, and every command it runs
//! through `Host::run`, so that a failure quotes what the command said.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::unistd::{chown, Gid, Group, Uid, User};

/// The system user and group the service runs as.
pub const SERVICE_USER: &str = "outpost";

pub struct Host {
    pub dry_run: bool,
    /// Changes made so far: anything changed means the service restarts on the new state.
    changes: std::cell::Cell<u32>,
}

/// Who owns a file or folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    pub const ROOT: Owner = Owner { uid: 0, gid: 0 };
}

impl Host {
    pub fn new(dry_run: bool) -> Host {
        Host { dry_run, changes: std::cell::Cell::new(0) }
    }

    /// Whether anything was changed since this host was made.
    pub fn changed_anything(&self) -> bool {
        self.changes.get() > 0
    }

    /// Makes a change, or in a dry run says it would.
    pub fn change(&self, what: &str, action: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
        if self.dry_run {
            println!("      would {what}");
            return Ok(());
        }
        action()?;
        self.changes.set(self.changes.get() + 1);
        println!("      {what}: done");
        Ok(())
    }

    /// For a change that only running it can tell is needed (pending migrations, an account
    /// that may exist): `action` says whether it changed anything.
    /// `what` is the change ("apply pending migrations"), `state` how things stand when none
    /// was needed ("database schema up to date").
    pub fn converge(
        &self,
        what: &str,
        state: &str,
        action: impl FnOnce() -> Result<bool, String>,
    ) -> Result<(), String> {
        if self.dry_run {
            println!("      would {what}");
            return Ok(());
        }
        match action()? {
            true => {
                self.changes.set(self.changes.get() + 1);
                println!("      {what}: done");
            }
            false => self.kept(state),
        }
        Ok(())
    }

    /// Something already as it should be.
    pub fn kept(&self, what: &str) {
        println!("      {what}: already so");
    }

    /// Runs a command to completion and returns its standard output; a failure is a sentence
    /// with the command and the last lines it wrote.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<String, String> {
        run(Command::new(program).args(args), None)
    }

    /// As `run`, as another user (the service user for its own database, say), with `input`
    /// on standard input.
    pub fn run_as(&self, user: &str, program: &str, args: &[&str], input: Option<&str>) -> Result<String, String> {
        let account = account(user)?;
        let mut command = Command::new(program);
        command.args(args).uid(account.uid).gid(account.gid).current_dir("/");
        command.env("HOME", &account.home).env("USER", user).env("LOGNAME", user);
        run(&mut command, input)
    }
}

fn run(command: &mut Command, input: Option<&str>) -> Result<String, String> {
    let shown = format!("{} {}", command.get_program().to_string_lossy(), {
        let args: Vec<String> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        args.join(" ")
    });
    let mut child = command
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("Cannot run `{shown}`: {e}."))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes()).map_err(|e| format!("Cannot write to `{shown}`: {e}."))?;
    }
    let output = child.wait_with_output().map_err(|e| format!("`{shown}` did not finish: {e}."))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let tail: Vec<&str> = said.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
    Err(format!("`{shown}` failed ({}):\n{}", output.status, tail.join("\n")))
}

pub struct Account {
    pub uid: u32,
    pub gid: u32,
    pub home: std::path::PathBuf,
}

/// A user who must exist.
pub fn account(user: &str) -> Result<Account, String> {
    let found = User::from_name(user)
        .map_err(|e| format!("Cannot look up user {user}: {e}."))?
        .ok_or_else(|| format!("There is no user {user} on this machine."))?;
    Ok(Account { uid: found.uid.as_raw(), gid: found.gid.as_raw(), home: found.dir })
}

pub fn user_exists(user: &str) -> bool {
    matches!(User::from_name(user), Ok(Some(_)))
}

pub fn group_id(group: &str) -> Result<u32, String> {
    Group::from_name(group)
        .map_err(|e| format!("Cannot look up group {group}: {e}."))?
        .map(|g| g.gid.as_raw())
        .ok_or_else(|| format!("There is no group {group} on this machine."))
}

pub fn is_root() -> bool {
    Uid::effective().is_root()
}

/// Is `path` a folder with exactly this owner and mode?
pub fn folder_is(path: &Path, owner: Owner, mode: u32) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_dir() && m.uid() == owner.uid && m.gid() == owner.gid && m.mode() & 0o7777 == mode)
        .unwrap_or(false)
}

/// Makes `path` (and missing parents) a folder with this owner and mode.
pub fn make_folder(path: &Path, owner: Owner, mode: u32) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|e| format!("Cannot create {}: {e}.", path.display()))?;
    set_owner_and_mode(path, owner, mode)
}

pub fn set_owner_and_mode(path: &Path, owner: Owner, mode: u32) -> Result<(), String> {
    chown(path, Some(Uid::from_raw(owner.uid)), Some(Gid::from_raw(owner.gid)))
        .map_err(|e| format!("Cannot give {} to uid {} gid {}: {e}.", path.display(), owner.uid, owner.gid))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("Cannot set the mode of {}: {e}.", path.display()))
}

/// Writes `contents` to `path` so that a reader sees the old file or the whole new one, never
/// part: a temporary file beside it with the final owner and mode, synced, then renamed over.
pub fn write_atomically(path: &Path, contents: &[u8], owner: Owner, mode: u32) -> Result<(), String> {
    let folder = path.parent().ok_or_else(|| format!("{} has no folder.", path.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(|e| format!("Cannot create {}: {e}.", temporary.display()))?;
        file.write_all(contents).map_err(|e| format!("Cannot write {}: {e}.", temporary.display()))?;
        set_owner_and_mode(&temporary, owner, mode)?;
        file.sync_all().map_err(|e| format!("Cannot sync {}: {e}.", temporary.display()))?;
        std::fs::rename(&temporary, path).map_err(|e| format!("Cannot put {} in place: {e}.", path.display()))?;
        std::fs::File::open(folder)
            .and_then(|f| f.sync_all())
            .map_err(|e| format!("Cannot sync {}: {e}.", folder.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_whole_file_with_its_owner_and_mode_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("outpost-installer-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("outpost.toml");
        std::fs::write(&path, "old").unwrap();
        let me = Owner { uid: Uid::effective().as_raw(), gid: Gid::effective().as_raw() };
        write_atomically(&path, b"new", me, 0o640).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_command_is_quoted_with_what_it_said() {
        let host = Host::new(false);
        let error = host.run("sh", &["-c", "echo the reason >&2; exit 3"]).unwrap_err();
        assert!(error.contains("`sh -c"), "{error}");
        assert!(error.contains("the reason"), "{error}");
        assert_eq!(host.run("sh", &["-c", "echo fine"]).unwrap(), "fine\n");
    }

    #[test]
    fn a_dry_run_does_not_make_the_change() {
        let host = Host::new(true);
        let mut made = false;
        host.change("make a thing", || {
            made = true;
            Ok(())
        })
        .unwrap();
        assert!(!made);
    }
}
