//! Running pysnc (PyPI, unchanged) scripts against an emulator over TLS: the virtualenv's Python,
//! the emulator's CA trusted as a user would trust it, and the script's verdict.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use snowbridge::emulator::Emulator;

/// The repository root and the virtualenv's Python, which must exist.
pub fn venv_python() -> (&'static Path, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "this test needs pysnc and requests-oauthlib in a virtualenv at {}: run scripts/setup.sh",
        python.display()
    );
    (root, python)
}

/// Runs `tests/<script>` with the emulator's URL and CA, then `args`; fails the test (showing
/// what the script printed) unless it exits 0 and prints `passed`. Returns its stdout.
pub fn run(emu: &Emulator, script: &str, args: &[&str], passed: &str) -> String {
    let (root, python) = venv_python();
    let ca = emu
        .ca_pem_path()
        .expect("pysnc talks to the emulator over TLS");
    let output = Command::new(&python)
        .arg(root.join("tests").join(script))
        .arg(emu.url().as_str())
        .arg(ca)
        .args(args)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} {args:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains(passed), "{stdout}\n{stderr}");
    stdout
}
