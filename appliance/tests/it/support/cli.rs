//! The `outpost` command run as an administrator runs it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `outpost ARGS`, with `stdin` as its standard input, outside any OUTPOST_CONFIG.
pub fn outpost(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(args)
        .env_remove("OUTPOST_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// What a command printed, standard output then standard error.
pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}
