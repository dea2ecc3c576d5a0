//! Manual pages and shell completions from the clap definitions, so that they never drift from
//! the programs: `outpost dev manuals DIR` and `outpost-installer manuals DIR` write them for
//! the packages (`DIR/man1/*.1`, `DIR/completions/{bash,zsh,fish}/…`).

use std::path::Path;

/// Writes a page for the program and one per subcommand (`outpost-backup-create.1`, …), and
/// its completions for bash, zsh and fish.
pub fn write(dir: &Path, command: clap::Command) -> Result<(), String> {
    let command = command.version(env!("CARGO_PKG_VERSION"));
    let man = dir.join("man1");
    std::fs::create_dir_all(&man).map_err(|e| format!("cannot create {}: {e}", man.display()))?;
    clap_mangen::generate_to(command.clone(), &man).map_err(|e| format!("cannot write the manual pages: {e}"))?;
    let name = command.get_name().to_owned();
    for (shell, folder) in
        [(clap_complete::Shell::Bash, "bash"), (clap_complete::Shell::Zsh, "zsh"), (clap_complete::Shell::Fish, "fish")]
    {
        let target = dir.join("completions").join(folder);
        std::fs::create_dir_all(&target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
        clap_complete::generate_to(shell, &mut command.clone(), &name, &target)
            .map_err(|e| format!("cannot write the {folder} completions: {e}"))?;
    }
    Ok(())
}
